"""Retrieval over real indexes: fusion, document-aware ranking, Korean, re-ranker hook, refusals."""

from __future__ import annotations

import pytest

from harness.config import ChunkConfig, IndexConfig, RetrievalConfig
from harness.errors import HarnessError
from retrieval.index import build_index, load_index
from retrieval.search import Retriever, document_aliases, mentioned_documents, reranker_registry
from retrieval.sparse import tokenize
from tests.conftest import REPO

DOCS = [{"document_id": "sfip_dwelling", "title": "Dwelling Form"},
        {"document_id": "sfip_general_property", "title": "General Property Form"},
        {"document_id": "sfip_rcbap", "title": "Residential Condominium Building Association Policy"}]


def test_document_aliases_and_mentions():
    aliases = document_aliases(DOCS)
    assert aliases["sfip_rcbap"] == ["Residential Condominium Building Association Policy",
                                     "Residential Condominium Building Association", "RCBAP"]
    assert aliases["sfip_general_property"] == ["General Property Form", "General Property"]
    assert aliases["sfip_dwelling"] == ["Dwelling Form"]  # "Dwelling" alone is too common a word
    assert mentioned_documents("Under the general property form, how long?", aliases) == {"sfip_general_property"}
    assert mentioned_documents("Does the RCBAP pay?", aliases) == {"sfip_rcbap"}
    assert mentioned_documents("Does the rcbap pay?", aliases) == set()  # acronyms are case-sensitive
    assert mentioned_documents("A single-family dwelling under the Dwelling Form and the RCBAP", aliases) == {
        "sfip_dwelling", "sfip_rcbap"}
    assert mentioned_documents("How long is the waiting period?", aliases) == set()


def test_bm25_tokenizer_handles_korean_endings():
    assert tokenize("Proof of LOSS, 60 days") == ["proof", "of", "loss", "60", "days"]
    # "보험금은" and "보험금을" share the bigrams of "보험금".
    assert {"보험", "험금"} <= set(tokenize("보험금은")) & set(tokenize("보험금을"))


@pytest.fixture(scope="module")
def retriever(sfip_index):
    return Retriever(load_index(sfip_index))


def _modes(retriever, **changes):
    return Retriever(retriever.index, RetrievalConfig(**changes), embedder=retriever.embedder)


def test_hybrid_fuses_dense_and_bm25_by_reciprocal_rank(retriever):
    q = ["How many days after the loss must the proof of loss be sent?"]
    dense = _modes(retriever, mode="dense", doc_aware=False).search(q, 20)[0]
    bm25 = _modes(retriever, mode="bm25", doc_aware=False).search(q, 20)[0]
    hybrid = _modes(retriever, mode="hybrid", doc_aware=False, rrf_k=60).search(q, 5)[0]
    d_rank = {h.chunk.chunk_id: h.rank for h in dense}
    b_rank = {h.chunk.chunk_id: h.rank for h in bm25}
    for h in hybrid:
        expected = sum(1 / (60 + r[h.chunk.chunk_id]) for r in (d_rank, b_rank) if h.chunk.chunk_id in r)
        assert h.score == pytest.approx(expected)
        assert h.sources == {name: r[h.chunk.chunk_id] for name, r in (("dense", d_rank), ("bm25", b_rank))
                             if h.chunk.chunk_id in r}
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    assert [h.rank for h in hybrid] == [1, 2, 3, 4, 5]


def test_document_aware_ranking_prefers_the_named_form(retriever):
    q = ["Under the General Property Form, how long do I have to sue after a denial?"]
    aware = _modes(retriever, doc_aware=True).search(q, 5)[0]
    assert {h.chunk.document_id for h in aware} == {"sfip_general_property"}
    assert "Suit Against Us" in aware[0].chunk.metadata["breadcrumbs"] or "one year" in aware[0].chunk.text
    plain = _modes(retriever, doc_aware=False).search(q, 5)[0]
    assert {h.chunk.document_id for h in plain} != {"sfip_general_property"}  # the forms are near-duplicates


def test_reranker_hook_reorders_the_head(retriever):
    if "reverse" not in reranker_registry:
        reranker_registry.register("reverse", lambda arg: (lambda question, hits: list(reversed(hits))))
    q = ["What is the special limit for jewelry?"]
    base = _modes(retriever, doc_aware=False, rerank_depth=3).search(q, 5)[0]
    reranked = _modes(retriever, doc_aware=False, reranker="reverse:", rerank_depth=3).search(q, 5)[0]
    assert [h.chunk.chunk_id for h in reranked[:3]] == [h.chunk.chunk_id for h in base[:3]][::-1]
    assert [h.chunk.chunk_id for h in reranked[3:]] == [h.chunk.chunk_id for h in base[3:]]
    with pytest.raises(HarnessError, match="unknown reranker 'nope'"):
        _modes(retriever, reranker="nope:x")


def test_index_built_with_another_embedder_is_refused(sfip_index):
    with pytest.raises(HarnessError, match="was built with embedder 'all-minilm-l6-v2', not 'e5-large'"):
        Retriever.load(sfip_index, expected_embedder="e5-large")


@pytest.fixture(scope="module")
def korean_index(tmp_path_factory):
    """The Korean clauses, indexed with the shipped defaults (ko=multilingual-e5-small)."""
    out = tmp_path_factory.mktemp("ko") / "sfip_ko"
    build_index(IndexConfig(corpus=(str(REPO / "eval_sets" / "corpora" / "sfip_ko"),), out=str(out)))
    return out


def test_korean_query_finds_its_clause(korean_index):
    retriever = Retriever.load(korean_index)
    hits = retriever.search(["손해증명서는 손해 발생일부터 며칠 이내에 제출해야 합니까?"], 3)[0]
    assert "60일 이내에 손해증명서" in hits[0].chunk.text
    assert "제10조" in hits[0].chunk.metadata["breadcrumbs"]
    # all-MiniLM reads English only: Korean questions are ranked by the Korean embedder's own
    # vectors (index.ko.faiss) fused with BM25 over morphemes and bigrams.
    manifest = retriever.index.manifest
    assert manifest["embedder"]["languages"] == ["en"]
    assert manifest["language_embedders"]["ko"]["name"] == "multilingual-e5-small"
    assert {"dense", "bm25"} <= set(hits[0].sources)
    hits = retriever.search(["지진으로 생긴 손해도 보상합니까?"], 3)[0]
    assert "지반 이동" in hits[0].chunk.text


def test_korean_query_found_by_meaning_without_a_shared_word(korean_index):
    """"My house was flooded; by when must I hand in the papers?" shares no word (nor any
    character pair) with the proof-of-loss clauses ("손해증명서 ... 제출"): only the dense path
    can find them."""
    query = "집이 물에 잠겼는데 서류는 언제까지 내야 하죠?"
    dense = Retriever(load_index(korean_index), RetrievalConfig(mode="dense", doc_aware=False)).search([query], 3)[0]
    found = [h for h in dense if "손해증명서" in h.chunk.text and not set(tokenize(query)) & set(tokenize(h.chunk.text))]
    assert found and found[0].rank <= 2
    # The same index without the Korean embedder: BM25 alone never reaches these clauses' top.
    bm25 = Retriever(load_index(korean_index), RetrievalConfig(mode="bm25", doc_aware=False)).search([query], 3)[0]
    assert not any("손해증명서" in h.chunk.text and h.rank == 1 for h in bm25)


def test_index_built_with_another_language_embedder_is_refused(korean_index, tmp_path):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(korean_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["language_embedders"]["ko"]["fingerprint"] = "sha256:0000"
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    retriever = Retriever.load(copy)
    retriever.search(["What is covered?"], 1)  # English questions never touch the Korean vectors
    with pytest.raises(HarnessError, match="resolves to different weights"):
        retriever.search(["무엇을 보상합니까?"], 1)
    (copy / "index.ko.faiss").unlink()
    with pytest.raises(HarnessError, match="index.ko.faiss is missing; rebuild"):  # caught by the integrity check
        load_index(copy)


def test_query_language():
    from retrieval.search import query_language

    assert query_language("손해증명서는 언제까지 제출합니까?") == "ko"
    assert query_language("What does RCBAP mean?") == "en"
    assert query_language("RCBAP의 공동보험 비율은?") == "ko"
    assert query_language("1234 ???") == "en"


@pytest.mark.parametrize("kind, params", [("hnsw", {"m": 16, "ef_construction": 40, "ef_search": 32}),
                                          ("ivf", {"nlist": 0, "nprobe": 4})])
def test_approximate_indexes_record_their_parameters(tmp_path, kind, params):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"{i}. Clause number {i} covers item {i} of the flood policy." for i in range(1, 200)),
                      encoding="utf-8")
    kwargs = {"hnsw": dict(hnsw_m=16, hnsw_ef_construction=40, hnsw_ef_search=32), "ivf": dict(ivf_nprobe=4)}[kind]
    out = tmp_path / kind
    build_index(IndexConfig(corpus=(str(corpus),), out=str(out), dense_index=kind,
                            chunking=ChunkConfig(max_tokens=32, min_tokens=0, overlap_tokens=0), **kwargs))
    index = load_index(out)
    dense = index.manifest["dense"]
    assert dense["type"] == kind and dense["metric"] == "inner_product"
    for key, value in params.items():
        assert key in dense and (value == 0 or dense[key] == value)
    if kind == "ivf":
        assert dense["nlist"] >= 1
    hits = Retriever(index, RetrievalConfig(mode="dense", doc_aware=False)).search(["Clause number 150 covers item 150"], 3)[0]
    assert len(hits) == 3


def _keys_corpus(tmp_path):
    """Three clauses in separate paragraphs, and an eval set about the first one."""
    import json

    text = ("A. Proof of loss. You must send us a proof of loss within 60 days after the loss.\n\n"
            "B. Mold. We do not cover mold, mildew or moisture damage that you could have avoided.\n\n"
            "C. Deductible. The deductible applies separately to each occurrence of flood.\n")
    corpus = tmp_path / "policy.txt"
    corpus.write_text(text, encoding="utf-8")
    start = text.index("You must send")
    end = text.index("\n\n")

    def item(id_, question, split):
        return {"id": id_, "question": question, "answerable": True, "gold_answer": "Within 60 days.",
                "evidence": [{"document_id": "policy", "start": start, "end": end}], "category": "deadline",
                "split": split, "language": "en"}

    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in [
        item("t1", "My cellar flooded; how late can my paperwork arrive?", "train"),
        item("d1", "Cellar flooded, paperwork late: until when?", "dev")]) + "\n", encoding="utf-8")
    return corpus, questions


def test_question_keys_find_a_clause_through_questions_asked_about_it(tmp_path):
    corpus, questions = _keys_corpus(tmp_path)
    out = tmp_path / "index"
    build_index(IndexConfig(corpus=(str(corpus),), out=str(out), language_embedders=(), question_keys=(str(questions),),
                            chunking=ChunkConfig(max_tokens=40, min_tokens=0, overlap_tokens=0)))
    index = load_index(out)
    # Only the train split becomes keys: the dev question is never its own answer key.
    assert [k["id"] for k in index.keys] == ["t1"]
    assert "Proof of loss" in index.chunks[index.keys[0]["chunk"]].text
    assert index.manifest["question_keys"]["split"] == "train" and index.manifest["question_keys"]["n_keys"] == 1
    query = ["cellar paperwork late"]  # no word in common with the clause, three with the key
    plain = Retriever(index, RetrievalConfig(mode="bm25", doc_aware=False, question_keys=False)).search(query, 3)[0]
    assert plain == []
    keyed = Retriever(index, RetrievalConfig(mode="bm25", doc_aware=False)).search(query, 3)[0]
    assert "Proof of loss" in keyed[0].chunk.text and keyed[0].sources == {"bm25": 1, "bm25-keys": 1}
    hybrid = Retriever(index, RetrievalConfig(doc_aware=False)).search(query, 3)[0]
    assert "Proof of loss" in hybrid[0].chunk.text and {"dense-keys", "bm25-keys"} <= set(hybrid[0].sources)
    from harness.eval_set import load_eval_set

    assert Retriever(index).keyed(load_eval_set(questions)) == ["t1"]
    assert Retriever(index, RetrievalConfig(question_keys=False)).keyed(load_eval_set(questions)) == []


def test_question_keys_that_miss_the_corpus_are_refused(tmp_path):
    corpus, questions = _keys_corpus(tmp_path)
    other = tmp_path / "other.txt"
    other.write_text("Z. Nothing about deadlines here at all.\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="no answerable 'train' question has evidence in this corpus"):
        build_index(IndexConfig(corpus=(str(other),), out=str(tmp_path / "i"), language_embedders=(),
                                question_keys=(str(questions),)))

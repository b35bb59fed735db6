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


def test_korean_query_finds_its_clause(tmp_path):
    out = tmp_path / "ko"
    build_index(IndexConfig(corpus=(str(REPO / "eval_sets" / "corpora" / "sfip_ko"),), out=str(out)))
    retriever = Retriever.load(out)
    hits = retriever.search(["손해증명서는 손해 발생일부터 며칠 이내에 제출해야 합니까?"], 3)[0]
    assert "60일 이내에 손해증명서" in hits[0].chunk.text
    assert hits[0].chunk.metadata["breadcrumbs"].endswith("제10조(손해 발생 시 보험계약자의 의무)") or \
        "제10조" in hits[0].chunk.metadata["breadcrumbs"]
    # The bundled embedder reads English only, so Korean questions are ranked by BM25 alone.
    assert retriever.index.manifest["embedder"]["languages"] == ["en"]
    assert all(set(h.sources) == {"bm25"} for h in hits)
    hits = retriever.search(["지진으로 생긴 손해도 보상합니까?"], 3)[0]
    assert "지반 이동" in hits[0].chunk.text


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

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.config import ChunkConfig
from harness.errors import HarnessError
from retrieval.chunking import (approx_tokens, chunk_corpus, chunk_document, clause_marker, embed_text,
                                read_document, split_blocks)
from tests.conftest import CORPUS_DIR, FORMS


def _check_invariants(text: str, chunks, config: ChunkConfig, count=approx_tokens) -> None:
    """Exact slices, within budget, in order, overlapping only inside one paragraph, covering
    every non-blank character."""
    for c in chunks:
        assert c.text == text[c.start:c.end]
        assert c.text.strip() == c.text and c.text
        assert count(c.text) <= config.max_tokens
    for a, b in zip(chunks, chunks[1:]):
        assert b.start > a.start
        if b.start < a.end:  # overlap: only between pieces of one long paragraph
            shared = text[b.start:a.end]
            assert "\n\n" not in shared and count(shared) <= config.max_tokens // 2
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start:c.end] = [True] * (c.end - c.start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


@pytest.mark.parametrize("form", FORMS)
def test_every_chunk_of_the_three_forms_is_an_exact_slice(form):
    source = read_document(CORPUS_DIR / f"{form}.txt")
    config = ChunkConfig()
    chunks = chunk_document(source, form, config)
    assert len(chunks) > 50
    assert {c.document_id for c in chunks} == {form}
    _check_invariants(source, chunks, config)


def test_breadcrumbs_follow_the_policy_structure():
    source = read_document(CORPUS_DIR / "sfip_dwelling.txt")
    assert {c.metadata["title"] for c in chunk_document(source, "sfip_dwelling")} == {"Dwelling Form"}
    small = chunk_document(source, "sfip_dwelling", ChunkConfig(max_tokens=64, min_tokens=0, overlap_tokens=0))

    def crumbs_of(prefix: str) -> str:
        return next(c.metadata["breadcrumbs"] for c in small if c.text.startswith(prefix))

    assert crumbs_of("C. We do not insure for loss to property") == "Dwelling Form > V. Exclusions > C."
    # "I." inside article VII is lettered section I, not article I.
    assert crumbs_of("## I. No Benefit to Bailee") == "Dwelling Form > VII. General Conditions > I. No Benefit to Bailee"
    assert crumbs_of("a. Any of the following items, if installed").startswith(
        "Dwelling Form > III. Property Insured > A. Coverage A—Building Property > 8. > a.")
    earth = next(c for c in small if c.text.startswith("C. We do not insure for loss to property"))
    assert embed_text(earth, ChunkConfig()).startswith("Dwelling Form > V. Exclusions > C.\nC. We do not insure")
    assert embed_text(earth, ChunkConfig(context_header=False)) == earth.text


def test_no_chunk_spans_two_articles():
    source = read_document(CORPUS_DIR / "sfip_rcbap.txt")
    articles = [b for b in split_blocks(source) if b.level == 1]
    starts = [b.start for b in articles]
    for c in chunk_document(source, "sfip_rcbap"):
        assert not any(c.start < s < c.end for s in starts), c.metadata["breadcrumbs"]


def test_rcbap_has_eleven_articles():
    blocks = split_blocks(read_document(CORPUS_DIR / "sfip_rcbap.txt"))
    articles = [b.heading for b in blocks if b.level == 1]
    assert articles[0] == "I. Agreement" and articles[6] == "VII. Coinsurance" and articles[-1] == "XI. What Law Governs"
    assert len(articles) == 11


@pytest.mark.parametrize("line, expected", [
    ("C. We do not insure", ("C.", 2)), ("12. Fences, retaining walls", ("12.", 3)), ("a. Overflow", ("a.", 4)),
    ("(3) Drywall", ("(3)", 5)), ("(ii) Fill", ("(ii)", 6)), ("① 이 약관에서", ("①", 2)), ("가. 내륙 수역", ("가.", 4)),
    ("We will pay", None), ("U.S. Postal Service", None),
])
def test_clause_markers(line, expected):
    assert clause_marker(line) == expected


KOREAN = ("보험약관\n\n제1조(목적)\n이 약관은 홍수 손해를 보상합니다.\n\n"
          "제2조(용어의 정의)\n① 홍수란 평상시 마른 땅이 물에 잠기는 것을 말합니다.\n② 건물이란 주택을 말합니다.\n"
          "1. 주택은 4세대 이하의 건물입니다.\n2. 창고는 건물이 아닙니다.\n\n"
          "제3조(보상하지 않는 손해)\n① 회사는 지진으로 생긴 손해를 보상하지 않습니다.\n")


def test_korean_text_is_cut_on_article_and_paragraph_boundaries():
    config = ChunkConfig(max_tokens=20, min_tokens=0, overlap_tokens=0)
    chunks = chunk_document(KOREAN, "ko", config)
    _check_invariants(KOREAN, chunks, config)
    block_starts = {b.start for b in split_blocks(KOREAN)}
    assert all(c.start in block_starts for c in chunks)  # every chunk begins at a heading or a ①/1. line
    crumbs = [c.metadata["breadcrumbs"] for c in chunks]
    assert crumbs[0] == "보험약관"
    assert any(c.startswith("보험약관 > 제2조(용어의 정의) > ②") for c in crumbs)
    assert any(c.text.startswith("제3조(보상하지 않는 손해)") for c in chunks)
    assert not any("제2조" in c.text and "제3조" in c.text for c in chunks)


def test_chunk_ids_are_stable_and_depend_on_offsets():
    text = read_document(CORPUS_DIR / "sfip_rcbap.txt")
    a = chunk_document(text, "sfip_rcbap")
    b = chunk_document(text, "sfip_rcbap")
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    other = chunk_document(text, "renamed")
    assert not {c.chunk_id for c in a} & {c.chunk_id for c in other}


def test_long_paragraph_is_split_at_sentence_ends_with_overlap():
    text = " ".join(f"Sentence number {i} ends here." for i in range(60))
    config = ChunkConfig(max_tokens=40, min_tokens=10, overlap_tokens=12)
    chunks = chunk_document(text, "doc", config)
    assert len(chunks) > 5
    assert all(c.text.startswith("Sentence") and c.text.endswith(".") for c in chunks)
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # consecutive pieces overlap
    _check_invariants(text, chunks, config)
    no_overlap = chunk_document(text, "doc", ChunkConfig(max_tokens=40, min_tokens=10, overlap_tokens=0))
    assert all(b.start >= a.end for a, b in zip(no_overlap, no_overlap[1:]))


_piece = st.one_of(
    st.text(alphabet="abc XYZ.?!\t가나다제조①", min_size=0, max_size=300),
    st.sampled_from(["\n", "\n\n", "\r\n", "\r\n\r\n", "## I. Agreement\n", "## A. Title\n", "제3조(보상)\n",
                     "Article 4 Scope\n", "   \n", "1. item\n", "a. sub\n", "(1) x\n", "① 항\n", "가. 목\n"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_piece, max_size=40), st.integers(16, 120), st.integers(0, 60), st.integers(0, 7))
@example(["?", "(1) x\n", "???????X  ", "제3조(보상)\n"], 16, 0, 0)  # a hard split once ended on a space
def test_slices_hold_for_any_text(pieces, max_tokens, min_tokens, overlap):
    text = "".join(pieces)
    config = ChunkConfig(max_tokens=max_tokens, min_tokens=min(min_tokens, max_tokens), overlap_tokens=overlap)
    _check_invariants(text, chunk_document(text, "doc", config), config)


def test_prechunked_jsonl_is_taken_as_is(tmp_path):
    rows = [{"chunk_id": "c-1", "text": "제1조(목적) 이 약관은 실손을 보상합니다.",
             "metadata": {"source": "삼성 실손", "company": "A", "breadcrumbs": "실손 > 제1조", "token_count": 9, "policy_type": "실손"}},
            {"chunk_id": "c-2", "text": "제2조(정의) 입원이란 ...", "metadata": {"source": "삼성 실손", "breadcrumbs": "실손 > 제2조"}},
            {"chunk_id": "c-3", "text": "Other policy text.", "metadata": {"source": "other"}}]
    path = tmp_path / "chunked_data.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    chunks, docs = chunk_corpus([str(path)])
    assert [c.chunk_id for c in chunks] == ["c-1", "c-2", "c-3"]
    assert [c.text for c in chunks] == [r["text"] for r in rows]
    assert chunks[0].metadata["breadcrumbs"] == "실손 > 제1조" and chunks[0].metadata["company"] == "A"
    assert [d["document_id"] for d in docs] == ["삼성_실손", "other"] and docs[0]["kind"] == "prechunked"
    virtual = "\n\n".join(r["text"] for r in rows[:2])
    assert all(virtual[c.start:c.end] == c.text for c in chunks[:2])
    path.write_text('{"chunk_id": "x", "text": ""}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"chunked_data.jsonl:1: a chunk needs a non-empty 'text'"):
        chunk_corpus([str(path)])


def test_corpus_errors(tmp_path):
    with pytest.raises(HarnessError, match="corpus path not found"):
        chunk_corpus([str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="empty.txt: corpus file is empty"):
        chunk_corpus([str(empty)])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text("x", encoding="utf-8")
    (tmp_path / "b" / "same.txt").write_text("y", encoding="utf-8")
    with pytest.raises(HarnessError, match="document id 'same'"):
        chunk_corpus([str(tmp_path / "a"), str(tmp_path / "b")])
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(HarnessError, match="not valid UTF-8"):
        chunk_corpus([str(bad)])

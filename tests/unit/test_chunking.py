from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import ChunkConfig
from harness.errors import HarnessError
from retrieval.chunking import chunk_corpus, chunk_document, read_document, split_blocks
from tests.conftest import CORPUS_DIR, FORMS


@pytest.mark.parametrize("form", FORMS)
def test_every_chunk_of_the_three_forms_is_an_exact_slice(form):
    source = read_document(CORPUS_DIR / f"{form}.txt")
    config = ChunkConfig()
    chunks = chunk_document(source, form, config)
    assert len(chunks) > 50
    for c in chunks:
        assert c.text == source[c.start:c.end]
        assert c.document_id == form
        assert 0 < c.end - c.start <= config.max_chars
    # In order, never overlapping, and together they hold every non-blank character.
    covered = [False] * len(source)
    previous_end = 0
    for c in chunks:
        assert c.start >= previous_end
        previous_end = c.end
        for i in range(c.start, c.end):
            covered[i] = True
    assert all(covered[i] or source[i].isspace() for i in range(len(source)))


def test_breadcrumbs_follow_the_policy_structure():
    source = read_document(CORPUS_DIR / "sfip_dwelling.txt")
    chunks = chunk_document(source, "sfip_dwelling")
    assert {c.metadata["title"] for c in chunks} == {"Dwelling Form"}
    bailee = next(c for c in chunks if "No Benefit to Bailee" in c.text)
    # "I." inside article VII is lettered section I, not article I.
    assert "VII. General Conditions > I. No Benefit to Bailee" in bailee.metadata["breadcrumbs"]
    exclusions = next(c for c in chunks if "caused directly by earth movement" in c.text)
    assert exclusions.metadata["breadcrumbs"] == "Dwelling Form > V. Exclusions"


def test_rcbap_has_eleven_articles():
    blocks = split_blocks(read_document(CORPUS_DIR / "sfip_rcbap.txt"))
    articles = [b.heading for b in blocks if b.level == 1]
    assert articles[0] == "I. Agreement" and articles[6] == "VII. Coinsurance" and articles[-1] == "XI. What Law Governs"
    assert len(articles) == 11


def test_korean_articles_are_headings():
    text = "보험약관\n\n제1조(목적)\n이 약관은 홍수 손해를 보상합니다.\n\n제2조(용어의 정의)\n① 홍수란 물이 넘치는 것을 말합니다.\n② 건물이란 주택을 말합니다.\n"
    blocks = split_blocks(text)
    assert [b.heading for b in blocks if b.level == 1] == ["제1조(목적)", "제2조(용어의 정의)"]
    chunks = chunk_document(text, "ko", ChunkConfig(max_chars=60, min_chars=10))
    assert all(c.text == text[c.start:c.end] for c in chunks)
    assert any(c.metadata["breadcrumbs"].endswith("제2조(용어의 정의)") for c in chunks)


def test_chunk_ids_are_stable_and_depend_on_offsets():
    text = read_document(CORPUS_DIR / "sfip_rcbap.txt")
    a = chunk_document(text, "sfip_rcbap")
    b = chunk_document(text, "sfip_rcbap")
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    other = chunk_document(text, "renamed")
    assert not {c.chunk_id for c in a} & {c.chunk_id for c in other}


def test_long_paragraph_is_split_at_sentence_ends():
    text = " ".join(f"Sentence number {i} ends here." for i in range(60))
    chunks = chunk_document(text, "doc", ChunkConfig(max_chars=200, min_chars=50))
    assert len(chunks) > 5
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.text == text[c.start:c.end] for c in chunks)


_piece = st.one_of(
    st.text(alphabet="abc XYZ.?!\t가나다제조①", min_size=0, max_size=300),
    st.sampled_from(["\n", "\n\n", "\r\n", "\r\n\r\n", "## I. Agreement\n", "## A. Title\n", "제3조(보상)\n",
                     "Article 4 Scope\n", "   \n", "1. item\n", "a. sub\n"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_piece, max_size=40), st.integers(50, 400), st.integers(0, 50))
def test_slices_hold_for_any_text(pieces, max_chars, min_chars):
    text = "".join(pieces)
    config = ChunkConfig(max_chars=max_chars, min_chars=min(min_chars, max_chars))
    chunks = chunk_document(text, "doc", config)
    for c in chunks:
        assert c.text == text[c.start:c.end]
        assert c.text.strip() and c.end - c.start <= max_chars
    assert all(a.end <= b.start for a, b in zip(chunks, chunks[1:]))
    non_blank = sum(1 for ch in text if not ch.isspace())
    assert sum(1 for c in chunks for ch in c.text if not ch.isspace()) == non_blank


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

"""Issue 15: files in other encodings, mojibake, tampered indexes and names that try to escape."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.config import EvalConfig, IndexConfig
from harness.encoding import decode, find_mojibake, guess, using
from harness.errors import HarnessError
from harness.eval_set import load_eval_set
from harness.io import iter_jsonl, read_json
from harness.paths import check_name
from retrieval.chunking import chunk_corpus, corpus_files, read_prechunked

KO_ITEM = {"id": "ko-1", "question": "홍수 피해 후 손해 증명서는 며칠 안에 보내야 합니까?", "answerable": True,
           "gold_answer": "손해 발생 후 60일 이내입니다.", "evidence": [], "category": "deadline", "split": "dev",
           "language": "ko"}
KO_TEXT = "제1조(목적) 이 약관은 홍수로 인한 손해를 보상합니다.\n\n① 손해 증명서는 손해 발생 후 60일 이내에 보내야 합니다.\n"
EN_TEXT = "Article 1. Coverage\n\nA. We pay for direct physical loss by flood \u2014 up to the \u201climit\u201d of the caf\u00e9.\n"


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


# --- encodings --------------------------------------------------------------------------------

def test_utf8_with_bom_is_read_by_jsonl_and_json_readers(tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + _line(KO_ITEM).encode("utf-8"))
    assert [i.id for i in load_eval_set(f)] == ["ko-1"]
    j = tmp_path / "models.json"
    j.write_bytes(b"\xef\xbb\xbf" + b'{"models": {}}')
    assert read_json(j) == {"models": {}}


def test_cp949_file_is_named_by_default_and_read_under_auto(tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_bytes(_line(KO_ITEM).encode("cp949"))
    assert guess(f.read_bytes()) == "cp949"
    with pytest.raises(HarnessError) as e:
        load_eval_set(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}:1: not valid UTF-8") and "CP949/EUC-KR" in msg and "--encoding auto" in msg
    with using("auto"):
        assert load_eval_set(f)[0].question == KO_ITEM["question"]
    with using("euc-kr"):  # the strict codec by name reads it too
        assert load_eval_set(f)[0].gold_answer == KO_ITEM["gold_answer"]


def test_cp949_eval_set_through_the_cli(tmp_path):
    f = tmp_path / "set.jsonl"
    item = dict(KO_ITEM, answerable=False, gold_answer=None)
    f.write_bytes(_line(item).encode("cp949"))
    runner = CliRunner()
    bad = runner.invoke(cli, ["validate-set", str(f), "--corpus", "eval_sets/corpora/sfip_ko"])
    assert bad.exit_code == 2, bad.output
    assert "CP949/EUC-KR" in bad.output and "--encoding auto" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(cli, ["validate-set", str(f), "--corpus", "eval_sets/corpora/sfip_ko", "--encoding", "auto"])
    assert "CP949" not in ok.output and "not valid" not in ok.output, ok.output
    # The setting does not leak into the next command run in the same process.
    again = runner.invoke(cli, ["validate-set", str(f), "--corpus", "eval_sets/corpora/sfip_ko"])
    assert again.exit_code == 2 and "CP949" in again.output
    unknown = runner.invoke(cli, ["validate-set", str(f), "--encoding", "klingon"])
    assert unknown.exit_code == 2 and "unknown encoding" in unknown.output


def test_utf16_is_named_and_read_under_auto(tmp_path):
    for codec, data in [("utf-16", _line(KO_ITEM).encode("utf-16")),  # with a byte-order mark
                        ("utf-16-le", _line(KO_ITEM).encode("utf-16-le"))]:  # without one
        f = tmp_path / f"{codec}.jsonl"
        f.write_bytes(data)
        with pytest.raises(HarnessError, match="UTF-16.*--encoding auto"):
            load_eval_set(f)
        with using("auto"):
            assert load_eval_set(f)[0].id == "ko-1"


def test_unrecognised_bytes_ask_for_the_encoding_by_name(tmp_path):
    data = "Schäden durch Überschwemmung\n".encode("latin-1")
    with pytest.raises(HarnessError, match="--encoding NAME"):
        decode(data, "f.txt", "utf-8")
    with pytest.raises(HarnessError, match="name the encoding"):
        decode(data, "f.txt", "auto")
    assert decode(data, "f.txt", "latin-1")[0].startswith("Schäden")


def test_bad_byte_is_reported_at_its_line(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(_line({"x": 1}).encode() * 3 + b'{"x": "\xff"}\n')
    with pytest.raises(HarnessError) as e:
        list(iter_jsonl(f))
    assert str(e.value).startswith(f"{f}:4: not valid UTF-8 (byte 0xff)")


def test_cp949_corpus_is_indexed_under_auto_with_offsets_into_the_text_and_its_encoding_recorded(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "약관.txt").write_bytes(KO_TEXT.encode("cp949"))
    with pytest.raises(HarnessError, match="CP949/EUC-KR.*--encoding auto"):
        chunk_corpus([str(corpus)])
    chunks, docs = chunk_corpus([str(corpus)], encoding="auto")
    assert docs[0]["encoding"] == "cp949" and docs[0]["chars"] == len(KO_TEXT)
    for c in chunks:
        assert KO_TEXT[c.start:c.end] == c.text  # character offsets into the decoded text


# --- mojibake ---------------------------------------------------------------------------------

def _as_cp1252(text: str) -> str:
    """UTF-8 bytes shown as Windows-1252 characters, as Windows programs do (bytes cp1252 leaves
    undefined, such as the 0x9d of a closing quote, pass through as control characters)."""
    import ftfy.bad_codecs  # noqa: F401  (registers sloppy-windows-1252)

    return text.encode("utf-8").decode("sloppy-windows-1252")


def test_mojibake_detected_named_and_repaired(tmp_path):
    garbled_ko = KO_TEXT.encode("utf-8").decode("latin-1")  # UTF-8 bytes shown as latin-1 characters
    garbled_en = _as_cp1252(EN_TEXT)
    for garbled, clean in [(garbled_ko, KO_TEXT), (garbled_en, EN_TEXT)]:
        found = find_mojibake(garbled)
        assert found is not None and found.fixed == clean and found.lost == 0
        assert "mojibake" in found.describe()
    for clean in (KO_TEXT, EN_TEXT, "Ça coûte 5 €; naïve façade — ok", "Straße Øre ½ Ångström"):
        assert find_mojibake(clean) is None


def test_mojibake_in_a_corpus_is_refused_with_the_repair_offered_and_repaired_on_request(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "clean.txt").write_text(EN_TEXT, encoding="utf-8")
    (corpus / "garbled.txt").write_text(KO_TEXT.encode("utf-8").decode("latin-1"), encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        chunk_corpus([str(corpus)])
    msg = str(e.value)
    assert msg.startswith(str(corpus / "garbled.txt")) and "mojibake" in msg and "--repair-mojibake" in msg
    assert "제1조" in msg  # the repaired text is shown
    repaired = {}
    chunks, docs = chunk_corpus([str(corpus)], mojibake="repair", on_repaired=lambda f, t: repaired.__setitem__(f.name, t))
    assert repaired == {"garbled.txt": KO_TEXT}
    doc = next(d for d in docs if d["document_id"] == "garbled")
    assert doc["mojibake_repaired"]["steps"] and "mojibake_repaired" not in docs[0]
    assert any("제1조" in c.text for c in chunks)
    kept, _ = chunk_corpus([str(corpus)], mojibake="keep")
    assert not any("제1조" in c.text for c in kept)


def test_index_cli_repairs_mojibake_and_records_it_in_the_manifest(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.txt").write_text(_as_cp1252(EN_TEXT) * 3, encoding="utf-8")
    out = tmp_path / "index"
    runner = CliRunner()
    refused = runner.invoke(cli, ["index", "--corpus", str(corpus), "--out", str(out), "--language-embedder", "none"])
    assert refused.exit_code == 2 and "--repair-mojibake" in refused.output and not out.exists()
    built = runner.invoke(cli, ["index", "--corpus", str(corpus), "--out", str(out), "--language-embedder", "none",
                                "--repair-mojibake"])
    assert built.exit_code == 0, built.output
    assert f"mojibake repaired in 1 file(s): policy.txt (the repaired text is in {out / 'repaired'})" in built.output
    manifest = read_json(out / "manifest.json")
    assert manifest["reading"]["mojibake"] == "repair"
    assert manifest["documents"][0]["encoding"] == "utf-8" and manifest["documents"][0]["mojibake_repaired"]
    assert (out / "repaired" / "policy.txt").read_text(encoding="utf-8") == EN_TEXT * 3


# --- tampering --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    from retrieval.index import build_index

    base = tmp_path_factory.mktemp("tamper")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(EN_TEXT + "\nB. We do not pay for earth movement.\n", encoding="utf-8")
    (corpus / "b.txt").write_text("Article 2. Duties\n\nA. Send a proof of loss within 60 days.\n", encoding="utf-8")
    out = base / "index"
    build_index(IndexConfig(corpus=(str(corpus),), out=str(out), language_embedders=()))
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_intact_index_loads_and_records_hashes(small_index):
    from retrieval.index import load_index

    loaded = load_index(small_index)
    assert set(loaded.manifest["integrity"]) >= {"chunks.jsonl", "index.faiss"}


def test_edited_chunks_file_is_refused(small_index, tmp_path):
    from retrieval.index import load_index

    idx = _copy(small_index, tmp_path / "i")
    chunks = idx / "chunks.jsonl"
    chunks.write_text(chunks.read_text(encoding="utf-8").replace("60 days", "180 days"), encoding="utf-8")
    with pytest.raises(HarnessError, match=r"chunks.jsonl was changed after the index was built.*--force"):
        load_index(idx)


def test_swapped_faiss_file_is_refused(small_index, tmp_path):
    import faiss
    import numpy as np

    from retrieval.index import load_index

    idx = _copy(small_index, tmp_path / "i")
    original = faiss.read_index(str(idx / "index.faiss"))
    other = faiss.IndexFlatIP(original.d)
    other.add(np.random.default_rng(0).standard_normal((original.ntotal, original.d)).astype("float32"))
    faiss.write_index(other, str(idx / "index.faiss"))
    with pytest.raises(HarnessError, match="index.faiss was changed"):
        load_index(idx)
    (idx / "index.faiss").unlink()
    with pytest.raises(HarnessError, match="index.faiss is missing"):
        load_index(idx)


def test_tampered_index_is_rebuilt_not_kept_as_up_to_date(small_index, tmp_path):
    from retrieval.index import build_index, load_index

    idx = _copy(small_index, tmp_path / "i")
    manifest = read_json(idx / "manifest.json")
    chunks = idx / "chunks.jsonl"
    chunks.write_text(chunks.read_text(encoding="utf-8").replace("60 days", "180 days"), encoding="utf-8")
    corpus = [d["path"] for d in manifest["documents"]]
    result = build_index(IndexConfig(corpus=tuple(corpus), out=str(idx), language_embedders=()))
    assert result.rebuilt
    assert "180 days" not in (idx / "chunks.jsonl").read_text(encoding="utf-8")
    load_index(idx)


# --- names and paths --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "..", "/etc/passwd", "a/b", "a\\b", "a\x00b", "", ".hidden", "-rf"])
def test_run_baseline_and_adapter_names_cannot_escape(name):
    from harness.models import check_model_name

    with pytest.raises(HarnessError):
        check_name(name, "run name")
    with pytest.raises(HarnessError):
        EvalConfig(run_name=name) if name else check_name(name, "run name")
    with pytest.raises(HarnessError):
        check_model_name(name)


def test_a_refused_name_says_why():
    reasons = {"": "is empty", "  ": "is empty", "../x": "would point outside", "..": "would point outside",
               "a\x00b": "contains a NUL character", "-rf": "must start with a letter or digit"}
    for name, why in reasons.items():
        with pytest.raises(HarnessError, match=f"run name {re.escape(repr(name))} is not allowed: it {why}"):
            check_name(name, "run name")


def test_cli_refuses_escaping_run_adapter_and_baseline_names(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["eval", "--backend", "scripted", "--run-name", "../../etc", "--results-dir", str(tmp_path)])
    assert r.exit_code == 2 and "run name '../../etc' is not allowed" in r.output
    r = runner.invoke(cli, ["train", "--dataset", "qa", "--name", "../evil", "--adapters-dir", str(tmp_path)])
    assert r.exit_code == 2 and "not allowed" in r.output
    assert list(tmp_path.iterdir()) == []


def test_bless_refuses_an_escaping_baseline_name(tmp_path):
    from harness.results.gate import bless

    with pytest.raises(HarnessError, match="baseline name '../up' is not allowed"):
        bless(tmp_path / "no-such-run", "../up", baselines_dir=tmp_path / "baselines")


@pytest.mark.parametrize("doc_id", ["../secret", "a/b", "..", "x\x00y"])
def test_eval_set_document_ids_cannot_escape(tmp_path, doc_id):
    item = dict(KO_ITEM, evidence=[{"document_id": doc_id, "start": 0, "end": 5}])
    f = tmp_path / "set.jsonl"
    f.write_text(_line(dict(KO_ITEM, id="ok")) + _line(item), encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_eval_set(f)
    assert str(e.value).startswith(f"{f}:2: evidence[0].document_id") and "not allowed" in str(e.value)


def test_prechunked_sources_become_plain_document_ids(tmp_path):
    f = tmp_path / "chunks.jsonl"
    rows = [{"chunk_id": "1", "text": "A clause.", "metadata": {"source": "../../etc/passwd"}},
            {"chunk_id": "2", "text": "Another.", "metadata": {"source": "/abs/olute"}},
            {"chunk_id": "3", "text": "Third.", "metadata": {"source": "..\x00"}}]
    f.write_text("".join(_line(r) for r in rows), encoding="utf-8")
    for doc_id in read_prechunked(f):
        check_name(doc_id, "document id", strict=False)
        assert not doc_id.startswith(".") and "/" not in doc_id


def test_symlinks_out_of_the_corpus_are_refused_unless_asked(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Article 9. Private\n\nA. Not for the index.\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.txt").write_text(EN_TEXT, encoding="utf-8")
    (corpus / "inner.txt").symlink_to(corpus / "policy.txt")  # a link inside the folder is fine
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(HarnessError, match="outside the corpus folder.*--follow-symlinks"):
        corpus_files([str(corpus)])
    assert {f.name for f in corpus_files([str(corpus)], follow_symlinks=True)} == {"policy.txt", "inner.txt", "secret.txt"}
    (corpus / "secret.txt").unlink()
    assert {f.name for f in corpus_files([str(corpus)])} == {"policy.txt", "inner.txt"}

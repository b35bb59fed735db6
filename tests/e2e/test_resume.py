"""Kill-safety: a real `harness eval` process killed with SIGKILL mid-run, then run again,
finishes with the items an uninterrupted run has, recomputing nothing that was finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.experiment.generate import TIMING_FIELDS
from harness.experiment.rundir import RunDir
from tests.conftest import REPO, STARTER

N = 12  # questions
# 2 models x (greedy + seed-default x 2 repeats) x N questions
TOTAL = 2 * 3 * N


def _cmd(results: Path, sfip_index: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "eval", "--backend", "scripted", "--models", "base", "v1",
            "--decoding", "greedy", "seed-default", "--repeats", "2", "--eval-set", str(STARTER),
            "--index", str(sfip_index), "--limit", str(N), "--batch-size", "3", "--results-dir", str(results), *extra]


def _env(tmp_path: Path, delay: float) -> dict:
    return {**os.environ, "HARNESS_SCRIPTED_DELAY": str(delay), "PYTHONPATH": str(REPO)}


def _items(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


def _counts(stderr: str) -> tuple[int, int]:
    m = re.search(r"^(\d+) generated, (\d+) from cache$", stderr, re.M)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


def _run(cmd, tmp_path, delay=0.0) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path, delay), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def _kill_mid_run(cmd, tmp_path, find_cache, at_least: int) -> int:
    """Start the run, SIGKILL it once `at_least` answers are in the cache (find_cache() -> its
    path, or None before it exists); return how many are."""
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(tmp_path, 0.05), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            cache = find_cache()
            if cache is not None and cache.is_file() and len(cache.read_text(encoding="utf-8").splitlines()) >= at_least:
                break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    keys = {json.loads(line)["key"] for line in cache.read_text(encoding="utf-8").splitlines() if line.endswith("}")}
    assert 0 < len(keys) < TOTAL
    return len(keys)


@pytest.fixture
def registry(tmp_path):
    (tmp_path / "models.json").write_text(json.dumps({"models": {"v1": {"base_model": "smollm2-135m"}}}))


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path, sfip_index, registry):
    reference = _run(_cmd(tmp_path / "ref", sfip_index), tmp_path)
    assert _counts(reference.stderr) == (TOTAL, 0)
    ref_dir = Path(reference.stdout.strip().splitlines()[-1]).parent

    results = tmp_path / "results"
    cmd = _cmd(results, sfip_index)
    cached = _kill_mid_run(cmd, tmp_path, lambda: results / ".cache" / "generations.jsonl", at_least=TOTAL // 3)
    killed = next(results.glob("2*"))
    assert RunDir(killed).status()["state"] == "running" and not (killed / "items.jsonl").exists()

    again = _run(cmd, tmp_path)  # the same command: a new run folder, finished answers from the cache
    assert _counts(again.stderr) == (TOTAL - cached, cached)
    new_dir = Path(again.stdout.strip().splitlines()[-1]).parent
    assert new_dir != killed and _items(new_dir) == _items(ref_dir)
    ref_cmp = json.loads((ref_dir / "comparison.json").read_text())
    new_cmp = json.loads((new_dir / "comparison.json").read_text())
    for key in ("metrics", "comparisons", "cells"):
        assert _without_timing(new_cmp[key]) == _without_timing(ref_cmp[key]), key

    # The killed folder can be finished in place too; everything now comes from the cache.
    resumed = _run([sys.executable, "-m", "harness.cli", "eval", "--resume", str(killed)], tmp_path)
    assert _counts(resumed.stderr) == (0, TOTAL)
    assert RunDir(killed).status()["state"] == "complete" and _items(killed) == _items(ref_dir)

    third = _run(cmd, tmp_path)
    assert _counts(third.stderr) == (0, TOTAL)  # a rerun generates nothing


def test_resume_in_the_same_folder_after_sigkill(tmp_path, sfip_index, registry):
    results = tmp_path / "results"
    cmd = _cmd(results, sfip_index, "--no-cache")  # the run folder holds its own cache
    # With --no-cache the generations live in the run folder, which exists once the run starts.
    own = lambda: next((d / "generations.jsonl" for d in sorted(results.glob("2*"))), None)  # noqa: E731
    cached = _kill_mid_run(cmd, tmp_path, own, at_least=TOTAL // 2)
    killed = next(results.glob("2*"))
    resumed = _run([sys.executable, "-m", "harness.cli", "eval", "--resume", str(killed)], tmp_path)
    assert _counts(resumed.stderr) == (TOTAL - cached, cached)
    items = _items(killed)
    assert len(items) == TOTAL and len({(r["model"], r["cell"], r["repeat"], r["item_id"]) for r in items}) == TOTAL
    assert all(r["error"] is None for r in items)


def test_a_second_writer_is_refused(tmp_path):
    run = RunDir.create(tmp_path, "x")
    (run.path / "experiment.yaml").write_text("models: [base]\n")
    with run:
        other = RunDir.open(run.path)
        with pytest.raises(Exception, match=r"in use by another harness process \(pid \d+\)"):
            other.lock()
    RunDir.open(run.path).lock()  # free again once the first writer is done


def _without_timing(obj):
    drop = {"generation_seconds", "tokens_per_s"}
    if isinstance(obj, dict):
        return {k: _without_timing(v) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_without_timing(v) for v in obj]
    return obj

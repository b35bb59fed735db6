"""`harness eval --backend openai` end to end against a real HTTP server on 127.0.0.1: the same
cache, trimming, scoring and resume as hf; a failing item is recorded, not dropped, and retried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STARTER
from tests.e2e.conftest import run
from tests.servers.fake_openai import FakeOpenAI

pytestmark = pytest.mark.usefixtures("in_tmp")


def first_questions(n: int) -> list[str]:
    return [json.loads(line)["question"] for line in Path(STARTER).read_text().splitlines()[:n]]


def test_eval_over_an_openai_server_records_failures_and_resumes(tmp_path, sfip_index, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-do-not-store")
    (tmp_path / "models.json").write_text(json.dumps({"models": {"v2": {"base_model": "served-base"}}}))
    broken = first_questions(4)[2][:50]  # the third question fails, for both models, then recovers
    with FakeOpenAI(faults={broken: "status:500"}, fail_times=2) as server:
        args = ["eval", "--backend", "openai", "--api-base", server.url, "--api-key-env", "MY_KEY",
                "--base-model", "served-base", "--models", "base", "v2", "--eval-set", STARTER, "--index", sfip_index,
                "--limit", "4", "--max-retries", "0", "--concurrency", "3", "--results-dir", tmp_path / "results"]
        first = run(*args)
        assert first.exit_code == 0, first.output
        assert "6 generated, 0 from cache" in first.stderr and "2 item(s) failed" in first.stderr
        run_dir = Path(first.stdout.strip().splitlines()[-1]).parent
        items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
        failed = [r for r in items if r["error"]]
        assert len(items) == 8 and len(failed) == 2 and all("HTTP 500" in r["error"] for r in failed)
        ok = [r for r in items if not r["error"]]
        assert all(r["raw_answer"].startswith(f"[{'served-base' if r['model'] == 'base' else 'v2'}]") for r in ok)
        assert all("verdict" in r for r in ok) and all(r["prompt_tokens"] > 0 for r in ok)
        comparison = json.loads((run_dir / "comparison.json").read_text())
        assert comparison["models"]["v2"]["backend_info"]["model"] == "v2"
        assert b"sk-do-not-store" not in b"".join(p.read_bytes() for p in (tmp_path / "results").rglob("*") if p.is_file())
        # The server has recovered: the same command again asks only for the two failed answers.
        again = run(*args)
        assert again.exit_code == 0, again.output
        assert "2 generated, 6 from cache" in again.stderr and "failed" not in again.stderr.split("\n")[-3]
        assert len(server.requests) == 6 + 2 + 2


def test_every_answer_failing_stops_with_one_line(tmp_path, sfip_index):
    with FakeOpenAI(faults={"": "status:503"}) as server:  # every question fails
        result = run("eval", "--backend", "openai", "--api-base", server.url, "--base-model", "served-base",
                     "--models", "base", "--eval-set", STARTER, "--index", sfip_index, "--limit", "2",
                     "--max-retries", "1", "--results-dir", tmp_path / "results")
    assert result.exit_code == 1
    assert "Error: every answer failed (HTTP 503" in result.stderr
    run_dir = next((tmp_path / "results").glob("*-base"))
    assert len((run_dir / "items.jsonl").read_text().splitlines()) == 2  # recorded, not dropped


def test_a_server_that_is_down_is_one_line_before_any_work(tmp_path, sfip_index):
    result = run("eval", "--backend", "openai", "--api-base", "http://127.0.0.1:9/v1", "--models", "base",
                 "--eval-set", STARTER, "--index", sfip_index, "--limit", "2", "--max-retries", "0",
                 "--results-dir", tmp_path / "results")
    assert result.exit_code in (1, 2)
    assert "cannot reach http://127.0.0.1:9/v1/models" in result.stderr

"""`harness eval --backend openai` against a real llama.cpp server (llama-cpp-python's
OpenAI-compatible server on the bundled GGUF) started on 127.0.0.1 by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STARTER
from tests.e2e.conftest import run
from tests.servers.llamacpp import llama_server

pytestmark = pytest.mark.usefixtures("in_tmp")


def test_eval_against_a_real_llama_cpp_server(tmp_path, sfip_index):
    with llama_server(log=tmp_path / "server.log") as url:
        args = ["eval", "--backend", "openai", "--api-base", url, "--models", "base", "--eval-set", STARTER,
                "--index", sfip_index, "--limit", "3", "--max-new-tokens", "48", "--concurrency", "2",
                "--results-dir", tmp_path / "results"]
        first = run(*args)
        assert first.exit_code == 0, first.output + (tmp_path / "server.log").read_text()[-2000:]
        assert "3 generated, 0 from cache" in first.stderr
        run_dir = Path(first.stdout.strip().splitlines()[-1]).parent
        items = [json.loads(line) for line in (run_dir / "items.jsonl").read_text().splitlines()]
        assert len(items) == 3 and not any(r["error"] for r in items)
        assert all(r["raw_answer"].strip() and r["prompt_tokens"] > 500 and 0 < r["completion_tokens"] <= 48
                   for r in items)
        assert all("verdict" in r for r in items)  # scored like any other backend
        again = run(*args)
        assert again.exit_code == 0 and "0 generated, 3 from cache" in again.stderr

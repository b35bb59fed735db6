from __future__ import annotations

import json


from tests.conftest import REPO
from tests.e2e.conftest import run

QUESTIONS = REPO / "eval_sets" / "sfip" / "questions.jsonl"


def test_single_question_prints_hits_with_breadcrumbs(sfip_index):
    result = run("search", "Under the Dwelling Form, what is the special limit for jewelry?", "--index", sfip_index, "--k", "3")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 3 and all("Dwelling Form" in line for line in lines)
    as_json = json.loads(run("search", "jewelry special limit", "--index", sfip_index, "--k", "2", "--json").stdout)
    assert [h["rank"] for h in as_json] == [1, 2] and {"chunk_id", "text", "breadcrumbs", "score"} <= set(as_json[0])


def test_batch_search_writes_hits_and_prints_metrics(sfip_index, tmp_path):
    out = tmp_path / "hits.jsonl"
    result = run("search", "--questions", QUESTIONS, "--split", "dev", "--index", sfip_index, "--out", out, "--k", "4")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    dev = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if '"split": "dev"' in line]
    assert [r["id"] for r in rows] == [q["id"] for q in dev]
    assert all(len(r["hits"]) == 4 for r in rows)
    assert {"chunk_id", "document_id", "start", "end", "score", "text", "breadcrumbs"} <= set(rows[0]["hits"][0])
    assert "hit@4" in result.stdout and "top-doc" in result.stdout and "numeric_limit" in result.stdout
    metrics = json.loads(run("search", "--questions", QUESTIONS, "--split", "dev", "--index", sfip_index, "--json",
                             "--out", tmp_path / "again.jsonl").stdout)["metrics"]
    assert 0 < metrics["hit_at_k"] <= 1 and metrics["n"] == sum(1 for q in dev if q["answerable"])


def test_search_input_errors(sfip_index, tmp_path):
    assert run("search", "--index", sfip_index).exit_code == 2
    both = run("search", "q", "--questions", QUESTIONS, "--index", sfip_index)
    assert both.exit_code == 2 and "either a QUESTION or --questions" in both.stderr
    missing = run("search", "q", "--index", tmp_path / "nope")
    assert missing.exit_code == 2 and "not an index folder" in missing.stderr
    other = run("search", "q", "--index", sfip_index, "--embedder", "bge-m3")
    assert other.exit_code == 2 and "was built with embedder 'all-minilm-l6-v2', not 'bge-m3'" in other.stderr

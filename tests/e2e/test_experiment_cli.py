"""The experiment commands end to end on the scripted backend: presets, trimming, compare,
rescore, sweep, stops suggest, ask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.backends.scripted import ScriptedBackend
from harness.cli import cli
from tests.conftest import STARTER
from tests.e2e.conftest import run

LOOP = "The policy does not say. The policy does not say. The policy does not say."


pytestmark = pytest.mark.usefixtures("in_tmp")


@pytest.fixture
def two_cell_run(tmp_path, sfip_index) -> Path:
    ScriptedBackend.pending.extend([LOOP] * 3)  # three looping answers, the rest answer from clause [1]
    result = run("eval", "--backend", "scripted", "--models", "base", "--decoding", "greedy", "seed-optimized",
                 "--eval-set", STARTER, "--index", sfip_index, "--limit", "6", "--results-dir", tmp_path / "results")
    assert result.exit_code == 0, result.output
    assert "12 generated, 0 from cache" in result.stderr
    return Path(result.stdout.strip().splitlines()[-1]).parent


def test_list_presets():
    result = run("eval", "--list-presets")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")] == \
        ["greedy", "seed-default", "seed-optimized"]


def test_loops_are_trimmed_and_both_answers_kept(two_cell_run):
    items = [json.loads(line) for line in (two_cell_run / "items.jsonl").read_text().splitlines()]
    looped = [r for r in items if r["raw_answer"] == LOOP]
    assert len(looped) == 3
    for r in looped:
        assert r["answer"] == "The policy does not say." and r["refused_exact"]
        assert r["stop_fired"]["rule"] == "repetition" and r["stop_fired"]["offset"] == 25
        assert {"verdict", "hallucinated"} <= set(r["untrimmed"])
    assert all(r["stop_fired"] is None and r["answer"] == r["raw_answer"].strip() for r in items if r["raw_answer"] != LOOP)
    comparison = json.loads((two_cell_run / "comparison.json").read_text())
    fired = sum(m.get("stop_rules", {}).get("repetition", 0) for m in comparison["metrics"]["base"].values())
    assert fired == 3
    assert list(comparison["cells"]) == ["greedy", "seed-optimized"]
    from harness.scoring.combiner import load_combiner
    from harness.scoring.scorer import SCORER_VERSION

    combiner = load_combiner()  # the verdicts say which scorer and threshold gave them
    assert comparison["scorer_version"] == f"{SCORER_VERSION}/{combiner.version}"
    assert comparison["scorer_threshold"] == combiner.variant("full").threshold
    assert {c["kind"] for c in comparison["comparisons"]} >= {"cell", "trim"}
    md = (two_cell_run / "comparison.md").read_text()
    assert "Stop rules that cut answers" in md and "| base · greedy |" in md


def test_compare_one_run_two_cells(two_cell_run):
    result = run("compare", two_cell_run)
    assert result.exit_code == 0, result.output
    assert "# Before / after: `greedy` → `seed-optimized`" in result.output
    assert "| base |" in result.output and "question(s) stopped hallucinating" in result.output
    as_json = json.loads(run("compare", two_cell_run, "--json").output)
    paired = as_json["models"][0]["paired"]
    assert as_json["a"]["cell"] == "greedy" and paired["n"] == 6 and "note" in paired
    bad = run("compare", two_cell_run, "--cell-b", "nope")
    assert bad.exit_code == 2 and "has no cell 'nope' (it has: greedy, seed-optimized)" in bad.stderr


def test_compare_two_runs_needs_a_cell_when_a_run_has_several(two_cell_run, tmp_path, sfip_index):
    other = run("eval", "--backend", "scripted", "--models", "base", "--eval-set", STARTER, "--index", sfip_index,
                "--limit", "6", "--results-dir", tmp_path / "results")
    other_dir = Path(other.stdout.strip().splitlines()[-1]).parent
    assert "6 from cache" in other.stderr  # greedy answers of the first run are reused
    refused = run("compare", two_cell_run, other_dir)
    assert refused.exit_code == 2 and "choose one with --cell-a" in refused.stderr
    ok = run("compare", two_cell_run, other_dir, "--cell-a", "seed-optimized")
    assert ok.exit_code == 0 and "`seed-optimized` → `greedy`" in ok.output


def test_rescore_without_trimming_generates_nothing(two_cell_run):
    result = run("rescore", two_cell_run, "--no-trim")
    assert result.exit_code == 0, result.output
    assert "0 generated, 12 from cache" in result.stderr
    items = [json.loads(line) for line in (two_cell_run / "items.jsonl").read_text().splitlines()]
    assert all(r["answer"] == r["raw_answer"].strip() and r["stop_fired"] is None for r in items)
    comparison = json.loads((two_cell_run / "comparison.json").read_text())
    assert all(not m["stop_rules"] for m in comparison["metrics"]["base"].values())
    assert "repetition: false" in (two_cell_run / "experiment.yaml").read_text()


def test_stops_suggest_lists_the_loop(two_cell_run):
    result = run("stops", "suggest", two_cell_run, "--json")
    assert result.exit_code == 0, result.output
    found = {s["phrase"]: s for s in json.loads(result.output)}
    assert found["The policy"]["count"] == 3 and found["The policy"]["kind"] == "repetition"


def test_sweep_tabulates_each_cell(tmp_path, sfip_index):
    result = run("sweep", "--backend", "scripted", "--models", "base", "--grid", "temperature=0.1,0.7",
                 "--eval-set", STARTER, "--index", sfip_index, "--limit", "4", "--results-dir", tmp_path / "results")
    assert result.exit_code == 0, result.output
    assert "## Sweep" in result.stderr
    assert "| greedy[temperature=0.1] | base |" in result.stderr and "| greedy[temperature=0.7] | base |" in result.stderr
    bad = run("sweep", "--backend", "scripted", "--grid", "temperature", "--results-dir", tmp_path / "r2")
    assert bad.exit_code == 2 and "--grid takes SETTING=V1,V2" in bad.stderr and not (tmp_path / "r2").exists()


def test_ask_prints_clauses_answer_and_verdict(sfip_index):
    ScriptedBackend.pending.append("You have 60 days. Ich möchte mehr wissen.")
    result = run("ask", "How long do I have to send a proof of loss?", "--backend", "scripted", "--index", sfip_index)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Retrieved clauses:" in out and "  [1] " in out and "[5] " in out
    assert "Raw answer" in out and "by rule 'script_switch'" in out
    assert "Answer (base):\n  You have 60 days." in out and "Verdict: " in out


def test_a_failed_answer_is_recorded_then_retried_by_the_next_run(tmp_path, sfip_index, monkeypatch):
    from harness.backends.base import Generation

    original = ScriptedBackend.generate
    failing = {"on": True}

    def flaky(self, requests):
        out = original(self, requests)
        if failing["on"]:
            out = [Generation(text="", finish_reason="error", error="RuntimeError: out of memory")
                   if r.request_id == "dw-011" else g for r, g in zip(requests, out)]
        return out

    monkeypatch.setattr(ScriptedBackend, "generate", flaky)
    args = ["eval", "--backend", "scripted", "--models", "base", "--eval-set", STARTER, "--index", sfip_index,
            "--limit", "5", "--results-dir", tmp_path / "results"]
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert "4 generated, 0 from cache" in first.stderr and "1 item(s) failed" in first.stderr
    items = [json.loads(line) for line in (Path(first.stdout.strip().splitlines()[-1]).parent / "items.jsonl").read_text().splitlines()]
    failed = [r for r in items if r["error"]]
    assert len(items) == 5 and [r["item_id"] for r in failed] == ["dw-011"] and "grid" not in failed[0]
    failing["on"] = False
    second = run(*args)
    assert "1 generated, 4 from cache" in second.stderr and "item(s) failed" not in second.stderr


def test_chat_answers_until_an_empty_line(sfip_index):
    ScriptedBackend.pending.extend(["Within 60 days.", "The policy does not say."])
    result = CliRunner().invoke(cli, ["chat", "--backend", "scripted", "--index", str(sfip_index)],
                                input="How long for a proof of loss?\nIs my cat covered?\n\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Retrieved clauses:") == 2
    assert "Answer (base):\n  Within 60 days." in result.output and "Verdict: refused" in result.output


def test_seed_experiment_file_runs_base_alone_without_adapters(tmp_path, sfip_index):
    from tests.conftest import REPO

    result = run("eval", "--config", REPO / "experiments" / "seed.yaml", "--backend", "scripted", "--eval-set", STARTER,
                 "--index", sfip_index, "--limit", "3", "--results-dir", tmp_path / "results")  # no models.json here
    assert result.exit_code == 0, result.output
    assert "skipping model(s) not registered in models.json: v1, v2" in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1]).parent
    comparison = json.loads((run_dir / "comparison.json").read_text())
    assert list(comparison["metrics"]) == ["base"] and list(comparison["cells"]) == ["seed-default", "seed-optimized"]
    assert "6 generated, 0 from cache" in result.stderr
    compared = run("compare", run_dir)
    assert compared.exit_code == 0 and "`seed-default` → `seed-optimized`" in compared.output


def test_resume_refuses_flags_that_would_change_the_experiment(two_cell_run):
    refused = run("eval", "--resume", two_cell_run, "--temperature", "0.3")
    assert refused.exit_code == 2 and "drop --temperature" in refused.stderr
    again = run("eval", "--resume", two_cell_run)
    assert again.exit_code == 0 and "0 generated, 12 from cache" in again.stderr

"""Regression gates on synthetic runs whose outcome is known."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.results.gate import assert_no_regression, bless, check_regression, load_run

pytest_plugins = ["pytester"]


def make_run(path: Path, hallucinated: dict[str, bool], model: str = "v2", cell: str = "greedy",
             scorer: str = "4/c:test", index_sha: str = "idx1", questions: dict[str, str] | None = None,
             threshold: float = 0.5) -> Path:
    path.mkdir(parents=True)
    items = []
    for qid, bad in hallucinated.items():
        items.append({"item_id": qid, "model": model, "cell": cell, "repeat": 0, "answerable": True,
                      "question": (questions or {}).get(qid, f"What does clause {qid} say?"), "category": "coverage",
                      "answer": "an answer", "error": None, "verdict": "hallucinated" if bad else "supported",
                      "hallucinated": bad, "grid": "hallucinated_answer" if bad else "correct_answer",
                      "correctness": {"token_f1": 0.2 if bad else 0.8}})
    comparison = {"schema_version": 2, "run_id": path.name, "scorer_version": scorer, "scorer_threshold": threshold,
                  "index": {"path": "indexes/sfip", "manifest_sha256": index_sha},
                  "cells": {cell: {}}, "metrics": {model: {cell: {}}}}
    (path / "comparison.json").write_text(json.dumps(comparison))
    (path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def outcomes(n: int, bad: int, seed: int = 0) -> dict[str, bool]:
    ids = [f"q{i:03d}" for i in range(n)]
    chosen = set(random.Random(seed).sample(ids, bad))
    return {q: q in chosen for q in ids}


def flip(base: dict[str, bool], to_bad: int, to_good: int) -> dict[str, bool]:
    out = dict(base)
    for q in [q for q, v in base.items() if not v][:to_bad]:
        out[q] = True
    for q in [q for q, v in base.items() if v][:to_good]:
        out[q] = False
    return out


def test_a_real_regression_fails_and_names_the_flipped_questions(tmp_path):
    base = outcomes(80, 8)
    baseline = make_run(tmp_path / "base", base)
    run = make_run(tmp_path / "run", flip(base, to_bad=20, to_good=1))
    result = check_regression(run, baseline, model="v2", tolerance=0.02)
    assert result.regressed and not result.passed
    assert result.difference == pytest.approx(19 / 80)
    assert result.ci[0] > 0.02 and len(result.worse) == 20 and len(result.better) == 1
    with pytest.raises(AssertionError) as info:
        assert_no_regression(run, baseline, model="v2")
    message = str(info.value)
    assert "REGRESSION" in message and "20 worse, 1 better" in message
    for q in result.worse:
        assert q["item_id"] in message


def test_noise_and_changes_inside_the_tolerance_pass(tmp_path):
    base = outcomes(80, 16)
    baseline = make_run(tmp_path / "base", base)
    # Noise: as many questions flip each way.
    noisy = check_regression(make_run(tmp_path / "noisy", flip(base, 4, 4)), baseline, tolerance=0.0)
    assert noisy.passed and noisy.difference == 0 and len(noisy.worse) == 4
    # A small real-looking worsening whose CI still reaches below the tolerance passes.
    small = check_regression(make_run(tmp_path / "small", flip(base, 3, 0)), baseline, tolerance=0.02)
    assert small.passed and small.difference == pytest.approx(3 / 80) and small.ci[0] <= 0.02
    # The same worsening with a wide enough tolerance passes; with none, a big one fails.
    big = make_run(tmp_path / "big", flip(base, 12, 0))
    assert check_regression(big, baseline, tolerance=0.5).passed
    assert not check_regression(big, baseline, tolerance=0.0).passed


def test_direction_comes_from_the_metric(tmp_path):
    base = outcomes(80, 8)
    baseline = make_run(tmp_path / "base", base)
    better = make_run(tmp_path / "better", flip(base, 0, 8))
    worse = make_run(tmp_path / "worse", flip(base, 20, 0))
    # Fewer hallucinations: fine for hallucination_rate and for correct_answer (higher is better).
    assert check_regression(better, baseline, "hallucination_rate").passed
    assert check_regression(better, baseline, "correct_answer").passed
    assert not check_regression(worse, baseline, "correct_answer").passed
    assert not check_regression(worse, baseline, "token_f1", tolerance=0.01).passed


def test_runs_that_measure_different_things_fail_with_a_clear_message(tmp_path):
    base = outcomes(40, 4)
    baseline = make_run(tmp_path / "base", base)
    fewer = make_run(tmp_path / "fewer", dict(list(base.items())[:30]))
    result = check_regression(fewer, baseline)
    assert not result.passed and "do not share their questions" in result.message()
    assert "10 baseline questions missing from the run" in result.message()
    other_text = make_run(tmp_path / "text", base, questions={"q000": "Something else entirely?"})
    assert "same id but other text (e.g. q000)" in check_regression(other_text, baseline).message()
    other_index = make_run(tmp_path / "index", base, index_sha="idx2")
    assert "index differs" in check_regression(other_index, baseline).message()
    other_scorer = make_run(tmp_path / "scorer", base, scorer="3")
    message = check_regression(other_scorer, baseline).message()
    assert "scorer differs: run 3, baseline 4/c:test" in message and not check_regression(other_scorer, baseline).passed
    other_threshold = make_run(tmp_path / "threshold", base, threshold=0.6)
    assert "scorer threshold differs: run 0.6, baseline 0.5" in check_regression(other_threshold, baseline).message()
    with pytest.raises(AssertionError, match="cannot compare"):
        assert_no_regression(other_index, baseline)


def test_bless_keeps_verdicts_and_gate_cli_exit_codes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = outcomes(80, 8)
    make_run(tmp_path / "results" / "old", base)
    make_run(tmp_path / "results" / "new", flip(base, 20, 0))
    make_run(tmp_path / "results" / "same", flip(base, 1, 1))
    runner = CliRunner()
    out = runner.invoke(cli, ["bless", "results/old", "--name", "main"])
    assert out.exit_code == 0, out.output
    blessed = load_run(tmp_path / "baselines" / "main")
    assert len(blessed.items) == 80 and set(blessed.items[0]) <= set(json.loads(
        (tmp_path / "results/old/items.jsonl").read_text().splitlines()[0]))
    assert runner.invoke(cli, ["bless", "results/old", "--name", "main"]).exit_code == 2  # exists
    bad = runner.invoke(cli, ["gate", "results/new", "--baseline", "main"])
    assert bad.exit_code == 1 and "REGRESSION" in bad.output and "| v2 · greedy | hallucination_rate" in bad.output
    good = runner.invoke(cli, ["gate", "results/same", "--baseline", "main", "--metric", "hallucination_rate",
                               "--metric", "token_f1"])
    assert good.exit_code == 0 and good.output.count("| ok |") == 2
    missing = runner.invoke(cli, ["gate", "results/same", "--baseline", "nope"])
    assert missing.exit_code == 2 and "blessed baselines: main" in missing.output
    assert bless(tmp_path / "results" / "same", "main", tmp_path / "baselines", overwrite=True).is_dir()


def test_the_pytest_plugin_gives_users_fixtures_and_options(tmp_path, pytester):
    # No -p: the plugin comes from the package's pytest11 entry point.
    base = outcomes(80, 8)
    baseline = make_run(tmp_path / "base", base)
    regressed = make_run(tmp_path / "regressed", flip(base, 20, 0))
    fine = make_run(tmp_path / "fine", flip(base, 1, 1))
    pytester.makepyfile(test_quality=textwrap.dedent("""
        from harness.pytest_plugin import assert_no_regression

        def test_v2(harness_run, harness_baseline):
            assert_no_regression(harness_run, harness_baseline, metric="hallucination_rate", model="v2",
                                 tolerance=0.02)
    """))
    result = pytester.runpytest("--harness-run", str(regressed),
                                "--harness-baseline", str(baseline))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*REGRESSION*20 worse*"])
    pytester.runpytest("--harness-run", str(fine),
                       "--harness-baseline", str(baseline)).assert_outcomes(passed=1)
    skipped = pytester.runpytest("-rs")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*no run to gate*"])

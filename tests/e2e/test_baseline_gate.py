"""The project's own regression gate: the committed baseline (a real run of the bundled model on
the 29 starter questions, baselines/starter-base) re-scored with today's scorer.

A scorer change that shifts verdicts fails here with the flipped questions named; when the change
is deliberate, re-bless (the command is in the failure message) and commit the new baseline."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.results.gate import Run, assert_no_regression, check_regression, load_run
from tests.conftest import REPO

BASELINE = REPO / "baselines" / "starter-base"
REBLESS = ("harness bless baselines/starter-base --name starter-base --with-contexts --rescore --overwrite")
INVENTED = " The insurer also pays up to $999,999 for hotel bills in Paris after every flood."


@pytest.fixture(scope="module")
def rescored() -> Run:
    from harness.evaluate import rescored as rescore

    return rescore(BASELINE)


def test_the_committed_baseline_is_a_real_starter_run():
    baseline = load_run(BASELINE)
    assert baseline.comparison["eval_set"]["path"].endswith("starter.jsonl")
    assert len({r["item_id"] for r in baseline.items}) == 29 == len(baseline.items)
    assert all(r["answer"] for r in baseline.items) and (BASELINE / "retrieval.jsonl").is_file()


# Batched MiniLM encoding can move a score in its third decimal between processes: a verdict
# that flips with its score moving less than this is that, not a scorer change.
JITTER = 0.01


def test_todays_scorer_gives_the_committed_verdicts(rescored):
    baseline = load_run(BASELINE)
    before = {r["item_id"]: r for r in baseline.items}

    def moved(r) -> float:
        old = before[r["item_id"]]["score"]
        return 1.0 if (old is None) != (r["score"] is None) else abs((r["score"] or 0) - (old or 0))

    flipped = [f"{r['item_id']}: {before[r['item_id']]['verdict']} -> {r['verdict']} "
               f"(score {before[r['item_id']]['score']} -> {r['score']})" for r in rescored.items
               if r["verdict"] != before[r["item_id"]]["verdict"] and moved(r) > JITTER]
    assert not flipped, (f"today's scorer changes {len(flipped)} committed verdicts: " + "; ".join(flipped)
                         + f". If the scorer change is deliberate: {REBLESS}")
    drift = max(moved(r) for r in rescored.items)
    assert drift <= JITTER, f"today's scorer moves committed scores by up to {drift:.3f}. If deliberate: {REBLESS}"
    # And the noise-aware gate a user would write passes, on every metric it knows.
    for metric in ("hallucination_rate", "needless_refusal", "correct_answer"):
        assert_no_regression(rescored, baseline, metric=metric, model="base", tolerance=0.02)


def with_answers(run: Run, change) -> Run:
    """A copy of the run with some answers changed, scored again like a new run would be."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from harness.evaluate import rescored as rescore

    tmp = Path(tempfile.mkdtemp())
    try:
        for name in ("comparison.json", "retrieval.jsonl"):
            shutil.copy(BASELINE / name, tmp / name)
        items = [change(dict(r)) for r in run.items]
        (tmp / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
        return replace(rescore(tmp), path=BASELINE)
    finally:
        shutil.rmtree(tmp)


def test_an_injected_regression_is_caught_and_noise_is_not(rescored):
    supported = [r["item_id"] for r in rescored.items if r["verdict"] == "supported"]
    assert len(supported) >= 8, "the starter baseline needs faithful answers to inject into"
    victims = set(supported[:8])

    def inject(r):
        if r["item_id"] in victims:
            r["answer"] = r["raw_answer"] = r["answer"] + INVENTED
        return r

    worse = with_answers(rescored, inject)
    result = check_regression(worse, rescored, model="base", tolerance=0.02)
    assert not result.passed and result.regressed
    assert {q["item_id"] for q in result.worse} == victims
    with pytest.raises(AssertionError) as info:
        assert_no_regression(worse, rescored, model="base")
    assert all(v in str(info.value) for v in victims)
    # Noise: one answer made worse, one flagged answer replaced by the refusal sentence.
    flagged = next(r["item_id"] for r in rescored.items if r["verdict"] == "hallucinated")
    one = supported[0]

    def wobble(r):
        if r["item_id"] == one:
            r["answer"] = r["raw_answer"] = r["answer"] + INVENTED
        elif r["item_id"] == flagged:
            r["answer"] = r["raw_answer"] = "The policy does not say."
        return r

    noisy = check_regression(with_answers(rescored, wobble), rescored, model="base", tolerance=0.02)
    assert noisy.passed and len(noisy.worse) == 1

"""Paired statistics on inputs whose answers are known by hand, plus simulation checks
(seeded, so deterministic) that the intervals cover and the power formula holds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats import (
    bootstrap_mean,
    clustered_mean,
    clustered_rate,
    mcnemar_exact,
    mcnemar_required_n,
    paired_bootstrap,
    paired_comparison,
    paired_rate_difference,
    rate,
    wilson_interval,
)


@pytest.mark.parametrize("b,c,p", [
    (0, 0, 1.0),
    (0, 5, 2 / 32),             # 2 * P(X <= 0), X ~ Bin(5, 1/2)
    (1, 9, 2 * 11 / 1024),      # 2 * (C(10,0) + C(10,1)) / 2^10
    (9, 1, 2 * 11 / 1024),      # symmetric
    (3, 3, 1.0),                # 2 * P(X <= 3) > 1 -> capped
    (2, 10, 2 * 79 / 4096),     # C(12,0) + C(12,1) + C(12,2) = 1 + 12 + 66
])
def test_mcnemar_exact(b, c, p):
    assert math.isclose(mcnemar_exact(b, c), p, rel_tol=1e-12)


def test_mcnemar_exact_textbook_decimals():
    # The classic 1 vs 9 discordant pairs: exact two-sided p = 0.021484375 (significant at 5%),
    # and 2 vs 8: 2 * (1 + 10 + 45) / 1024 = 0.109375 (not significant).
    assert math.isclose(mcnemar_exact(1, 9), 0.021484375, rel_tol=1e-12)
    assert math.isclose(mcnemar_exact(2, 8), 0.109375, rel_tol=1e-12)


def test_paired_bootstrap_known_cases():
    same = paired_bootstrap([0.1, 0.5, 0.9], [0.1, 0.5, 0.9])
    assert same == {"value": 0.0, "ci": [0.0, 0.0], "n": 3}
    shifted = paired_bootstrap([0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5])
    assert shifted["value"] == 0.5 and shifted["ci"] == [0.5, 0.5]
    mixed = paired_bootstrap([0.0] * 50 + [1.0] * 50, [1.0] * 100, resamples=1000)
    assert mixed["value"] == 0.5 and mixed["ci"][0] < 0.5 < mixed["ci"][1]
    assert 0.35 < mixed["ci"][0] and mixed["ci"][1] < 0.65
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 2.0])


def test_paired_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(7)
    a, b = rng.random(40).tolist(), rng.random(40).tolist()
    assert paired_bootstrap(a, b, seed=3) == paired_bootstrap(a, b, seed=3)
    assert paired_bootstrap(a, b, seed=3)["ci"] != paired_bootstrap(a, b, seed=4)["ci"]
    assert paired_bootstrap([], []) == {"value": None, "ci": None, "n": 0}


def test_bootstrap_mean_known_cases():
    assert bootstrap_mean([0.3, 0.3, 0.3]) == {"value": 0.3, "ci": [0.3, 0.3], "n": 3}
    # Two items 0 and 1: resampled means are 0, 0.5, 1 with probability 1/4, 1/2, 1/4, so the
    # 2.5th and 97.5th percentiles of 2000 resamples are 0 and 1.
    assert bootstrap_mean([0.0, 1.0]) == {"value": 0.5, "ci": [0.0, 1.0], "n": 2}
    assert bootstrap_mean([]) == {"value": None, "ci": None, "n": 0}
    wide = bootstrap_mean([0.0] * 50 + [1.0] * 50, resamples=1000)
    assert 0.35 < wide["ci"][0] < 0.5 < wide["ci"][1] < 0.65


def test_paired_rate_difference_counts_discordant_pairs():
    a = [True] * 10 + [False] * 10   # e.g. base hallucinated on the first ten
    b = [False] * 9 + [True] * 1 + [False] * 9 + [True]
    out = paired_rate_difference(a, b)
    assert set(out) == {"value", "ci", "n", "only_a", "only_b", "mcnemar_p"}
    assert (out["only_a"], out["only_b"]) == (9, 1)
    assert math.isclose(out["value"], (2 - 10) / 20) and out["n"] == 20
    assert math.isclose(out["mcnemar_p"], 2 * 11 / 1024)
    assert out["ci"][1] < 0  # the improvement is clear even with 20 pairs


# --- power (Connor 1987) ----------------------------------------------------------------

def test_mcnemar_required_n_hand_computed():
    # p10 = 0.05, p01 = 0.15: psi = 0.2, delta = 0.1, psi - delta^2 = 0.19.
    # z_.975 = 1.959964, z_.8 = 0.841621; sqrt(0.2) = 0.447214, sqrt(0.19) = 0.435890.
    # (1.959964 * 0.447214 + 0.841621 * 0.435890)^2 / 0.01 = (0.876522 + 0.366854)^2 / 0.01
    #   = 1.243376^2 / 0.01 = 154.60 -> 155.
    assert mcnemar_required_n(0.05, 0.15) == 155
    assert mcnemar_required_n(0.15, 0.05) == 155  # only |delta| matters
    # p10 = 0, p01 = 0.2: psi = 0.2, delta = 0.2, sqrt(psi - delta^2) = 0.4.
    # (0.876522 + 0.841621 * 0.4)^2 / 0.04 = 1.213170^2 / 0.04 = 36.79 -> 37.
    assert mcnemar_required_n(0.0, 0.2) == 37
    assert mcnemar_required_n(0.1, 0.1) is None
    assert mcnemar_required_n(0.05, 0.15, power=0.9) > 155
    assert mcnemar_required_n(0.05, 0.15, alpha=0.01) > 155
    with pytest.raises(ValueError):
        mcnemar_required_n(0.6, 0.6)


def test_mcnemar_required_n_gives_the_power_it_promises():
    p10, p01 = 0.05, 0.15
    n = mcnemar_required_n(p10, p01)
    rng = np.random.default_rng(12345)
    counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=1000)
    power = np.mean([mcnemar_exact(int(b), int(c)) < 0.05 for b, c, _ in counts])
    # Connor's n is for the asymptotic test. The exact (conditional binomial) test is
    # conservative: summing over all outcomes at n = 155 its power is 0.762, not 0.80, and this
    # seeded simulation gives 0.776 (simulation sd ~0.013). The band is ~3-4 sd around
    # 0.762: it fails if the n were clearly too small (power < 0.72) or too large (> 0.82).
    assert 0.72 <= power <= 0.82, power


# --- coverage ---------------------------------------------------------------------------

def test_paired_comparison_ci_covers_a_known_difference():
    # Joint cells (A, B): P(1,1) = 0.40, P(1,0) = 0.20, P(0,1) = 0.05, P(0,0) = 0.35, so
    # P(A) = 0.6, P(B) = 0.45, correlated pairs, true difference b - a = -0.15.
    rng = np.random.default_rng(2024)
    cells_p = [0.40, 0.20, 0.05, 0.35]
    covered = 0
    for s in range(400):
        cells = rng.choice(4, size=60, p=cells_p)
        a = [[bool(c in (0, 1))] for c in cells]
        b = [[bool(c in (0, 2))] for c in cells]
        lo, hi = paired_comparison(a, b, resamples=1000, seed=s)["ci"]
        covered += lo <= -0.15 <= hi
    assert 0.91 <= covered / 400 <= 0.98, covered / 400


def test_clustered_rate_ci_covers_and_naive_interval_does_not():
    # 60 questions, each with its own hallucination probability p_i ~ Beta(0.4, 0.6) (mean 0.4),
    # answered 3 times. The repeats of one question are correlated (intra-class correlation
    # 1 / (0.4 + 0.6 + 1) = 0.5), so a Wilson interval over all 180 answers is too narrow
    # (design effect 2); the bootstrap over questions is not.
    rng = np.random.default_rng(99)
    covered = naive_covered = 0
    for s in range(400):
        p = rng.beta(0.4, 0.6, size=60)
        outcomes = (rng.random((60, 3)) < p[:, None]).tolist()
        out = clustered_rate(outcomes, resamples=1000, seed=s)
        covered += out["ci"][0] <= 0.4 <= out["ci"][1]
        lo, hi = wilson_interval(out["count"], 180)
        naive_covered += lo <= 0.4 <= hi
    assert 0.91 <= covered / 400 <= 0.98, covered / 400
    assert naive_covered / 400 < 0.90, naive_covered / 400


# --- repeats ----------------------------------------------------------------------------

def test_clustered_rate_by_hand():
    outcomes = [[True, True, False], [False, False, False], [True, False, True], [True, True, True]]
    out = clustered_rate(outcomes)
    # 2 + 0 + 2 + 3 = 7 positives of 12; repeat rates over the 4 questions: 3/4, 2/4, 2/4.
    assert out["count"] == 7 and out["n"] == 4 and out["repeats"] == 3
    assert math.isclose(out["value"], 7 / 12)
    ov = out["over_repeats"]
    assert ov["values"] == [0.75, 0.5, 0.5]
    assert math.isclose(ov["mean"], 7 / 12)
    # deviations from 7/12: +1/6, -1/12, -1/12; squares sum to 1/24; / (3 - 1) = 1/48
    assert math.isclose(ov["sd"], math.sqrt(1 / 48))
    assert (ov["min"], ov["max"]) == (0.5, 0.75)
    assert 0.0 <= out["ci"][0] < 7 / 12 < out["ci"][1] <= 1.0

    # Every question is positive in exactly one of its two repeats: per-question rates are all
    # 0.5, so resampling questions cannot move the rate (ci [0.5, 0.5]); the variation is
    # between repeats (2/3 vs 1/3, sample sd = (1/3) / sqrt(2)).
    swap = clustered_rate([[True, False], [False, True], [True, False]])
    assert swap["value"] == 0.5 and swap["ci"] == [0.5, 0.5] and swap["count"] == 3
    assert swap["over_repeats"]["values"] == pytest.approx([2 / 3, 1 / 3])
    assert math.isclose(swap["over_repeats"]["sd"], (1 / 3) / math.sqrt(2))


def test_clustered_rate_one_repeat_is_wilson():
    assert clustered_rate([[True], [False], [True]]) == {**rate(2, 3), "repeats": 1}
    with pytest.raises(ValueError):
        clustered_rate([[True, False], [True]])
    with pytest.raises(ValueError):
        clustered_rate([True, False])  # not one list per question


def test_clustered_mean_by_hand():
    out = clustered_mean([[0.5, 1.0], [0.0, 0.5], [1.0, 1.0]])
    # all six values sum to 4 -> 2/3; repeat means (0.5 + 0 + 1)/3 = 0.5 and (1 + 0.5 + 1)/3 = 5/6
    assert "count" not in out and out["n"] == 3 and out["repeats"] == 2
    assert math.isclose(out["value"], 2 / 3)
    ov = out["over_repeats"]
    assert ov["values"] == pytest.approx([0.5, 5 / 6])
    assert math.isclose(ov["mean"], 2 / 3)
    assert math.isclose(ov["sd"], (5 / 6 - 0.5) / math.sqrt(2))
    assert ov["min"] == 0.5 and math.isclose(ov["max"], 5 / 6)
    assert 0.0 <= out["ci"][0] < 2 / 3 < out["ci"][1] <= 1.0
    assert clustered_mean([[0.2], [0.4], [0.9]]) == {**bootstrap_mean([0.2, 0.4, 0.9]), "repeats": 1}


# --- paired_comparison ------------------------------------------------------------------

def test_paired_comparison_majority_with_ties_positive():
    a = [[True, False], [True, True], [False, False]]    # majority: tie -> True, True, False
    b = [[False, False], [True, False], [False, True]]   # majority: False, tie -> True, tie -> True
    out = paired_comparison(a, b)
    assert (out["only_a"], out["only_b"]) == (1, 1) and out["repeats"] == 2 and out["n"] == 3
    # per-question rates a: 0.5, 1, 0; b: 0, 0.5, 0.5 -> differences -0.5, -0.5, +0.5
    assert math.isclose(out["value"], -1 / 6)
    # with three repeats a 2-of-3 question is positive, a 1-of-3 question negative
    odd = paired_comparison([[True, True, False]], [[True, False, False]])
    assert (odd["only_a"], odd["only_b"]) == (1, 0)


def test_paired_comparison_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        paired_comparison([[True]], [[True], [False]])
    with pytest.raises(ValueError):
        paired_comparison([[True, False]], [[True]])       # A and B differ in repeats
    with pytest.raises(ValueError):
        paired_comparison([[True, False], [True]], [[True, False], [True, True]])


def test_paired_comparison_significant_note():
    a = [[True]] * 10 + [[False]] * 10
    b = [[False]] * 9 + [[True]] + [[False]] * 9 + [[True]]
    out = paired_comparison(a, b)
    lo, hi = out["ci"]
    assert out["significant"] and hi < 0 and math.isclose(out["mcnemar_p"], 0.021484375)
    assert out["note"] == f"B is 40.0 points lower (95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}], McNemar p = 0.021)."
    # psi = 10/20 = 0.5, delta = 8/20 = 0.4, sqrt(psi - delta^2) = sqrt(0.34) = 0.583095:
    # (1.959964 * 0.707107 + 0.841621 * 0.583095)^2 / 0.16 = 1.876641^2 / 0.16 = 22.01 -> 23 > 20,
    # so significant and still flagged underpowered (the observed effect may be a lucky one).
    assert out["required_n"] == 23 and out["underpowered"]
    flipped = paired_comparison(b, a)
    assert flipped["note"].startswith("B is 40.0 points higher (95% CI [+")


def test_paired_comparison_large_clear_difference_is_not_underpowered():
    a = [[True]] * 20 + [[False]] * 20     # 40 questions, 18 positive only under A, none only under B
    b = [[True]] * 2 + [[False]] * 38
    out = paired_comparison(a, b)
    # psi = delta = 0.45, sqrt(psi - delta^2) = sqrt(0.2475) = 0.497494, sqrt(0.45) = 0.670820:
    # (1.959964 * 0.670820 + 0.841621 * 0.497494)^2 / 0.2025 = 1.733481^2 / 0.2025 = 14.84 -> 15
    assert out["required_n"] == 15 and not out["underpowered"] and out["significant"]
    assert out["mcnemar_p"] == 2 / 2 ** 18
    assert out["note"].startswith("B is 45.0 points lower (95% CI [") and out["note"].endswith("McNemar p < 0.001).")


def test_paired_comparison_within_noise_note():
    # 29 questions; 2 only positive under A, 3 only under B, 24 concordant.
    a = [[True]] * 2 + [[False]] * 3 + [[True]] * 10 + [[False]] * 14
    b = [[False]] * 2 + [[True]] * 3 + [[True]] * 10 + [[False]] * 14
    out = paired_comparison(a, b)
    lo, hi = out["ci"]
    assert (out["only_a"], out["only_b"]) == (2, 3) and out["mcnemar_p"] == 1.0
    # psi = 5/29, delta = 1/29, sqrt(psi - delta^2) = 12/29:
    # (1.959964 * 0.415227 + 0.841621 * 0.413793)^2 * 29^2 = 1.162087^2 * 841 = 1135.7 -> 1136
    assert out["required_n"] == 1136 and out["underpowered"] and not out["significant"]
    assert out["note"] == (
        f"within noise: the 95% CI [{100 * lo:+.1f}, {100 * hi:+.1f}] points includes 0 (McNemar p = 1.00); "
        "about 1136 questions would be needed to detect a 3.4-point difference at 80% power, this set has 29.")


def test_paired_comparison_no_difference_and_balanced_notes():
    same = [[True], [False], [True], [False]]
    out = paired_comparison(same, same)
    assert out["note"] == "no difference: every question got the same outcome under both"
    assert out["value"] == 0.0 and out["ci"] == [0.0, 0.0] and out["mcnemar_p"] == 1.0
    assert out["required_n"] is None and out["underpowered"] and not out["significant"]
    # one question each way: the difference is 0 but the outcomes are not the same
    bal = paired_comparison([[True], [False], [True], [False]], [[False], [True], [True], [False]])
    assert bal["required_n"] is None and bal["underpowered"]
    assert bal["note"].startswith("within noise:") and "split evenly (1 each way)" in bal["note"]


def test_paired_comparison_significant_needs_both_ci_and_mcnemar():
    # 4 questions, all positive only under B: every resample has difference +1, so the CI is
    # [1, 1] and excludes 0, but 4 discordant pairs cannot reach McNemar p < 0.05 (p = 1/8).
    out = paired_comparison([[False]] * 4, [[True]] * 4)
    assert out["ci"] == [1.0, 1.0] and math.isclose(out["mcnemar_p"], 0.125)
    assert not out["significant"] and out["note"].startswith("inconclusive:")


def test_paired_comparison_too_few_discordant_pairs_note():
    out = paired_comparison([[False]] * 4, [[True]] * 4)
    # Connor's asymptotic formula says 4 pairs (psi = delta = 1), but with 4 discordant pairs the
    # smallest exact p is 2 / 2^4 = 0.125, and the note says so instead of claiming enough power.
    assert out["required_n"] == 4 and not out["underpowered"]
    assert out["note"].endswith("only 4 questions differ, too few for the exact McNemar test ever to reach p < 0.05.")


def test_paired_comparison_significant_needs_ci_excluding_zero():
    # Three repeats. 10 questions go from 1/3 positive under A to 2/3 under B (majority flips to
    # B: only_b = 10, McNemar p = 2 / 2^10) and 10 go from 1/3 to 0/3 (majority negative under
    # both). The rate differences cancel, value = 0, so the CI includes 0: not significant.
    a = [[True, False, False]] * 20
    b = [[True, True, False]] * 10 + [[False, False, False]] * 10
    out = paired_comparison(a, b)
    assert (out["only_a"], out["only_b"], out["repeats"]) == (0, 10, 3)
    assert math.isclose(out["mcnemar_p"], 2 / 1024) and abs(out["value"]) < 1e-12
    assert out["ci"][0] < 0 < out["ci"][1] and not out["significant"]
    assert out["note"].startswith("inconclusive: the 95% CI [") and "includes 0 although McNemar p = 0.002" in out["note"]


def test_paired_comparison_repeats_balanced_majority_note():
    # Majority outcomes agree on every question, yet B's rate is higher: the note says McNemar
    # cannot see it rather than calling the difference zero.
    a = [[True, False, True]] * 10 + [[False, False, True]] * 20
    b = [[True, True, True]] * 10 + [[True, False, False]] * 20
    out = paired_comparison(a, b)
    assert (out["only_a"], out["only_b"]) == (0, 0) and math.isclose(out["value"], 1 / 9)
    assert out["required_n"] is None and out["underpowered"] and not out["significant"]
    assert out["note"].endswith("so McNemar and the power estimate cannot see the difference in rates.")

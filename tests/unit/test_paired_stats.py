"""Paired statistics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import pytest

from harness.stats import mcnemar_exact, paired_bootstrap, paired_rate_difference


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


def test_paired_rate_difference_counts_discordant_pairs():
    a = [True] * 10 + [False] * 10   # e.g. base hallucinated on the first ten
    b = [False] * 9 + [True] * 1 + [False] * 9 + [True]
    out = paired_rate_difference(a, b)
    assert (out["only_a"], out["only_b"]) == (9, 1)
    assert math.isclose(out["value"], (2 - 10) / 20) and out["n"] == 20
    assert math.isclose(out["mcnemar_p"], 2 * 11 / 1024)
    assert out["ci"][1] < 0  # the improvement is clear even with 20 pairs

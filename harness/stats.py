"""Small, exact statistics. Confidence intervals are 95% unless stated."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; stays inside [0, 1] and behaves at 0 and n."""
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, n: int) -> dict:
    """A proportion as stored in results: {value, ci: [lo, hi], n, count}; value is null when n == 0."""
    if n == 0:
        return {"value": None, "ci": None, "n": 0, "count": 0}
    lo, hi = wilson_interval(successes, n)
    return {"value": successes / n, "ci": [lo, hi], "n": n, "count": successes}


def mean(values: list[float]) -> dict:
    """A mean as stored in results: {value, n}; value is null for no values."""
    return {"value": (sum(values) / len(values)) if values else None, "n": len(values)}


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test: the p-value of b vs c discordant pairs under
    Binomial(b + c, 1/2). b: pairs where only the first is positive; c: only the second."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of b - a over paired items, with a percentile bootstrap 95% interval that
    resamples items (questions), so both sides move together."""
    import random

    if len(a) != len(b):
        raise ValueError(f"paired lists differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return {"value": None, "ci": None, "n": 0}
    diffs = [y - x for x, y in zip(a, b)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo, hi = means[int(0.025 * (resamples - 1))], means[int(math.ceil(0.975 * (resamples - 1)))]
    return {"value": sum(diffs) / n, "ci": [lo, hi], "n": n}


def paired_rate_difference(a: list[bool], b: list[bool], resamples: int = 2000, seed: int = 0) -> dict:
    """Two models' yes/no outcomes (e.g. hallucinated) on the same items: the difference of
    rates (b - a) with a paired bootstrap interval, the discordant counts, and the exact
    McNemar p-value."""
    diff = paired_bootstrap([float(x) for x in a], [float(y) for y in b], resamples, seed)
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    return {**diff, "only_a": only_a, "only_b": only_b, "mcnemar_p": mcnemar_exact(only_a, only_b)}

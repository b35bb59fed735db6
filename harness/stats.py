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

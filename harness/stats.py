"""Small, exact statistics. Confidence intervals are 95% unless stated.

Bootstrap intervals are percentile intervals over items (questions), drawn with
numpy's default_rng(seed), so a result is deterministic for a given seed.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

Z95 = 1.959963984540054

# Bootstrap resamples are drawn as one (resamples, n) index matrix; above this many cells
# it is drawn in row blocks instead (same seed -> same result; only memory changes).
_BOOTSTRAP_MAX_CELLS = 1 << 23


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


def mcnemar_required_n(p10: float, p01: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Pairs needed for a two-sided McNemar test at level alpha to reach the given power
    (Connor 1987): n = (z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - delta^2))^2 / delta^2,
    with psi = p10 + p01 (the discordant proportion) and delta = p01 - p10. Rounded up;
    None when delta == 0 (no difference to detect). The formula is for the asymptotic test;
    the exact test is a little conservative, so its power at this n is a little lower."""
    if not (0 <= p10 <= 1 and 0 <= p01 <= 1 and p10 + p01 <= 1 + 1e-12):
        raise ValueError(f"p10, p01 must be probabilities with p10 + p01 <= 1, got {p10}, {p01}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    delta = p01 - p10
    if delta == 0:
        return None
    psi = p10 + p01
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    n = (z_alpha * math.sqrt(psi) + z_power * math.sqrt(max(0.0, psi - delta * delta))) ** 2 / delta ** 2
    return math.ceil(n)


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` resamples (with replacement) of a 1-d array, sorted."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(values)
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_MAX_CELLS // n)
    blocks = []
    for start in range(0, resamples, rows):
        idx = rng.integers(0, n, size=(min(rows, resamples - start), n))
        blocks.append(values[idx].mean(axis=1))
    return np.sort(np.concatenate(blocks))


def _percentile_ci(sorted_means: np.ndarray) -> list[float]:
    """The 2.5th and 97.5th percentiles of sorted bootstrap statistics (lower index rounded
    down, upper rounded up, so the interval errs wide)."""
    r = len(sorted_means)
    return [float(sorted_means[int(0.025 * (r - 1))]), float(sorted_means[int(math.ceil(0.975 * (r - 1)))])]


def bootstrap_mean(values: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """A mean over items (e.g. token F1 over questions) with a percentile bootstrap 95%
    interval that resamples items: {value, ci: [lo, hi], n}; value and ci are null for no values."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError("bootstrap_mean takes a flat list of numbers")
    n = len(arr)
    if n == 0:
        return {"value": None, "ci": None, "n": 0}
    return {"value": float(arr.sum() / n), "ci": _percentile_ci(_bootstrap_means(arr, resamples, seed)), "n": n}


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of b - a over paired items, with a percentile bootstrap 95% interval that
    resamples items (questions), so both sides move together."""
    if len(a) != len(b):
        raise ValueError(f"paired lists differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return {"value": None, "ci": None, "n": 0}
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return {"value": float(diffs.sum() / n), "ci": _percentile_ci(_bootstrap_means(diffs, resamples, seed)), "n": n}


def _repeat_matrix(rows: list[list], what: str = "outcomes") -> np.ndarray:
    """Per-question lists of per-repeat values as an (n questions, R repeats) float array;
    every question must have the same number R >= 1 of repeats."""
    if len(rows) == 0:
        return np.zeros((0, 0))
    lengths = set()
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise ValueError(f"{what}[{i}] must be a list of per-repeat values, got {row!r}")
        lengths.add(len(row))
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"every question needs the same number (>= 1) of repeats; got lengths {sorted(lengths)}")
    return np.asarray([[float(x) for x in row] for row in rows], dtype=float)


def _over_repeats(matrix: np.ndarray) -> dict:
    """How the per-repeat value (the mean over questions of repeat r) varies across repeats."""
    per_repeat = matrix.mean(axis=0)
    return {"values": [float(v) for v in per_repeat], "mean": float(per_repeat.mean()),
            "sd": float(per_repeat.std(ddof=1)), "min": float(per_repeat.min()), "max": float(per_repeat.max())}


def clustered_rate(outcomes: list[list[bool]], resamples: int = 2000, seed: int = 0) -> dict:
    """A yes/no rate when each question was answered R times (outcomes[i] = one bool per
    repeat). R == 1: exactly rate() (Wilson) plus "repeats": 1. R > 1: the mean over all
    question x repeat outcomes, with a percentile bootstrap 95% interval over questions (a
    resampled question brings all its repeats, since repeats of one question are not
    independent), "count" of all positives, and "over_repeats": the rate of each repeat
    over questions and their mean, sample sd, min and max."""
    m = _repeat_matrix(outcomes)
    n = m.shape[0]
    if n == 0:
        return {**rate(0, 0), "repeats": 0}
    repeats = m.shape[1]
    count = int(m.sum())
    if repeats == 1:
        return {**rate(count, n), "repeats": 1}
    ci = _percentile_ci(_bootstrap_means(m.mean(axis=1), resamples, seed))
    return {"value": count / (n * repeats), "ci": ci, "n": n, "count": count, "repeats": repeats,
            "over_repeats": _over_repeats(m)}


def clustered_mean(values: list[list[float]], resamples: int = 2000, seed: int = 0) -> dict:
    """A real-valued mean (e.g. token F1) when each question was answered R times
    (values[i] = one number per repeat). R == 1: bootstrap_mean plus "repeats": 1. R > 1:
    the mean over all question x repeat values with a bootstrap interval over questions and
    "over_repeats", as in clustered_rate."""
    m = _repeat_matrix(values, "values")
    n = m.shape[0]
    if n == 0:
        return {"value": None, "ci": None, "n": 0, "repeats": 0}
    repeats = m.shape[1]
    if repeats == 1:
        return {**bootstrap_mean(m[:, 0], resamples, seed), "repeats": 1}
    ci = _percentile_ci(_bootstrap_means(m.mean(axis=1), resamples, seed))
    return {"value": float(m.mean()), "ci": ci, "n": n, "repeats": repeats, "over_repeats": _over_repeats(m)}


def _fmt_p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.2f}" if p >= 0.1 else f"= {p:.2g}"


def _comparison_note(value: float, ci: list[float], n: int, only_a: int, only_b: int, p: float,
                     required_n: int | None, significant: bool, alpha: float, power: float,
                     identical: bool, repeats: int) -> str:
    if identical:
        return "no difference: every question got the same outcome under both"
    ci_text = f"95% CI [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
    if significant:
        direction = "lower" if value < 0 else "higher"
        return f"B is {100 * abs(value):.1f} points {direction} ({ci_text}, McNemar p {_fmt_p(p)})."
    ci_has_zero = ci[0] <= 0 <= ci[1]
    if ci_has_zero and p >= alpha:
        head = f"within noise: the {ci_text} points includes 0 (McNemar p {_fmt_p(p)})"
    elif ci_has_zero:
        head = f"inconclusive: the {ci_text} points includes 0 although McNemar p {_fmt_p(p)}"
    else:
        head = f"inconclusive: the {ci_text} points excludes 0 but McNemar p {_fmt_p(p)} is not below {alpha:g}"
    if required_n is None:
        if repeats == 1:
            return (f"{head}; the questions that differ split evenly ({only_a} each way), so there is no "
                    f"observed difference to size a larger set for.")
        return (f"{head}; the per-question majority outcomes differ equally often each way ({only_a} vs "
                f"{only_b}), so McNemar and the power estimate cannot see the difference in rates.")
    effect = 100 * abs(only_b - only_a) / n
    if required_n > n:
        return (f"{head}; about {required_n} questions would be needed to detect a {effect:.1f}-point "
                f"difference at {power:.0%} power, this set has {n}.")
    discordant = only_a + only_b
    if 2 / 2 ** discordant >= alpha:  # the smallest two-sided exact p with this many discordant pairs
        return (f"{head}; only {discordant} questions differ, too few for the exact McNemar test ever to "
                f"reach p < {alpha:g}.")
    return (f"{head}; about {required_n} questions give {power:.0%} power for a {effect:.1f}-point "
            f"difference and this set has {n}, so a difference that large would usually have been detected.")


def paired_comparison(a: list[list[bool]], b: list[list[bool]], resamples: int = 2000, seed: int = 0,
                      alpha: float = 0.05, power: float = 0.8) -> dict:
    """Conditions A and B on the same questions (same order), each question answered R times:
    a[i], b[i] = the per-repeat yes/no outcomes of question i under A and under B.

    "value" is rate(B) - rate(A), the mean over questions of the per-question difference of
    mean outcomes, with a paired percentile bootstrap 95% interval over questions ("ci").
    For McNemar and the power calculation each question gets one outcome per condition: with
    R == 1 the outcome itself; with R > 1 the majority over repeats, where a tie (R even, half
    positive) counts as positive. "only_a"/"only_b" count questions positive only under A / only
    under B; "mcnemar_p" is the exact McNemar p on them; "required_n" is mcnemar_required_n at
    the observed discordant proportions (None when only_a == only_b); "underpowered" is true when
    required_n is None or exceeds n; "significant" needs both the 95% CI to exclude 0 and
    mcnemar_p < alpha (alpha governs the McNemar test and the power calculation; the CI stays
    95%). "note" is one sentence for a report, rates in percentage points, "b" meaning B; the
    point difference it quotes next to required_n is the one McNemar sees, (only_b - only_a) / n,
    which equals |value| when R == 1."""
    if len(a) != len(b):
        raise ValueError(f"paired lists differ in length: {len(a)} vs {len(b)} questions")
    ma, mb = _repeat_matrix(a, "a"), _repeat_matrix(b, "b")
    n = ma.shape[0]
    if n == 0:
        return {"value": None, "ci": None, "n": 0, "repeats": 0, "only_a": 0, "only_b": 0, "mcnemar_p": 1.0,
                "required_n": None, "underpowered": True, "significant": False, "note": "no questions to compare"}
    if ma.shape[1] != mb.shape[1]:
        raise ValueError(f"A and B differ in repeats per question: {ma.shape[1]} vs {mb.shape[1]}")
    repeats = ma.shape[1]
    qa, qb = ma.mean(axis=1), mb.mean(axis=1)
    diff = paired_bootstrap(qa, qb, resamples, seed)
    pos_a, pos_b = qa >= 0.5, qb >= 0.5  # R == 1: the outcome; R > 1: majority, tie -> positive
    only_a = int(np.sum(pos_a & ~pos_b))
    only_b = int(np.sum(pos_b & ~pos_a))
    p = mcnemar_exact(only_a, only_b)
    required_n = mcnemar_required_n(only_a / n, only_b / n, alpha, power)
    ci = diff["ci"]
    significant = (ci[0] > 0 or ci[1] < 0) and p < alpha
    identical = only_a == only_b == 0 and bool(np.all(qa == qb))
    note = _comparison_note(diff["value"], ci, n, only_a, only_b, p, required_n, significant, alpha, power,
                            identical, repeats)
    return {"value": diff["value"], "ci": ci, "n": n, "repeats": repeats, "only_a": only_a, "only_b": only_b,
            "mcnemar_p": p, "required_n": required_n, "underpowered": required_n is None or required_n > n,
            "significant": significant, "note": note}


def paired_rate_difference(a: list[bool], b: list[bool], resamples: int = 2000, seed: int = 0) -> dict:
    """Two models' yes/no outcomes (e.g. hallucinated) on the same items: the difference of
    rates (b - a) with a paired bootstrap interval, the discordant counts, and the exact
    McNemar p-value. (paired_comparison with one repeat, keeping this older return format.)"""
    if len(a) != len(b):
        raise ValueError(f"paired lists differ in length: {len(a)} vs {len(b)}")
    out = paired_comparison([[bool(x)] for x in a], [[bool(y)] for y in b], resamples, seed)
    return {k: out[k] for k in ("value", "ci", "n", "only_a", "only_b", "mcnemar_p")}

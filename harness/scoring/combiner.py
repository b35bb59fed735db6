"""The learned combiner: claim features -> P(the claim is unsupported).

A logistic regression over harness.scoring.features.FEATURES (standardised), fitted by
`harness scorer fit` on the training parts of the labelled sets (harness.scoring.parts) and
saved as data: harness/scoring/data/combiner.json holds, per variant ("full"; "lexical" for
--no-embeddings), the feature names, means, scales, coefficients and intercept, plus the
decision threshold chosen on the fitting part and what it was fitted on. Its version (a hash of
that file) is recorded with every verdict, so a refit is visible in results and in the score
cache key.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.errors import HarnessError

SHIPPED = Path(__file__).parent / "data" / "combiner.json"


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, values: dict[str, float]) -> float:
        z = self.intercept
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            z += c * (values[name] - m) / s
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict) -> "LogisticModel":
        return cls(tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]), float(d["intercept"]))


@dataclass(frozen=True)
class Variant:
    """Two stages: claim features -> P(claim unsupported); the answer's claim probabilities (and a
    few answer features) -> P(answer hallucinated). Hallucinated when 1 - P < threshold."""

    claim: LogisticModel
    answer: LogisticModel
    threshold: float
    claim_threshold: float  # in a hallucinated answer, claims below this support are marked

    def to_dict(self) -> dict:
        return {"claim": self.claim.to_dict(), "answer": self.answer.to_dict(), "threshold": self.threshold,
                "claim_threshold": self.claim_threshold}

    @classmethod
    def from_dict(cls, d: dict) -> "Variant":
        return cls(LogisticModel.from_dict(d["claim"]), LogisticModel.from_dict(d["answer"]), float(d["threshold"]),
                   float(d["claim_threshold"]))


@dataclass(frozen=True)
class Combiner:
    variants: dict[str, Variant]
    version: str
    meta: dict = field(default_factory=dict)

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise HarnessError(f"the combiner has no {name!r} variant (has: {', '.join(self.variants)})")
        return self.variants[name]

    def to_dict(self) -> dict:
        return {"variants": {k: v.to_dict() for k, v in self.variants.items()}, "meta": self.meta}


def load_combiner(path: str | Path | None = None) -> Combiner:
    p = Path(path) if path else SHIPPED
    if not p.exists():
        raise HarnessError(f"combiner coefficients not found: {p} (run `harness scorer fit`)")
    raw = p.read_bytes()
    try:
        data = json.loads(raw)
        variants = {k: Variant.from_dict(v) for k, v in data["variants"].items()}
    except (ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"not a combiner file: {e}", p) from None
    return Combiner(variants, "c:" + hashlib.sha256(raw).hexdigest()[:12], data.get("meta", {}))


def fit_logistic(X: Sequence[Sequence[float]], y: Sequence[int], features: Sequence[str], C: float = 1.0,
                 sample_weight: Sequence[float] | None = None) -> LogisticModel:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, dtype="float64")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    clf.fit((X - mean) / scale, np.asarray(y), sample_weight=None if sample_weight is None else np.asarray(sample_weight))
    return LogisticModel(tuple(features), tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                         tuple(float(v) for v in clf.coef_[0]), float(clf.intercept_[0]))

"""Fit the combiner on labelled answers (`harness scorer fit`).

Claims of the labelled sets' training part (harness.scoring.parts: never the held-out part)
get their features from the scorer and a label from the answer's spans
(harness.scoring.labels.record_spans); a logistic regression per variant ("full" with
the embedding features, "lexical" without) is fitted on them, its regularisation chosen by
question-grouped cross-validation; then the answer threshold is chosen on the same part, each
labelled set weighted equally so the 1,375 perturbations do not outvote the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from harness.scoring.batch import ScoreInput, binary_metrics
from harness.scoring.combiner import Combiner, LogisticModel, Variant, fit_logistic
from harness.scoring.labels import record_spans
from harness.scoring.features import ANSWER_FEATURES, FEATURES, answer_features
from harness.scoring.parts import part_of

LEXICAL_FEATURES = tuple(f for f in FEATURES if not f.startswith(("align_", "cos_")))  # "rules" falls back to overlap alone
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def _zero(features: Sequence[str]) -> LogisticModel:
    n = len(features)
    return LogisticModel(tuple(features), (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0)


def neutral_combiner() -> Combiner:
    """Every claim P = 0.5: what `collect` scores with, since features do not depend on the combiner."""
    v = Variant(_zero(FEATURES), _zero(ANSWER_FEATURES), 0.5, 0.5)
    return Combiner({"full": v, "lexical": v}, "c:neutral")


@dataclass
class ClaimRow:
    set_name: str
    record_id: str
    group: str
    features: dict[str, float]
    label: int  # 1 unsupported


@dataclass
class AnswerRow:
    set_name: str
    record_id: str
    group: str
    hallucinated: bool
    refusal: bool  # the answer holds a refusal sentence
    claims: list[dict[str, float]]  # features of its checkable claims


def collect(sets: dict[str, list[ScoreInput]], scorer, parts: Sequence[str] = ("dev",),
            progress: Callable[[str], None] | None = None) -> tuple[list[ClaimRow], list[AnswerRow]]:
    """Features of every checkable claim of the answers in `parts`, labelled where known."""
    say = progress or (lambda s: None)
    claims: list[ClaimRow] = []
    answers: list[AnswerRow] = []
    for name, rows in sets.items():
        records = [r.record for r in rows]
        golds = {str(r.get("group")): r["answer"] for r in records if r.get("kind") == "gold" and not r.get("hallucinated")}
        chosen = [r for r in rows if part_of(r.record) in parts]
        started = time.perf_counter()
        scorer.prepare([(r.answer, r.passages, r.record.get("question", "")) for r in chosen])
        for r in chosen:
            analysed = scorer.analyse(r.answer, r.passages, r.record.get("question", ""))
            checked = [c for c in analysed if c.kind == "claim"]
            answers.append(AnswerRow(name, str(r.record["id"]), str(r.record.get("group", r.record["id"])),
                                     bool(r.record["hallucinated"]),
                                     any(c.kind == "refusal" for c in analysed), [c.features for c in checked]))
            spans = record_spans(r.record, golds)
            if spans is None:
                if len(checked) == 1:
                    claims.append(ClaimRow(name, str(r.record["id"]), str(r.record.get("group", r.record["id"])),
                                           checked[0].features, 1))
                continue
            for c in checked:
                bad = any(s < c.claim.end and c.claim.start < e for s, e in spans)
                claims.append(ClaimRow(name, str(r.record["id"]), str(r.record.get("group", r.record["id"])),
                                       c.features, int(bad)))
        say(f"{name}: {len(chosen)} answers, {time.perf_counter() - started:.0f} s")
    return claims, answers


def _weights(rows: Sequence[ClaimRow | AnswerRow]) -> list[float]:
    """Each labelled set weighs the same in total."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.set_name] = counts.get(r.set_name, 0) + 1
    return [len(rows) / (len(counts) * counts[r.set_name]) for r in rows]


def grouped_cv_predictions(rows: Sequence[ClaimRow], features: Sequence[str], C: float, folds: int = 5):
    """Out-of-fold P(unsupported) per claim, folds by question."""
    import numpy as np

    groups = sorted({r.group for r in rows})
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    y = np.array([r.label for r in rows])
    pred = np.zeros(len(rows))
    w = _weights(rows)
    for k in range(folds):
        train = [i for i, r in enumerate(rows) if fold_of[r.group] != k]
        test = [i for i, r in enumerate(rows) if fold_of[r.group] == k]
        if not test or len(set(y[train])) < 2:
            continue
        model = fit_logistic([[rows[i].features[f] for f in features] for i in train], y[train], features, C,
                             [w[i] for i in train])
        for i in test:
            pred[i] = model.probability(rows[i].features)
    return pred


def claim_flag_threshold(rows: Sequence[ClaimRow], pred) -> float:
    """The claim support below which a claim of a hallucinated answer is marked: the one that
    maximises claim-level F1 (set-weighted) on out-of-fold predictions."""
    w = _weights(rows)
    best, best_f1 = 0.5, -1.0
    for p in sorted(set(round(float(x), 3) for x in pred)):
        tp = sum(wi for r, x, wi in zip(rows, pred, w) if x >= p and r.label)
        fp = sum(wi for r, x, wi in zip(rows, pred, w) if x >= p and not r.label)
        fn = sum(wi for r, x, wi in zip(rows, pred, w) if x < p and r.label)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = 1.0 - p + 1e-6, f1
    return best


def grouped_cv_auc(rows: Sequence[ClaimRow], features: Sequence[str], C: float, folds: int = 5) -> float:
    from sklearn.metrics import roc_auc_score

    pred = grouped_cv_predictions(rows, features, C, folds)
    return float(roc_auc_score([r.label for r in rows], pred, sample_weight=_weights(rows)))


def out_of_fold_answers(claims: Sequence[ClaimRow], answers: Sequence[AnswerRow], features: Sequence[str], C: float,
                        folds: int = 5) -> list[dict[str, float]]:
    """Answer features with claim probabilities from claim models that never saw the answer's
    question: the answer model must learn how far to trust claim probabilities on new data."""
    groups = sorted({a.group for a in answers} | {c.group for c in claims})
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    out: list[dict[str, float] | None] = [None] * len(answers)
    for k in range(folds):
        train = [c for c in claims if fold_of[c.group] != k]
        model = fit_logistic([[c.features[f] for f in features] for c in train], [c.label for c in train],
                             features, C, _weights(train))
        for i, a in enumerate(answers):
            if fold_of[a.group] == k:
                out[i] = answer_features([model.probability(f) for f in a.claims], a.claims, a.refusal)
    return [o for o in out if o is not None]


def set_weighted_kappa(labels: Sequence[bool], flagged: Sequence[bool], sets: Sequence[str]) -> float:
    """Mean over labelled sets of Cohen's kappa: each set counts once, whatever its size and
    base rate (F1 would reward flagging everything on the sets that are mostly hallucinated)."""
    values = []
    for name in sorted(set(sets)):
        idx = [i for i, s in enumerate(sets) if s == name]
        values.append(binary_metrics([labels[i] for i in idx], [flagged[i] for i in idx])["kappa"])
    return sum(values) / len(values) if values else 0.0


def choose_threshold(probabilities: Sequence[float], answers: Sequence[AnswerRow]) -> tuple[float, dict]:
    """The support threshold (support = 1 - P(hallucinated)) maximising the set-averaged kappa."""
    labels = [a.hallucinated for a in answers]
    sets = [a.set_name for a in answers]
    best, best_k = 0.5, -2.0
    for p in sorted(set(round(x, 4) for x in probabilities)):
        t = 1.0 - p + 1e-6  # flag when support < t, i.e. P >= p
        flagged = [1.0 - x < t for x in probabilities]
        k = set_weighted_kappa(labels, flagged, sets)
        if k > best_k:
            best, best_k = t, k
    flagged = [1.0 - x < best for x in probabilities]
    return best, {"mean_kappa": round(best_k, 4), **binary_metrics(labels, flagged)}


def fit_combiner(claims: Sequence[ClaimRow], answers: Sequence[AnswerRow], progress: Callable[[str], None] | None = None,
                 meta: dict | None = None) -> Combiner:
    say = progress or (lambda s: None)
    variants, report = {}, {}
    for variant, features in (("full", FEATURES), ("lexical", LEXICAL_FEATURES)):
        aucs = {C: grouped_cv_auc(claims, features, C) for C in C_GRID}
        C = max(aucs, key=lambda c: (round(aucs[c], 4), -c))
        claim_model = fit_logistic([[r.features[f] for f in features] for r in claims], [r.label for r in claims],
                                   features, C, _weights(claims))
        oof = out_of_fold_answers(claims, answers, features, C)
        answer_model = fit_logistic([[a[f] for f in ANSWER_FEATURES] for a in oof], [a.hallucinated for a in answers],
                                    ANSWER_FEATURES, 1.0, _weights(answers))
        probabilities = [answer_model.probability(a) for a in oof]
        threshold, fit_metrics = choose_threshold(probabilities, answers)
        claim_threshold = claim_flag_threshold(claims, grouped_cv_predictions(claims, features, C))
        variants[variant] = Variant(claim_model, answer_model, round(threshold, 4), round(claim_threshold, 4))
        report[variant] = {"C": C, "claim_threshold": round(claim_threshold, 4), "cv_claim_auc": {str(c): round(a, 4) for c, a in aucs.items()}, "answers": fit_metrics}
        say(f"{variant}: C {C}, grouped-CV claim AUC {aucs[C]:.3f}, threshold {threshold:.4f}, "
            f"fit-part mean kappa {fit_metrics['mean_kappa']:.3f}, F1 {fit_metrics['f1']:.3f}")
    info = {"claims": len(claims), "unsupported_claims": sum(r.label for r in claims), "answers": len(answers),
            "sets": sorted({r.set_name for r in answers}), "fit": report, **(meta or {})}
    return Combiner(variants, "c:unsaved", info)


def fit_labeled(sets: dict[str, list[ScoreInput]], embedder: str = "all-minilm-l6-v2",
                progress: Callable[[str], None] | None = None) -> Combiner:
    """Features of the dev parts of these labelled sets -> a fitted combiner (not yet saved)."""
    from harness.io import content_hash
    from harness.scoring.scorer import ScoreConfig, Scorer

    scorer = Scorer(ScoreConfig(embedder=embedder), combiner=neutral_combiner())
    claims, answers = collect(sets, scorer, ("dev",), progress)
    if not claims or not any(c.label for c in claims) or all(c.label for c in claims):
        from harness.errors import HarnessError

        raise HarnessError("fitting needs labelled claims of both kinds in the dev parts")
    meta = {"labeled": {name: content_hash("\n".join(str(sorted(r.record.items())) for r in rows))
                        for name, rows in sets.items()}, "embedder": embedder}
    return fit_combiner(claims, answers, progress, meta)

"""Claim features: every signal's value, the word alignment, and where the claim sits.

A claim becomes a fixed-length vector of numbers (FEATURES, in order) that the combiner
(harness.scoring.combiner) turns into P(unsupported). Missing signals (a claim without numbers
has no number signal) take a neutral value, so every feature is always defined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harness.scoring.alignment import Encoded, word_support
from harness.scoring.evidence import select_evidence
from harness.scoring.numbers import context_quantities, extract_quantities, supported
from harness.scoring.signals import Context, Signal
from harness.scoring.text import _WORD, Claim, content_words

LOW_ALIGNMENT = 0.55  # a word piece whose best cosine is below this has no counterpart in the context

FEATURES = (
    "overlap",            # share of the claim's content words found in the context
    "novel_words",        # log1p(number of content words in neither the context nor the question)
    "numbers_missing",    # a number the context does not hold
    "terms_missing",      # share of names / defined terms the context does not hold
    "negation_flip",      # matches context sentences only with the opposite polarity
    "citation_missing",   # cites an article the context does not hold
    "align_min",          # the least aligned content word
    "align_low3",         # mean of the three least aligned content words
    "align_frac_low",     # share of content words below LOW_ALIGNMENT
    "cos_best",           # claim vector vs the closest context sentence
    "cos_evidence",       # claim vector vs its evidence sentences pooled
    "question_share",     # share of the claim's content words that are also the question's
    "log_words",          # log(number of words)
    "position",           # 0 for the first claim, 1 for the last
    "korean",             # the claim is in Korean
    "numbers_far",        # a number the context holds, but not in the claim's evidence sentences
    "rules",              # the hand-set rule of scorer v3: overlap/cosine base capped by hard evidence
    "novel_share",        # share of the claim's content words in neither the context nor the question
    "novel_unaligned",    # log1p(novel words that also have no close counterpart by alignment)
)

# Scorer v3's caps, kept as one feature among the others: they are good at what they were made for.
RULE_CAPS = {"numbers": 0.1, "citation": 0.2, "negation": 0.25}


def rules_support(signals: dict[str, Signal], cos_best: float | None) -> float:
    overlap = signals.get("overlap")
    base = overlap.value if overlap is not None and overlap.value is not None else 1.0
    if cos_best is not None:
        base = 0.5 * base + 0.5 * min(1.0, max(0.0, (cos_best - 0.2) / 0.6))
    for name, cap in RULE_CAPS.items():
        s = signals.get(name)
        if s is not None and s.value is not None and s.value < 1.0:
            base = min(base, cap)
    terms = signals.get("terms")
    if terms is not None and terms.value is not None and terms.value < 1.0:
        base = min(base, 0.3 + 0.7 * terms.value)
    return base


@dataclass
class ClaimFeatures:
    values: dict[str, float]
    words: list[tuple[int, int, float]]  # (start, end, alignment) per content word of the claim
    novel: list[tuple[int, int]]  # answer offsets of the words in neither the context nor the question


def _bad(signal: Signal | None) -> float:
    return 1.0 if signal is not None and signal.value is not None and signal.value < 1.0 else 0.0


def claim_text_at(claim: Claim, start: int, end: int) -> str:
    return claim.text[start - claim.start:end - claim.start]


def claim_features(claim: Claim, index: int, n_claims: int, signals: dict[str, Signal], ctx: Context,
                   question: str, answer: Encoded | None, references: Sequence[Encoded],
                   context_encoded: Encoded | None) -> ClaimFeatures:
    words = content_words(claim.text)
    q_words = content_words(question) if question else set()
    novel = words - ctx.words - q_words
    overlap = signals.get("overlap")
    terms = signals.get("terms")
    values = {
        "overlap": overlap.value if overlap is not None and overlap.value is not None else 1.0,
        "novel_words": math.log1p(len(novel)),
        "numbers_missing": _bad(signals.get("numbers")),
        "terms_missing": (1.0 - terms.value) if terms is not None and terms.value is not None else 0.0,
        "negation_flip": 1.0 if (signals.get("negation") and signals["negation"].value == 0.0) else 0.0,
        "citation_missing": _bad(signals.get("citation")),
        "question_share": len(words & q_words) / len(words) if words else 0.0,
        "log_words": math.log(1 + len(claim.text.split())),
        "position": index / (n_claims - 1) if n_claims > 1 else 0.0,
        "korean": 1.0 if any("\uac00" <= ch <= "\ud7a3" for ch in claim.text) else 0.0,
    }
    aligned: list[tuple[int, int, float]] = []
    if answer is not None:
        aligned = word_support(answer, claim.start, claim.end, references)
    sims = sorted(s for *_, s in aligned)
    values["align_min"] = sims[0] if sims else 1.0
    values["align_low3"] = float(np.mean(sims[:3])) if sims else 1.0
    values["align_frac_low"] = sum(1 for s in sims if s < LOW_ALIGNMENT) / len(sims) if sims else 0.0
    evidence = select_evidence(claim.text, ctx.sentences, ctx.sentence_words)
    cos_best, cos_evidence = 1.0, 1.0
    vec = answer.pool(claim.start, claim.end) if answer is not None else None
    if vec is not None and context_encoded is not None and ctx.sentence_spans:
        sent_vecs = context_encoded.pools(ctx.sentence_spans)
        sims_s = [float(v @ vec) for v in sent_vecs if v is not None]
        cos_best = max(sims_s) if sims_s else 0.0
        picked = [sent_vecs[i] for i in evidence if sent_vecs[i] is not None]
        if picked:
            pooled = np.mean(picked, axis=0)
            cos_evidence = float(pooled @ vec / (np.linalg.norm(pooled) + 1e-9))
    values["cos_best"], values["cos_evidence"] = cos_best, cos_evidence
    values["novel_share"] = len(novel) / len(words) if words else 0.0
    values["novel_unaligned"] = math.log1p(sum(1 for s, e, a in aligned if a < LOW_ALIGNMENT and content_words(claim_text_at(claim, s, e)) & novel))
    values["rules"] = rules_support(signals, cos_best if answer is not None else None)
    values["numbers_far"] = 0.0
    if values["numbers_missing"] == 0.0:
        quantities = extract_quantities(claim.text)
        if quantities:
            near = context_quantities(" ".join(ctx.sentences[i] for i in evidence))
            values["numbers_far"] = 1.0 if any(not supported(q, near) for q in quantities) else 0.0
    novel_spans = [(claim.start + m.start(), claim.start + m.start() + len(m.group().rstrip(",.'’-")))
                   for m in _WORD.finditer(claim.text) if (w := content_words(m.group())) and w <= novel]
    return ClaimFeatures(values, aligned, novel_spans)


ANSWER_FEATURES = (
    "p_max",              # the least supported claim's P(unsupported)
    "p_second",           # the second least supported (p_max again for one claim)
    "p_mean",             # mean over claims
    "log_claims",         # log(1 + number of checked claims)
    "novel_max",          # the most novel words in one claim (log1p)
    "numbers_missing_any",
    "refusal",            # the answer also holds a refusal sentence
    "rules_min",          # scorer v3's verdict: the weakest claim's rule-based support
)


def answer_features(probabilities: Sequence[float], claims: Sequence[dict[str, float]], refusal: bool) -> dict[str, float]:
    ps = sorted(probabilities, reverse=True)
    return {
        "p_max": ps[0] if ps else 0.0,
        "p_second": (ps[1] if len(ps) > 1 else ps[0]) if ps else 0.0,
        "p_mean": float(np.mean(ps)) if ps else 0.0,
        "log_claims": math.log1p(len(ps)),
        "novel_max": max((c["novel_words"] for c in claims), default=0.0),
        "numbers_missing_any": 1.0 if any(c["numbers_missing"] for c in claims) else 0.0,
        "refusal": 1.0 if refusal else 0.0,
        "rules_min": min((c["rules"] for c in claims), default=1.0),
    }

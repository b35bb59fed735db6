"""The evidence for a claim: the few context sentences that share the most (idf-weighted) content
words and numbers with it, in document order. Used for the claim-to-evidence similarity and the
"number near its evidence" feature, and given to a judge (harness.scoring.judges) with the claim."""

from __future__ import annotations

import math
from typing import Sequence

from harness.scoring.text import content_words

EVIDENCE_SENTENCES = 3
MAX_EVIDENCE_CHARS = 700


def select_evidence(claim: str, sentences: Sequence[str], sentence_words: Sequence[set] | None = None,
                    k: int = EVIDENCE_SENTENCES) -> list[int]:
    """Indices of the k context sentences sharing the most idf-weighted content words with the
    claim (ties: earlier first), returned in document order."""
    if not sentences:
        return []
    words = content_words(claim)
    sw = list(sentence_words) if sentence_words is not None else [content_words(s) for s in sentences]
    if len(sentences) <= k:
        return list(range(len(sentences)))
    n = len(sentences)
    df: dict[str, int] = {}
    for s in sw:
        for w in s & words:
            df[w] = df.get(w, 0) + 1
    idf = {w: math.log(1 + n / c) for w, c in df.items()}
    scores = [sum(idf.get(w, 0.0) for w in s & words) for s in sw]
    best = sorted(range(n), key=lambda i: (-scores[i], i))[:k]
    return sorted(best)


def evidence_text(sentences: Sequence[str], picked: Sequence[int]) -> str:
    text = " ".join(sentences[i].strip() for i in picked)
    return text[:MAX_EVIDENCE_CHARS]

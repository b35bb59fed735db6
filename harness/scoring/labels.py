"""Which claims of a labelled answer are unsupported: from its span labels, or (perturbations)
from its difference to the group's faithful gold answer."""

from __future__ import annotations

import difflib
import re


_TOKEN = re.compile(r"\S+")


def diff_spans(answer: str, reference: str) -> list[tuple[int, int]]:
    """Character spans of the words in `answer` that are not in `reference` (a word diff)."""
    a = [(m.start(), m.end(), m.group().strip(".,;:()").lower()) for m in _TOKEN.finditer(answer)]
    b = [m.group().strip(".,;:()").lower() for m in _TOKEN.finditer(reference)]
    spans = []
    for op, i1, i2, _, _ in difflib.SequenceMatcher(a=[w for *_, w in a], b=b, autojunk=False).get_opcodes():
        if op in ("replace", "insert") and i2 > i1:
            spans.append((a[i1][0], a[i2 - 1][1]))
        elif op == "delete" and i2 > i1:
            spans.append((a[i1][0], a[i2 - 1][1]))
    # "equal" runs are supported; a pure deletion in the answer ("cannot" -> "can") shows as a
    # replace of the neighbouring word, which is the word that changed meaning.
    return spans


def record_spans(record: dict, golds: dict[str, str]) -> list[tuple[int, int]] | None:
    """The unsupported character spans of a labelled answer; None when unknown."""
    if not record.get("hallucinated"):
        return []
    if record.get("spans"):
        return [(int(s["start"]), int(s["end"])) for s in record["spans"]]
    gold = golds.get(str(record.get("group")))
    if gold is not None and record.get("kind") not in ("answered_unanswerable",):
        spans = diff_spans(record["answer"], gold)
        return spans or None
    return None

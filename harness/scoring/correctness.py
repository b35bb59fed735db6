"""Correctness against a gold answer: token F1, numeric agreement and key-fact coverage."""

from __future__ import annotations

import re
import string
from collections import Counter

from harness.scoring.numbers import extract_quantities, supported
from harness.scoring.signals import _norm, claim_terms
from harness.scoring.text import _WORD, content_words

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> list[str]:
    """SQuAD-style: lower case, no punctuation, no articles, white space split."""
    text = text.lower()
    text = "".join(ch if ch not in string.punctuation else " " for ch in text)
    return _ARTICLES.sub(" ", text).split()


def token_f1(answer: str, gold: str) -> float:
    a, g = normalize_answer(answer), normalize_answer(gold)
    if not a or not g:
        return float(a == g)
    common = sum((Counter(a) & Counter(g)).values())
    if common == 0:
        return 0.0
    p, r = common / len(a), common / len(g)
    return 2 * p * r / (p + r)


def numeric_agreement(answer: str, gold: str) -> float | None:
    """Share of the gold answer's numbers that the answer states (same value and unit); None
    when the gold answer has no numbers."""
    gold_q = extract_quantities(gold)
    if not gold_q:
        return None
    ans_q = extract_quantities(answer)
    return sum(1 for q in gold_q if supported(q, ans_q)) / len(gold_q)


def _polarity(text: str) -> str | None:
    first = (_WORD.findall(text) or [""])[0].lower()
    return {"yes": "yes", "no": "no", "네": "yes", "예": "yes", "아니요": "no", "아닙니다": "no"}.get(first)


def gold_polarity(gold: str) -> str | None:
    """"yes" or "no" when the gold answer starts with one (English or Korean), else None."""
    return _polarity(gold)


def polarity_agrees(answer: str, polarity: str) -> bool:
    """The answer carries this yes/no: it starts with it, or (for "no") it holds a negation."""
    return _polarity(answer) == polarity or (polarity == "no" and bool(re.search(r"\bnot?\b|않|없", answer)))


def key_facts(gold: str) -> list[tuple[str, object]]:
    facts: list[tuple[str, object]] = [("number", q) for q in extract_quantities(gold)]
    facts += [("term", t) for t in claim_terms(gold)]
    polarity = _polarity(gold)
    if polarity:
        facts.append(("polarity", polarity))
    return facts


def key_fact_coverage(answer: str, gold: str) -> float | None:
    """Share of the gold answer's key facts (numbers, names/terms, a leading yes/no) found in the
    answer; falls back to content-word recall when the gold answer has none."""
    facts = key_facts(gold)
    if not facts:
        words = content_words(gold)
        return len(words & content_words(answer)) / len(words) if words else None
    ans_q = extract_quantities(answer)
    ans_norm = _norm(answer)
    hit = 0
    for kind, fact in facts:
        if kind == "number":
            hit += supported(fact, ans_q)
        elif kind == "term":
            hit += _norm(fact) in ans_norm
        else:
            hit += polarity_agrees(answer, fact)
    return hit / len(facts)


def correctness(answer: str, gold: str | None) -> dict:
    if gold is None:
        return {"token_f1": None, "numeric_agreement": None, "key_fact_coverage": None}
    return {"token_f1": token_f1(answer, gold), "numeric_agreement": numeric_agreement(answer, gold),
            "key_fact_coverage": key_fact_coverage(answer, gold)}

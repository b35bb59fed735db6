"""Refusal phrase families, English and Korean. Configurable: pass your own patterns."""

from __future__ import annotations

import re
from typing import Sequence

REFUSAL_PATTERNS_EN = (
    r"\bthe (?:policy|clauses?|provided (?:clauses?|context|text)|context|documents?) (?:does|do) not (?:say|state|mention|specify|address|cover this|contain|include|provide)\b",
    r"\b(?:is|are) not (?:mentioned|stated|specified|addressed|covered|found|included) in the (?:policy|clauses?|provided|context|documents?)\b",
    r"\b(?:there is )?no (?:information|mention|provision|clause|answer) (?:about|on|regarding|for|in)\b",
    r"\bi (?:cannot|can't|can not|am unable to|do not|don't) (?:find|answer|determine|know|say)\b",
    r"\bnot (?:enough|sufficient) information\b",
    r"\bunable to (?:find|determine|answer)\b",
)
REFUSAL_PATTERNS_KO = (
    r"약관에\s*해당\s*내용이\s*없",
    r"해당\s*내용이\s*(?:없|나와\s*있지\s*않)",
    r"(?:명시|언급|규정)(?:되어|돼)\s*있지\s*않",
    r"알\s*수\s*없",
    r"(?:답변|확인)(?:할|하기)\s*(?:수\s*없|어렵)",
    r"정보가\s*(?:없|부족)",
)


class RefusalDetector:
    def __init__(self, patterns: Sequence[str] = REFUSAL_PATTERNS_EN + REFUSAL_PATTERNS_KO):
        self.patterns = [re.compile(p, re.I) for p in patterns]

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)

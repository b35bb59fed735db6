"""Citations in an answer ("Article V.C", "VII.G.4", "Section III", "제3조", "제5조 제2항") and
whether the retrieved context holds the cited article and clause."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROMAN = r"(?:XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
_EN = re.compile(rf"\b(?:(?:Article|Art\.|Section|Sec\.)\s+)?(?P<art>{_ROMAN})(?:\.(?P<sec>[A-Z]))?(?:\.(?P<num>\d+))?(?:\.(?P<let>[a-z]))?\b")
_EN_EXPLICIT = re.compile(rf"\b(?:Article|Art\.|Section|Sec\.)\s+(?P<art>{_ROMAN}|\d+)\b")
_KO = re.compile(r"제\s*(?P<art>\d+)\s*조(?:\s*제\s*(?P<para>\d+)\s*항)?")


@dataclass(frozen=True)
class Citation:
    text: str
    start: int
    end: int
    article: str
    section: str = ""


def find_citations(text: str) -> list[Citation]:
    """Dotted references (V.C, VII.G.4) and explicit ones (Article V, Section III, 제3조).
    A bare roman numeral without 'Article' or a dot is not a citation ("I" is a pronoun)."""
    found: list[Citation] = []
    for m in _EN.finditer(text):
        explicit = m.group().lower().startswith(("article", "art.", "section", "sec."))
        if not explicit and not m.group("sec"):
            continue
        found.append(Citation(m.group(), m.start(), m.end(), m.group("art"), m.group("sec") or ""))
    for m in _EN_EXPLICIT.finditer(text):
        if not any(c.start <= m.start() < c.end for c in found):
            found.append(Citation(m.group(), m.start(), m.end(), m.group("art")))
    for m in _KO.finditer(text):
        found.append(Citation(m.group(), m.start(), m.end(), f"제{m.group('art')}조", m.group("para") or ""))
    return sorted(found, key=lambda c: c.start)


def citation_in_context(c: Citation, context: str) -> bool:
    """The cited article appears as a heading or breadcrumb ("V. Exclusions", "제3조"), and the
    cited section, if any, appears as a clause or heading ("C." / "G. Requirements") or as the
    same dotted reference."""
    if c.article.startswith("제"):
        number = re.sub(r"\D", "", c.article)
        return re.search(rf"제\s*{number}\s*조", context) is not None
    if c.section and re.search(rf"\b{re.escape(c.article)}\.{re.escape(c.section)}\b", context):
        return True
    if not re.search(rf"(?:^|[\s>#]){re.escape(c.article)}\.\s+[A-Z]", context, re.M):
        return False
    return not c.section or re.search(rf"(?:^|[\s>#]){re.escape(c.section)}\.\s", context, re.M) is not None

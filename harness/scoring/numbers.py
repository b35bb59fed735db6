"""Numbers with their units, normalized so that "$30,000" = "30,000 dollars", "60 days" =
"sixty days", "5%" = "5 percent", "3만 원" = 30000 won and "2배" = "two times"."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "half": 0.5,
}
_UNITS = {
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "year": "year", "years": "year", "hour": "hour", "hours": "hour", "percent": "percent", "per cent": "percent",
    "%": "percent", "dollar": "usd", "dollars": "usd", "time": "times", "times": "times",
    "foot": "foot", "feet": "foot", "square feet": "sqft", "acre": "acre", "acres": "acre", "mile": "mile",
    "miles": "mile", "square mile": "sqmile",
    "일": "day", "주": "week", "개월": "month", "달": "month", "년": "year", "시간": "hour", "퍼센트": "percent",
    "원": "krw", "달러": "usd", "배": "times", "피트": "foot", "제곱피트": "sqft", "에이커": "acre",
}
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "천": 1e3, "만": 1e4, "억": 1e8}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORDNUM = r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[- ](?:one|two|three|four|five|six|seven|eight|nine)|" + \
           "|".join(sorted(_WORDS, key=len, reverse=True)) + r")"
_EN_UNIT = r"(?:square feet|square mile|per cent|percent|dollars?|days?|weeks?|months?|years?|hours?|times|feet|foot|acres?|miles?)"
_KO_UNIT = r"(?:제곱피트|퍼센트|개월|시간|달러|에이커|피트|원|일|주|년|배|%)"

_PATTERNS = [
    # $30,000 / $1.5 million
    re.compile(rf"\$\s?(?P<n>{_NUM})(?:\s?(?P<scale>thousand|million|billion))?"),
    # 3만 원, 30,000달러, 60일, 80퍼센트, 2배, 1.5배
    re.compile(rf"(?P<n>{_NUM})\s?(?P<scale>천|만|억)?\s?(?P<unit>{_KO_UNIT})"),
    # 60 days, 10-year, 80 percent, 5%, 16 feet, 1.5 times
    re.compile(rf"(?P<n>{_NUM})(?:-|\s)?(?:(?:consecutive|continuous|calendar|full)\s)?(?P<unit>{_EN_UNIT}|%)\b|(?P<n2>{_NUM})%", re.I),
    # sixty days, one year, two times, twenty-five percent
    re.compile(rf"\b(?P<w>{_WORDNUM})(?:-|\s)(?:(?:consecutive|continuous|calendar|full)\s)?(?P<unit>{_EN_UNIT})\b", re.I),
    # bare numbers
    re.compile(rf"(?<![\w.])(?P<n>{_NUM})(?![\w])"),
]


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # "" when unknown
    text: str
    start: int
    end: int


def _word_value(w: str) -> float:
    w = w.lower()
    if "-" in w or " " in w:
        tens, ones = re.split(r"[- ]", w)
        return _WORDS[tens] + _WORDS[ones]
    return _WORDS[w]


def extract_quantities(text: str) -> list[Quantity]:
    """Every number in the text with its unit, left to right, without overlaps."""
    taken = [False] * len(text)
    found: list[Quantity] = []
    for i, pattern in enumerate(_PATTERNS):
        for m in pattern.finditer(text):
            if any(taken[m.start():m.end()]):
                continue
            gd = m.groupdict()
            if gd.get("w"):
                value = _word_value(gd["w"])
            else:
                raw = gd.get("n") or gd.get("n2")
                if raw is None:
                    continue
                value = float(raw.replace(",", ""))
            scale = gd.get("scale")
            if scale:
                value *= _SCALE[scale.lower()]
            unit = "usd" if i == 0 else ""
            if gd.get("unit"):
                unit = _UNITS[gd["unit"].lower()]
            elif gd.get("n2"):
                unit = "percent"
            found.append(Quantity(value, unit, m.group(), m.start(), m.end()))
            taken[m.start():m.end()] = [True] * (m.end() - m.start())
    return sorted(found, key=lambda q: q.start)


# Exact conversions only: "two days" = "48 hours", "24 months" = "two years". (Months to days is
# not exact, so it is not done.)
_CONVERT = {"hour": ("hours", 1.0), "day": ("hours", 24.0), "week": ("hours", 168.0),
            "month": ("months", 1.0), "year": ("months", 12.0)}


def _same(q: Quantity, c: Quantity) -> bool:
    if abs(c.value - q.value) < 1e-9 and (not q.unit or not c.unit or c.unit == q.unit):
        return True
    if q.unit in _CONVERT and c.unit in _CONVERT and _CONVERT[q.unit][0] == _CONVERT[c.unit][0]:
        return abs(q.value * _CONVERT[q.unit][1] - c.value * _CONVERT[c.unit][1]) < 1e-6
    return False


def supported(q: Quantity, context: list[Quantity]) -> bool:
    """Same value, and the same unit unless either side has none (or an exact time conversion)."""
    return any(_same(q, c) for c in context)


_OUTLINE = re.compile(r"[ \t]*(?:\(?\d{1,2}[.)]|\(\d{1,2}\))(?=\s)")


def _item_start(text: str, i: int) -> int:
    """Where an outline item holding position i would start: the line's start, or after a
    breadcrumb's '>' or a ':' / ';' ("The policy states: 4. Within 60 days ...")."""
    return max(text.rfind(ch, 0, i) + 1 for ch in "\n>:;")


def drop_outline(text: str, quantities: list[Quantity]) -> list[Quantity]:
    """Without outline numbers ("2. Limit of Liability", "(4) Within 60 days"): they number
    clauses, they are no quantity ("two weeks" is not "2.") and no claim about one."""
    out = []
    for q in quantities:
        m = _OUTLINE.match(text, _item_start(text, q.start)) if q.unit == "" else None
        if m is None or m.end() < q.end:
            out.append(q)
    return out


_BARE_WORD = re.compile(rf"\b(?P<w>{_WORDNUM})\b", re.I)


def context_quantities(text: str) -> list[Quantity]:
    """The numbers a context offers as support: extract_quantities plus bare number words ("three
    to four days" supports "3 to 4 days"). Bare number words are not taken from claims: "one of
    the forms" is not a number claim."""
    found = drop_outline(text, extract_quantities(text))
    spans = [(q.start, q.end) for q in found]
    for m in _BARE_WORD.finditer(text):
        if not any(s <= m.start() < e for s, e in spans):
            found.append(Quantity(_word_value(m.group("w")), "", m.group(), m.start(), m.end()))
    return sorted(found, key=lambda q: q.start)

"""Sentences, claims and words, in English and Korean."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness import korean

# A sentence ends at . ? ! 。 (Korean sentences end in 다. 요. 까? and are covered) followed by
# white space, or at a line break; "U.S." and "e.g." and numbers such as "1.5" do not end one.
_ABBREVIATIONS = re.compile(r"(?:\b(?:U\.S|e\.g|i\.e|etc|Art|Sec|vs|Mr|Ms|Dr|St|a\.m|p\.m)|(?<![A-Za-z])[A-Z]|\b[IVXL]+(?:\.[A-Z0-9]+)*|(?:^|[\n:;])\s*\d{1,2})\.$")
_BOUNDARY = re.compile(r"(?<=[.?!。])[\"”’)\]]*\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[a-z][.)]|[①-⑳])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d,]*(?:\.\d+)?|[\uac00-\ud7a3]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from into onto over under about as is are was were be been
being am do does did doing have has had having this that these those it its it's they them their there here which who
whom whose what when where why how any all each every some such no nor not only own same so than too very can will
just should would could may might must shall you your yours we our us i me my he she his her him also than both either
neither one more most other per up out off again further once until while during before after above below between
through against because whether within without upon yes policy form under says say said
article section clause clauses paragraph according accordance state states stated
insurer insurers policyholder policyholders company
dollar dollars day days week weeks month months year years percent times hour hours
zero two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty sixty
seventy eighty ninety hundred thousand million half
""".split())


@dataclass(frozen=True)
class Claim:
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of sentences, trimmed, skipping empty ones. Korean text goes through
    the kiwipiepy analyser line by line (Korean sentences often end without punctuation:
    "…지급합니다 다만 …"); English, and Korean where kiwipiepy is missing, through the rules."""
    if korean.has_hangul(text) and korean.available():
        spans = []
        for a, b in _lines(text):
            spans.extend((a + s, a + e) for s, e in korean.sentence_spans(text[a:b]) or [(0, b - a)])
        return trim_spans(text, _markers_forward(text, spans))
    return rule_sentences(text)


# Kiwi leaves a paragraph marker with the sentence before it ("…보상합니다. ②" | "제1항의 …");
# the marker opens the next sentence (measured: bench/korean_sentences.py, policy clauses).
_TRAILING_MARKER = re.compile(r"(?<=[.?!])\s+([①-⑳])\s*$")


def _markers_forward(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(spans)
    for i in range(len(out) - 1):
        a, b = out[i]
        m = _TRAILING_MARKER.search(text, a, b)
        if m:
            out[i] = (a, m.start())
            out[i + 1] = (m.start(1), out[i + 1][1])
    return out


def _lines(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in re.finditer(r"\n+", text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def rule_sentences(text: str) -> list[tuple[int, int]]:
    """Sentences by regular expressions: . ? ! 。 + space or a line break ends one."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        before = text[start:m.start()]
        if m.group().strip() == "" and "\n" not in m.group() and _ABBREVIATIONS.search(before.rstrip()):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return trim_spans(text, spans)


def trim_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans without surrounding white space; spans left empty are dropped."""
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def split_claims(answer: str) -> list[Claim]:
    """Claims are sentences; list bullets are dropped from the claim text but offsets keep pointing
    into the answer. Clauses joined by ';' are separate claims."""
    claims = []
    for s, e in split_sentences(answer):
        for part_s, part_e in _split_on(answer, s, e, ";"):
            m = _BULLET.match(answer[part_s:part_e])
            if m:
                part_s += m.end()
            if part_e - part_s >= 2 and any(ch.isalnum() for ch in answer[part_s:part_e]):
                claims.append(Claim(answer[part_s:part_e], part_s, part_e))
    return claims


def _split_on(text: str, start: int, end: int, sep: str) -> list[tuple[int, int]]:
    parts, s = [], start
    i = text.find(sep, start, end)
    while i >= 0:
        parts.append((s, i))
        s = i + 1
        i = text.find(sep, s, end)
    parts.append((s, end))
    return trim_spans(text, parts)


# Korean particles and verb endings, longest first: what is left is (roughly) the stem.
_KO_SUFFIXES = sorted("""으로써 으로서 에서는 에게서 입니다 습니다 합니다 됩니다 있습니다 없습니다 니다 해야 하여 하고 하는 한다 된다
되는 되어 에서 으로 에게 부터 까지 에는 와는 과는 이나 이며 이고 이다 하면 되면 해서 하지 되지 은 는 이 가 을 를 의 에 도 로 와
과 만 할 한 해 된 될 며 고 면""".split(), key=len, reverse=True)


def korean_stem(word: str) -> str:
    for _ in range(2):  # "손해증명서는" -> "손해증명서"; "제출해야" -> "제출"
        for suffix in _KO_SUFFIXES:
            if word.endswith(suffix) and len(word) > len(suffix):
                word = word[: -len(suffix)]
                break
        else:
            break
    return word


def stem(word: str) -> str:
    """A light English stemmer: enough to match 'deductibles' and 'deductible', 'paid' and 'pay'."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) <= 3:
        return w
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


def content_words(text: str) -> set[str]:
    """Stemmed English content words, numbers as written, and Hangul character bigrams."""
    out: set[str] = set()
    for word in _WORD.findall(text):
        if _HANGUL.match(word):
            if word in _KO_SUFFIXES:
                continue
            word = korean_stem(word)
            out.update(word[i:i + 2] for i in range(len(word) - 1)) if len(word) > 1 else out.add(word)
            continue
        lw = word.lower()
        if lw in STOPWORDS or len(lw) < 2:
            continue
        if lw[0].isdigit():
            out.add(lw.replace(",", ""))
            continue
        stemmed = stem(lw)
        if stemmed not in STOPWORDS:
            out.add(stemmed)
    return out


# A sentence that asks, or that says what the question was ("You're asking whether ...", "The
# question is ...", "질문하신 내용은 ..."), restates the question: it claims nothing about the policy.
_RESTATEMENT = re.compile(
    r"^\W*(?:(?:so|ok(?:ay)?|put simply|simply put|in short|in other words|basically|to restate)\W+)*"
    r"(?:you(?:'re| are) (?:asking|wondering)|you(?:'d| would)? (?:like|want) to know|you asked"
    r"|(?:the|your) question is|the question here is|this question asks)\b"
    r"|^\W*\S*\s*(?:질문하신|문의하신|물어보신|질문은|질문의 요지는)", re.I)


def is_restatement(text: str) -> bool:
    """True for a question or a restatement of the question: not a claim to check."""
    stripped = text.strip()
    return stripped.endswith(("?", "？")) or bool(_RESTATEMENT.search(stripped))

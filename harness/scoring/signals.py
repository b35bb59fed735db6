"""Signals: each a pure function (claim, context) -> Signal(value in [0, 1] or None, reason).

None means "does not apply" (a claim with no numbers has no number signal). Register new
signals with @register_signal; the scorer combines whatever is registered and enabled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from harness.scoring.citations import citation_in_context, find_citations
from harness.scoring.numbers import Quantity, context_quantities, drop_outline, extract_quantities, supported
from harness.scoring.text import Claim, content_words, split_sentences

_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|cannot|can't|won't|doesn't|don't|isn't|aren't|excluded?|excludes|"
                       r"neither)\b|않|없|아니|못|제외", re.I)
# Limits read like negations but are not: "no more than $2,500", "not later than one year".
_LIMIT = re.compile(r"\b(?:no|not)\s+(?:more|less|later|earlier|greater|fewer)\s+than\b|\bnot\s+(?:to\s+)?exceed\w*|"
                    r"넘지\s*않|초과하지\s*않", re.I)
_TERM = re.compile(r"\b(?:[A-Z][a-z]+|[A-Z]{2,}|[A-Z])(?:[\s—-]+(?:of|for|in|to|the|[A-Z][a-z]+|[A-Z]{2,}|[A-Z](?![a-z])))*\b")
# Capitalized words that start sentences or are generic: not terms by themselves.
_GENERIC = frozenset("""Under The A An No Yes It This That These Those If When Where What Which Who You Your We Our They
Their There Here Only Also But And Or However Therefore So For In On At By To Each Any All Some Both Such Per As After Before
Until Within Coverage Policy Form Article Section Note""".split())


@dataclass(frozen=True)
class Signal:
    value: float | None
    reason: str
    # Where in the claim (character offsets) the items the context lacks are: the unsupported
    # numbers or terms, so a report can mark exactly them.
    missing: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict:
        return {"value": None if self.value is None else round(self.value, 4), "reason": self.reason}


def _norm(text: str) -> str:
    text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("—", " ").replace("–", " ").replace("-", " ")
    return " ".join(text.lower().split())


@dataclass
class Context:
    """The retrieved passages, prepared once and shared by every claim of every answer on them."""

    passages: Sequence[str]
    text: str = ""
    norm: str = ""
    words: set = field(default_factory=set)
    quantities: list[Quantity] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    sentence_spans: list[tuple[int, int]] = field(default_factory=list)
    sentence_words: list[set] = field(default_factory=list)
    leadins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.text = "\n\n".join(self.passages)
        self.norm = _norm(self.text)
        self.words = content_words(self.text)
        self.quantities = context_quantities(self.text)
        self.sentence_spans = split_sentences(self.text)
        self.sentences = [self.text[s:e] for s, e in self.sentence_spans]
        self.sentence_words = [content_words(s) for s in self.sentences]
        # A list item ("8. Theft, fire, ...") takes its polarity from the sentence that
        # introduces the list ("We do not insure for direct physical loss caused by:").
        self.leadins = []
        leadin = ""
        for sentence in self.sentences:
            is_item = bool(_ITEM.match(sentence))
            self.leadins.append(leadin if is_item else "")
            if sentence.rstrip().endswith(":"):
                leadin = sentence
            elif not is_item:
                leadin = ""


SignalFn = Callable[[Claim, Context], Signal]
SIGNALS: dict[str, SignalFn] = {}


def register_signal(name: str) -> Callable[[SignalFn], SignalFn]:
    def wrap(fn: SignalFn) -> SignalFn:
        SIGNALS[name] = fn
        return fn
    return wrap


def coverage_signal(checked: list[tuple[str, bool]], none: str, missing_what: str, found_what: str,
                    where: Sequence[tuple[int, int] | None] = ()) -> Signal:
    """The share of a claim's checkable items (numbers, terms, citations) the context holds;
    `checked` pairs each item's text with whether the context holds it, `where` gives each
    item's offsets in the claim when known."""
    found = [text for text, ok in checked if ok]
    missing = [text for text, ok in checked if not ok]
    if not checked:
        return Signal(None, none)
    if missing:
        spans = tuple(w for (_, ok), w in zip(checked, where) if not ok and w is not None)
        return Signal(len(found) / (len(found) + len(missing)), f"{missing_what}: " + ", ".join(missing), spans)
    return Signal(1.0, f"{found_what}: " + ", ".join(found))


@register_signal("numbers")
def numbers_signal(claim: Claim, ctx: Context) -> Signal:
    quantities = drop_outline(claim.text, extract_quantities(claim.text))
    checked = [(q.text, supported(q, ctx.quantities)) for q in quantities]
    return coverage_signal(checked, "no numbers", "not in the context", "all numbers in the context",
                           [(q.start, q.end) for q in quantities])


def claim_terms(text: str) -> list[str]:
    """Capitalized names and defined terms ("General Property Form", "Coverage D", "RCBAP");
    citations ("Article VII.G") are the citation signal's business and are left out."""
    for c in find_citations(text):
        text = text[:c.start] + " " * (c.end - c.start) + text[c.end:]
    terms = []
    for m in _TERM.finditer(text):
        words = m.group().replace("—", " ").replace("-", " ").split()
        if len(words) >= 2 and words[0] in _GENERIC and len(words[1]) == 1 and words[1].isupper():
            words = words[-2:] if len(words) == 2 else words  # "Coverage D", "Form A": the letter names it
        else:
            while words and (words[0] in _GENERIC or words[0].lower() in ("of", "and", "for", "in", "to", "the")):
                words = words[1:]
        while words and words[-1].lower() in ("of", "and", "for", "in", "to", "the"):
            words = words[:-1]
        if not words:
            continue
        if len(words) == 1 and (len(words[0]) == 1 or (words[0][0].isupper() and not words[0].isupper() and m.start() == 0)):
            continue
        terms.append(" ".join(words))
    return terms


@register_signal("terms")
def terms_signal(claim: Claim, ctx: Context) -> Signal:
    terms = claim_terms(claim.text)
    checked = [(t, _norm(t) in ctx.norm) for t in terms]
    starts = [claim.text.find(t) for t in terms]
    return coverage_signal(checked, "no names or defined terms", "not in the context", "in the context",
                           [(i, i + len(t)) if i >= 0 else None for t, i in zip(terms, starts)])


@register_signal("overlap")
def overlap_signal(claim: Claim, ctx: Context) -> Signal:
    words = content_words(claim.text)
    if not words:
        return Signal(None, "no content words")
    found = words & ctx.words
    missing = sorted(words - found)
    return Signal(len(found) / len(words), f"{len(found)}/{len(words)} content words in the context"
                  + (f"; missing: {', '.join(missing[:8])}" if missing else ""))


def _containment(words: set, sentence_words: set) -> float:
    return len(words & sentence_words) / len(words) if words else 0.0


def negative(text: str) -> bool:
    return bool(_NEGATION.search(_LIMIT.sub(" ", text)))


_SEGMENT = re.compile(r"[,;:]\s+")
_ITEM = re.compile(r"^\s*(?:\(?[0-9]{1,2}[.)]|\(?[a-z][.)]|\([ivx]+\)|[①-⑳]|[가-하]\.)\s")


def aligned_part(words: set, sentence: str) -> str:
    """The part of a context sentence that the claim restates: its comma-separated segment that
    shares the most content words with the claim when that one segment holds half of them, else
    every segment sharing any. A negation in a clause the claim does not restate ("when a building
    ... does not have two walls, your deductible will be two times ...") is not the claim's."""
    segments = [seg for seg in _SEGMENT.split(sentence) if seg.strip()]
    shared = [len(words & content_words(seg)) for seg in segments]
    if not segments or not words:
        return sentence
    best = max(range(len(segments)), key=shared.__getitem__)
    if shared[best] >= len(words) / 2:
        return segments[best]
    return " ".join(seg for seg, n in zip(segments, shared) if n) or sentence


@register_signal("negation")
def negation_signal(claim: Claim, ctx: Context) -> Signal:
    """A claim that closely matches context sentences (most of its content words in them) but
    only ever with the opposite polarity: "covered" where the policy says "we do not insure"."""
    words = content_words(claim.text)
    if len(words) < 3:
        return Signal(None, "too short to carry a polarity")
    close = [i for i, sw in enumerate(ctx.sentence_words) if _containment(words, sw) >= 0.6]
    if not close:
        return Signal(None, "no closely matching context sentence")
    claim_neg = negative(claim.text)
    if claim_neg:
        # A claim may join a positive clause and a negative one ("pays up to $30,000, with no
        # separate deductible"): its negation agrees when each negated segment closely matches
        # a negative context sentence.
        segments = [content_words(seg) for seg in _SEGMENT.split(claim.text) if negative(seg)]
        segments = [w for w in segments if len(w) >= 2]
        if segments and all(any(_containment(w, sw) >= 0.6 and negative(ctx.sentences[i])
                                for i, sw in enumerate(ctx.sentence_words)) for w in segments):
            return Signal(1.0, "each negated part matches a negative context sentence")
    # A list item may be read alone or with its lead-in: "8. Theft, fire, ..." restated as
    # "theft is excluded" (with the lead-in) and quoted as is (alone) are both faithful.
    # A list item without a known lead-in ("12. Fences, retaining walls, ...": its "We do not
    # insure:" may sit in another chunk) has no polarity of its own: it contradicts nothing. A
    # negative claim agrees with a sentence negative anywhere ("if they cannot agree, ..." restates
    # "If they cannot agree upon an umpire within 15 days, you or we may request ...").
    same = [i for i in close
            if (_ITEM.match(ctx.sentences[i]) and not ctx.leadins[i])
            or (claim_neg and negative(ctx.sentences[i]))
            or claim_neg in {negative(aligned_part(words, ctx.sentences[i])),
                             negative(ctx.leadins[i] + " " + aligned_part(words, ctx.sentences[i]))}]
    if same:
        return Signal(1.0, "same polarity as a matching context sentence")
    side = "the claim is negative" if claim_neg else "the context is negative"
    return Signal(0.0, f"polarity differs ({side}): {ctx.sentences[close[0]][:120]!r}")


@register_signal("citation")
def citation_signal(claim: Claim, ctx: Context) -> Signal:
    checked = [(c.text, citation_in_context(c, ctx.text)) for c in find_citations(claim.text)]
    return coverage_signal(checked, "no citations", "cited but not in the context", "cited and in the context")

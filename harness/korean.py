"""Korean text through a real morphological analyser (kiwipiepy, with its bundled model):
sentence boundaries and content morphemes.

Korean words carry particles and endings ("보험금은", "보험금을", "받을 수 있나요"), and sentences
often end without punctuation ("…지급합니다 다만 …", "…됐어요 보상되나요"). Hand-written rules
miss both; Kiwi's analyser finds them. Loaded once per process (~1 s), only when Korean text
comes by; where kiwipiepy is not installed, callers fall back to their rules.
"""

from __future__ import annotations

import functools
import logging
import re

log = logging.getLogger(__name__)

HANGUL = re.compile(r"[\uac00-\ud7a3]")

# Morpheme tags kept as search terms: nouns, numerals, verb/adjective stems, roots, adverbs,
# foreign words, numbers and hanja. Particles (J*), endings (E*), affixes and punctuation go.
CONTENT_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "VX", "XR", "MAG", "SL", "SN", "SH",
                          "VV-R", "VV-I", "VA-R", "VA-I"})


def has_hangul(text: str) -> bool:
    return bool(HANGUL.search(text))


@functools.lru_cache(maxsize=1)
def analyser():
    """The shared Kiwi instance, or None when kiwipiepy is not installed."""
    try:
        from kiwipiepy import Kiwi
    except ImportError:
        log.warning("kiwipiepy is not installed: Korean text falls back to rule-based splitting "
                    "(pip install kiwipiepy kiwipiepy-model)")
        return None
    return Kiwi()


def available() -> bool:
    return analyser() is not None


def morphemes(text: str) -> list[str]:
    """Content morphemes of a Korean text, lower-cased ("보험금은 언제 받나요" -> 보험금, 언제, 받)."""
    kiwi = analyser()
    if kiwi is None:
        return []
    return [t.form.casefold() for t in kiwi.tokenize(text) if t.tag in CONTENT_TAGS]


def sentence_spans(text: str) -> list[tuple[int, int]] | None:
    """[start, end) spans of the sentences of `text` by Kiwi, or None without kiwipiepy."""
    kiwi = analyser()
    if kiwi is None:
        return None
    return [(s.start, s.end) for s in kiwi.split_into_sents(text)]

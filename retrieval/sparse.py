"""BM25 over chunks, through bm25s, with a tokenizer that also works for Korean.

Korean words carry particles and endings ("보험금은", "보험금을"), so whole-word matching
misses. Korean text is matched on its content morphemes from a real analyser (kiwipiepy),
on the character bigrams of each Hangul word (which match across endings), or on both: the
`bm25_korean` retrieval setting, chosen on the dev split (docs/RETRIEVAL.md).
The BM25 index is rebuilt from chunks.jsonl when an index is loaded (it takes well under a
second for thousands of chunks), so nothing but FAISS's own file and JSON is stored.
"""

from __future__ import annotations

import logging
import re

TOKENIZER_NAME = "harness-bm25-v1"
KOREAN_MODES = ("bigrams", "morphemes", "both")
_WORD = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def tokenize(text: str, korean: str = "bigrams") -> list[str]:
    tokens: list[str] = []
    hangul = False
    for word in _WORD.findall(text.casefold()):
        if _HANGUL.search(word):
            hangul = True
            if korean == "morphemes":
                continue
            tokens.append(word)
            if len(word) > 2:
                tokens.extend(word[i:i + 2] for i in range(len(word) - 1))
        else:
            tokens.append(word)
    if hangul and korean != "bigrams":
        from harness import korean as ko

        found = ko.morphemes(text)
        if not found and korean == "morphemes" and not ko.available():
            return tokenize(text, "bigrams")  # no analyser installed: the rules, not nothing
        tokens.extend("m:" + m for m in found if _HANGUL.search(m))
    return tokens


class BM25Index:
    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75, korean: str = "bigrams"):
        import bm25s

        # bm25s sets its own logger to DEBUG on import; keep its chatter out of our output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self.k1, self.b, self.korean = k1, b, korean
        self.n = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index([tokenize(t, korean) or ["\u2400"] for t in texts], show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk position, score) for the best k chunks with a score above zero."""
        tokens = tokenize(query, self.korean)
        if not tokens:
            return []
        docs, scores = self._bm25.retrieve([tokens], k=min(k, self.n), show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

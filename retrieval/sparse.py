"""BM25 over chunks, through bm25s, with a tokenizer that also works for Korean.

Korean words carry particles and endings ("보험금은", "보험금을"), so whole-word matching
misses; each Hangul word also yields its character bigrams, which match across endings.
The BM25 index is rebuilt from chunks.jsonl when an index is loaded (it takes well under a
second for thousands of chunks), so nothing but FAISS's own file and JSON is stored.
"""

from __future__ import annotations

import logging
import re

TOKENIZER_NAME = "harness-bm25-v1"
_WORD = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for word in _WORD.findall(text.casefold()):
        tokens.append(word)
        if _HANGUL.search(word) and len(word) > 2:
            tokens.extend(word[i:i + 2] for i in range(len(word) - 1))
    return tokens


class BM25Index:
    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75):
        import bm25s

        # bm25s sets its own logger to DEBUG on import; keep its chatter out of our output.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self.k1, self.b = k1, b
        self.n = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        self._bm25.index([tokenize(t) or ["\u2400"] for t in texts], show_progress=False)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk position, score) for the best k chunks with a score above zero."""
        tokens = tokenize(query)
        if not tokens:
            return []
        docs, scores = self._bm25.retrieve([tokens], k=min(k, self.n), show_progress=False)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

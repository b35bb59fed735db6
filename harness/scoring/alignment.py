"""Word-level alignment of an answer to its context with contextual token embeddings.

One MiniLM forward over the context (once per context) and one over the answer give a vector
per word piece. A claim word is *aligned* as far as its best cosine with any context (or
question) token: a paraphrase ("pays up to" / "will pay no more than") aligns well, an invented
detail does not. This is BERTScore's precision, kept per word so the scorer can say exactly
which words are unsupported, and pooled per sentence for the claim-to-evidence similarity.

The same forward pass yields sentence vectors (mean of the sentence's token vectors), so the
scorer no longer embeds each sentence separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.scoring.text import STOPWORDS

MAX_TOKENS = 256  # per window; long texts are read in overlapping windows
STRIDE = 48


@dataclass
class Encoded:
    """Unit-normalised token vectors of one text and each token's character span in it."""

    text: str
    vectors: np.ndarray  # (n_tokens, dim), unit rows
    spans: list[tuple[int, int]]
    _pooled: dict = field(default_factory=dict, repr=False, compare=False)

    def token_indices(self, start: int, end: int) -> list[int]:
        return [i for i, (s, e) in enumerate(self.spans) if s >= start and e <= end]

    def pool(self, start: int, end: int) -> np.ndarray | None:
        """The unit mean vector of the tokens inside [start, end)."""
        idx = self.token_indices(start, end)
        if not idx:
            return None
        v = self.vectors[idx].mean(axis=0)
        return v / (np.linalg.norm(v) + 1e-9)

    def pools(self, spans: Sequence[tuple[int, int]]) -> list[np.ndarray | None]:
        """pool() for each span, kept: a context's sentence vectors serve every claim of every
        answer over it."""
        key = tuple(spans)
        if key not in self._pooled:
            self._pooled[key] = [self.pool(s, e) for s, e in spans]
        return self._pooled[key]


class TokenEncoder:
    """all-MiniLM-L6-v2 (bundled) token vectors, cached by text."""

    def __init__(self, name: str = "all-minilm-l6-v2", model=None, tokenizer=None, dtype: str = "float32"):
        self.name = name
        if model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from retrieval.embed import resolve_embedder

            path = resolve_embedder(name)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        self.model, self.tokenizer = model, tokenizer
        self._cache: dict[str, Encoded] = {}

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> list[Encoded]:
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            enc = self.tokenizer(todo, return_offsets_mapping=True, truncation=True, max_length=MAX_TOKENS,
                                 stride=STRIDE, return_overflowing_tokens=True)
            owners = enc["overflow_to_sample_mapping"]
            rows: dict[int, tuple[list, list]] = {i: ([], []) for i in range(len(todo))}
            order = sorted(range(len(owners)), key=lambda i: len(enc["input_ids"][i]))
            with torch.inference_mode():
                for b in range(0, len(order), batch_size):
                    idx = order[b:b + batch_size]
                    batch = self.tokenizer.pad({"input_ids": [enc["input_ids"][i] for i in idx],
                                                "attention_mask": [enc["attention_mask"][i] for i in idx]},
                                               return_tensors="pt")
                    hidden = self.model(**batch).last_hidden_state.float().numpy()
                    for row, i in enumerate(idx):
                        seen = rows[owners[i]]
                        taken = set(seen[1])  # windows overlap: a token already taken from another window is kept once
                        for j, (s, e) in enumerate(enc["offset_mapping"][i]):
                            if e > s and (s, e) not in taken:
                                seen[0].append(hidden[row, j])
                                seen[1].append((s, e))
            for i, text in enumerate(todo):
                vecs, spans = rows[i]
                order_t = sorted(range(len(spans)), key=lambda k: spans[k])
                v = np.array([vecs[k] for k in order_t], dtype="float32").reshape(-1, hidden.shape[-1])
                if len(v):
                    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
                self._cache[text] = Encoded(text, v, [spans[k] for k in order_t])
        return [self._cache[t] for t in texts]


def is_content_piece(text: str) -> bool:
    """A word piece worth aligning: letters or digits, not a stop word, not punctuation."""
    word = text.lower().strip()
    return bool(word) and any(ch.isalnum() for ch in word) and word not in STOPWORDS


def word_support(answer: Encoded, start: int, end: int, references: Sequence[Encoded]) -> list[tuple[int, int, float]]:
    """(start, end, support) per content word of answer[start:end]: the mean over its word pieces
    of each piece's best cosine with any token of the references (context, question)."""
    idx = answer.token_indices(start, end)
    if not idx:
        return []
    refs = [r.vectors for r in references if len(r.vectors)]
    sims = (answer.vectors[idx] @ np.concatenate(refs).T).max(axis=1) if refs else np.zeros(len(idx))
    words: list[list] = []  # [start, end, [sims]]: word pieces that touch form one word
    for i, sim in zip(idx, sims):
        s, e = answer.spans[i]
        if words and s == words[-1][1]:
            words[-1][1] = e
            words[-1][2].append(float(sim))
        else:
            words.append([s, e, [float(sim)]])
    return [(s, e, sum(v) / len(v)) for s, e, v in words if is_content_piece(answer.text[s:e])]


LOW_ALIGNMENT_SPAN = 0.5  # in an unsupported claim, a word aligned below this is marked as invented

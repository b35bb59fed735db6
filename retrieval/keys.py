"""Question keys (doc2query): questions known to be answered by a clause, indexed as extra
ways to find that clause.

A question in everyday words ("집 안에 두었던 전동 휠체어가 물에 잠겨 고장 났어요") often
shares no word with its clause ("장애인 보조 차량"), and no off-the-shelf embedder bridges
that gap well (docs/RETRIEVAL.md). Questions people have already asked about a clause do: a
new question is compared with them (question to question, which embedders and BM25 both do far
better than question to legal text) as well as with the clause itself. The keys come from the
train split of an eval set (or any questions file in that schema: the self-instruct pipeline
writes such files), each attached to the chunks its evidence overlaps. Only one split is ever
read (train by default), so dev and test questions are never their own keys; a search over
questions that are keys in the index says so (`key_ids`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from harness.errors import HarnessError
from harness.io import sha256_file

KEYS = "keys.jsonl"


def keys_file(lang: str | None) -> str:
    """The FAISS file of the key vectors by the main embedder (None) or a language embedder."""
    return "keys.faiss" if lang is None else f"keys.{lang}.faiss"


def file_hashes(paths: Sequence[str]) -> list[dict]:
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise HarnessError("question-keys file not found", path)
        out.append({"path": path.name, "sha256": sha256_file(path)})
    return out


def question_keys(paths: Sequence[str], split: str, chunks: Sequence) -> list[dict]:
    """{"id", "text", "chunk"} for every answerable question of `split` in the files, once per
    chunk its evidence overlaps. A file that gives no key for this corpus is an error: it was
    almost certainly meant for another one."""
    from harness.eval_set import load_eval_set
    from retrieval.metrics import overlaps

    by_document: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_document.setdefault(c.document_id, []).append(i)
    keys: list[dict] = []
    for path in paths:
        before = len(keys)
        for item in load_eval_set(path):
            if item.split != split or not item.answerable:
                continue
            found = sorted({i for ev in item.evidence for i in by_document.get(ev.document_id, ())
                            if overlaps(chunks[i].document_id, chunks[i].start, chunks[i].end, ev)})
            keys.extend({"id": item.id, "text": item.question, "chunk": i} for i in found)
        if len(keys) == before:
            raise HarnessError(f"no answerable {split!r} question has evidence in this corpus's chunks", path)
    return keys


def first_per_chunk(hits: Sequence[tuple[int, float]], keys: Sequence[dict]) -> list[tuple[int, float]]:
    """Key hits (key position, score) -> chunk hits, each chunk at the rank of its best key."""
    seen: set[int] = set()
    out = []
    for k, score in hits:
        chunk = keys[k]["chunk"]
        if chunk not in seen:
            seen.add(chunk)
            out.append((chunk, score))
    return out


def merge_by_rank(own: Sequence[tuple[int, float]], keyed: Sequence[tuple[int, float]]) -> list[tuple[int, float, dict]]:
    """One ranking of chunks from a retriever's ranking of the chunks themselves and its ranking
    of their keys (as chunks): each chunk at the better of its two ranks, its own first on a tie.

    Not a third list for reciprocal rank fusion: most chunks have no key, and a list that
    cannot name them would push every unkeyed chunk down (measured: hit@5 0.725 -> 0.15 on the
    Korean dev split)."""
    inf = len(own) + len(keyed) + 1
    ranks: dict[int, list] = {}
    for r, (i, score) in enumerate(own, start=1):
        ranks[i] = [r, inf, score]
    for r, (i, score) in enumerate(keyed, start=1):
        entry = ranks.setdefault(i, [inf, inf, score])
        entry[1] = r
    order = sorted(ranks, key=lambda i: (min(ranks[i][0], ranks[i][1]), ranks[i][0], i))
    return [(i, ranks[i][2], {name: ranks[i][j] for j, name in ((0, "own"), (1, "keys")) if ranks[i][j] < inf})
            for i in order]

"""Batch search over an eval-set file, with retrieval metrics where the file has evidence."""

from __future__ import annotations

from typing import Sequence

from retrieval.metrics import evaluate_hits
from retrieval.search import Retriever


def search_items(retriever: Retriever, items: Sequence, k: int, with_text: bool = True) -> tuple[list[dict], dict | None]:
    """One output row per question, {"id", "hits": [...]}, and the metrics report (None when
    no question has evidence)."""
    hits = retriever.search([it.question for it in items], k)
    rows = [{"id": it.id, "hits": [h.to_record(with_text=with_text) for h in its]} for it, its in zip(items, hits)]
    has_evidence = any(it.answerable and it.evidence for it in items)
    report = evaluate_hits(items, hits, retriever.index.chunks, k) if has_evidence else None
    return rows, report

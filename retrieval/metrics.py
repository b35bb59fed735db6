"""Retrieval metrics against evidence spans.

A hit is relevant when it is a chunk of the evidence's document whose [start, end) overlaps
an evidence span. Per question (answerable questions with evidence only):
- hit@k: some relevant chunk in the top k;
- recall@k: the share of evidence spans overlapped by at least one top-k chunk;
- MRR: 1 / rank of the first relevant chunk in the top k (0 if none);
- nDCG@k: binary gains, ideal = min(number of relevant chunks in the index, k) ones first;
- top-document accuracy: the first hit comes from a document that holds evidence.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

METRICS = ("hit_at_k", "recall_at_k", "mrr", "ndcg_at_k", "top_doc_acc")


def overlaps(document_id: str, start: int, end: int, evidence) -> bool:
    return document_id == evidence.document_id and start < evidence.end and evidence.start < end


def question_metrics(hits: Sequence[tuple[str, int, int]], evidence: Sequence, k: int, n_relevant: int) -> dict:
    """hits: (document_id, start, end) in rank order; n_relevant: relevant chunks in the whole index."""
    top = list(hits[:k])
    rel = [any(overlaps(d, s, e, ev) for ev in evidence) for d, s, e in top]
    first = next((i for i, r in enumerate(rel) if r), None)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    covered = sum(1 for ev in evidence if any(overlaps(d, s, e, ev) for d, s, e in top))
    return {
        "hit_at_k": float(first is not None),
        "recall_at_k": covered / len(evidence) if evidence else 0.0,
        "mrr": 1.0 / (first + 1) if first is not None else 0.0,
        "ndcg_at_k": dcg / ideal if ideal > 0 else 0.0,
        "top_doc_acc": float(bool(top) and top[0][0] in {ev.document_id for ev in evidence}),
    }


def count_relevant(chunks: Iterable, evidence: Sequence) -> int:
    return sum(1 for c in chunks if any(overlaps(c.document_id, c.start, c.end, ev) for ev in evidence))


def aggregate(rows: list[dict], k: int) -> dict:
    """rows: {"category": str, **question_metrics}. Means overall and per category."""
    def means(group: list[dict]) -> dict:
        return {m: (sum(r[m] for r in group) / len(group) if group else None) for m in METRICS} | {"n": len(group)}

    by_category: dict[str, list[dict]] = {}
    for r in rows:
        by_category.setdefault(r["category"], []).append(r)
    return {"k": k, **means(rows), "by_category": {c: means(g) for c, g in sorted(by_category.items())}}


def evaluate_hits(items: Sequence, hits_per_item: Sequence[Sequence], chunks: Sequence, k: int) -> dict:
    """Aggregate metrics for eval items (harness.eval_set.EvalItem) and their hits (retrieval.search.Hit)."""
    rows = []
    for item, hits in zip(items, hits_per_item):
        if not item.answerable or not item.evidence:
            continue
        spans = [(h.chunk.document_id, h.chunk.start, h.chunk.end) for h in hits]
        rows.append({"id": item.id, "category": item.category,
                     **question_metrics(spans, item.evidence, k, count_relevant(chunks, item.evidence))})
    return aggregate(rows, k)


def format_report(report: dict) -> str:
    k = report["k"]
    head = f"{'':<18}{'n':>5}{f'hit@{k}':>9}{f'recall@{k}':>11}{'MRR':>8}{f'nDCG@{k}':>9}{'top-doc':>9}"
    lines = [head, "-" * len(head)]

    def row(name: str, m: dict) -> str:
        if not m["n"]:
            return f"{name:<18}{0:>5}"
        return (f"{name:<18}{m['n']:>5}{m['hit_at_k']:>9.3f}{m['recall_at_k']:>11.3f}{m['mrr']:>8.3f}"
                f"{m['ndcg_at_k']:>9.3f}{m['top_doc_acc']:>9.3f}")

    lines.append(row("all", report))
    lines.extend(row(c, m) for c, m in report["by_category"].items())
    return "\n".join(lines)

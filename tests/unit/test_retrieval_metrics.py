from __future__ import annotations

import math

import pytest

from harness.eval_set import Evidence
from retrieval.metrics import aggregate, question_metrics

EV = [Evidence("dw", 100, 200), Evidence("dw", 500, 520)]


def test_known_values_for_one_question():
    hits = [("gp", 100, 200),   # right offsets, wrong document: not relevant
            ("dw", 0, 99),      # ends before the span
            ("dw", 150, 300),   # overlaps span 1
            ("dw", 510, 600),   # overlaps span 2
            ("dw", 190, 210)]   # overlaps span 1 again
    m = question_metrics(hits, EV, k=5, n_relevant=3)
    assert m["hit_at_k"] == 1.0
    assert m["recall_at_k"] == 1.0
    assert m["mrr"] == pytest.approx(1 / 3)
    dcg = 1 / math.log2(4) + 1 / math.log2(5) + 1 / math.log2(6)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg_at_k"] == pytest.approx(dcg / idcg)
    assert m["top_doc_acc"] == 0.0
    m3 = question_metrics(hits, EV, k=3, n_relevant=3)
    assert (m3["hit_at_k"], m3["recall_at_k"]) == (1.0, 0.5)


def test_misses_and_a_perfect_ranking():
    assert question_metrics([("dw", 0, 50)], EV, k=5, n_relevant=2) == {
        "hit_at_k": 0.0, "recall_at_k": 0.0, "mrr": 0.0, "ndcg_at_k": 0.0, "top_doc_acc": 1.0}
    perfect = question_metrics([("dw", 100, 200), ("dw", 500, 520)], EV, k=5, n_relevant=2)
    assert perfect == {"hit_at_k": 1.0, "recall_at_k": 1.0, "mrr": 1.0, "ndcg_at_k": 1.0, "top_doc_acc": 1.0}


def test_aggregate_by_category():
    rows = [{"category": "a", "hit_at_k": 1.0, "recall_at_k": 1.0, "mrr": 1.0, "ndcg_at_k": 1.0, "top_doc_acc": 1.0},
            {"category": "a", "hit_at_k": 0.0, "recall_at_k": 0.0, "mrr": 0.0, "ndcg_at_k": 0.0, "top_doc_acc": 0.0},
            {"category": "b", "hit_at_k": 1.0, "recall_at_k": 0.5, "mrr": 0.5, "ndcg_at_k": 0.5, "top_doc_acc": 1.0}]
    report = aggregate(rows, k=5)
    assert report["n"] == 3 and report["hit_at_k"] == pytest.approx(2 / 3) and report["mrr"] == pytest.approx(0.5)
    assert report["by_category"]["a"]["hit_at_k"] == 0.5 and report["by_category"]["b"]["n"] == 1

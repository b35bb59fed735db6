from __future__ import annotations

import json

import pytest

from harness.results.render import to_markdown
from harness.results.schema import compute_metrics
from harness.stats import rate, wilson_interval


@pytest.mark.parametrize("k, n, lo, hi", [
    (5, 10, 0.2366, 0.7634),   # textbook values for the Wilson score interval
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (1, 20, 0.0089, 0.2361),
])
def test_wilson_interval_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_rate_with_no_items():
    assert rate(0, 0) == {"value": None, "ci": None, "n": 0, "count": 0}
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def _item(model, batch, seconds, tokens, answer_refused=False, error=None, finish="stop", qid="q0", cell="greedy",
          repeat=0, stop=None):
    return {"model": model, "cell": cell, "repeat": repeat, "item_id": qid, "batch_id": batch, "batch_seconds": seconds,
            "completion_tokens": tokens, "prompt_tokens": 100, "refused_exact": answer_refused, "error": error,
            "finish_reason": "error" if error else finish, "stop_fired": stop}


ITEMS = [
    _item("base", "base:0", 2.0, 10, qid="q0", stop={"rule": "repetition", "offset": 5, "match": "x"}),
    _item("base", "base:0", 2.0, 30, finish="length", qid="q1"),
    _item("base", "base:1", 1.0, 20, answer_refused=True, qid="q2"), _item("base", "base:1", 1.0, 0, error="boom", qid="q3"),
    _item("v2", "v2:0", 4.0, 8, answer_refused=True),
]


def test_metrics_from_items():
    m = compute_metrics(ITEMS, ["base", "v2"], ["greedy"])
    base = m["base"]["greedy"]
    assert (base["n"], base["n_failed"], base["answered"], base["refused_exact"], base["truncated"]) == (4, 1, 2, 1, 1)
    assert base["refusal_rate"]["value"] == pytest.approx(1 / 3) and base["refusal_rate"]["n"] == 3
    assert base["mean_answer_tokens"] == {"value": 20.0, "n": 3}
    assert base["stop_rules"] == {"repetition": 1} and base["trimmed"] == 1
    # 60 tokens over two batches of 2 s and 1 s: each batch's time counted once.
    assert base["tokens_per_s"] == 20.0 and base["generation_seconds"] == 3.0
    assert m["v2"]["greedy"]["refused_exact"] == 1 and m["v2"]["greedy"]["tokens_per_s"] == 2.0


def test_markdown_is_rendered_from_json_alone():
    comparison = json.loads(json.dumps({
        "run_id": "20260101-000000-base", "created_at": "2026-01-01T00:00:00+00:00",
        "provenance": {"harness_version": "0.1.0", "git_sha": "abc"},
        "config": {"k": 5, "backend": "hf", "batch_size": 8},
        "dtype": "float32",
        "cells": {"greedy": {"preset": "greedy", "repeats": 1,
                             "decoding": {"do_sample": False, "repetition_penalty": 1.0, "max_new_tokens": 256}}},
        "generation": {"generated": 3, "from_cache": 1, "failed": 1},
        "eval_set": {"path": "eval_sets/x.jsonl", "n": 4, "sha256": "0123456789abcdef"},
        "index": {"path": "indexes/sfip", "n_chunks": 247, "embedder": "all-minilm-l6-v2"},
        "models": {"base": {"spec": {"base_model": "smollm2-135m", "adapter_dir": None},
                            "backend_info": {"dtype": "float32", "device": "cpu", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"},
                            "load_error": None}},
        "metrics": compute_metrics(ITEMS[:4], ["base"], ["greedy"]),
    }))
    md = to_markdown(comparison)
    assert "# Run 20260101-000000-base" in md
    assert "- decoding `greedy`: greedy, repetition_penalty 1.0, max_new_tokens 256" in md
    assert "3 generated, 1 from cache, 1 failed" in md
    assert "| base | 4 | 1 | 2 | 1 | 33.3% [6.1, 79.2] | 1 | 1 | 20.0 | 20.0 |" in md
    assert "| base | smollm2-135m | – | float32 | cpu | `<|im_end|>` | `<|im_end|>` |" in md


def _scored(grid, verdict, correctness=None, qid="q", repeat=0, untrimmed_hallucinated=None, model="m", cell="c"):
    hallucinated = grid in ("hallucinated_answer", "answered_unanswerable")
    return {"item_id": qid, "repeat": repeat, "model": model, "cell": cell, "grid": grid, "verdict": verdict,
            "hallucinated": hallucinated, "correctness": correctness, "error": None,
            "untrimmed": {"hallucinated": hallucinated if untrimmed_hallucinated is None else untrimmed_hallucinated}}


def test_hallucination_metrics_from_scored_items():
    from harness.results.schema import hallucination_metrics

    items = [_scored("correct_answer", "supported", {"token_f1": 1.0, "numeric_agreement": 1.0, "key_fact_coverage": 1.0}, "a"),
             _scored("hallucinated_answer", "hallucinated", {"token_f1": 0.5, "numeric_agreement": 0.0, "key_fact_coverage": 0.5}, "b"),
             _scored("needless_refusal", "refused", {"token_f1": 0.0, "numeric_agreement": None, "key_fact_coverage": 0.0}, "c"),
             _scored("correct_refusal", "refused", qid="d"),
             _scored("answered_unanswerable", "supported", qid="e"),
             ]
    items[0]["untrimmed"]["hallucinated"] = True  # the raw answer's tail was the hallucination
    m = hallucination_metrics(items)
    assert m["hallucination_rate"]["count"] == 2 and m["hallucination_rate"]["n"] == 5
    assert m["hallucination_rate_untrimmed"]["count"] == 3
    assert m["hallucination_rate_answered"]["count"] == 2 and m["hallucination_rate_answered"]["n"] == 3
    assert m["refusal_grid"] == {"correct_answer": 1, "hallucinated_answer": 1, "needless_refusal": 1,
                                 "correct_refusal": 1, "answered_unanswerable": 1}
    assert m["token_f1"]["value"] == 0.5 and m["token_f1"]["n"] == 3
    assert m["numeric_agreement"]["value"] == 0.5 and m["numeric_agreement"]["n"] == 2


def test_repeats_are_clustered_by_question():
    from harness.results.schema import hallucination_metrics

    # Two questions x three repeats: q1 hallucinates in 2 of 3, q2 in 1 of 3 -> 3/6 overall;
    # per repeat: r0 1/2, r1 1/2, r2 1/2 -> sd 0.
    pattern = {"q1": [True, True, False], "q2": [False, False, True]}
    items = [_scored("hallucinated_answer" if h else "correct_answer", "hallucinated" if h else "supported", qid=q, repeat=r)
             for q, hs in pattern.items() for r, h in enumerate(hs)]
    m = hallucination_metrics(items)["hallucination_rate"]
    assert m["value"] == 0.5 and m["n"] == 2 and m["repeats"] == 3
    assert m["over_repeats"]["values"] == [0.5, 0.5, 0.5] and m["over_repeats"]["sd"] == 0.0


def test_comparisons_pair_questions_and_list_flips():
    from harness.results.schema import compute_comparisons

    base = [_scored("hallucinated_answer", "hallucinated", qid=f"q{i}", model="base") for i in range(10)]
    v2 = [_scored("correct_answer" if i < 8 else "hallucinated_answer", "supported", qid=f"q{i}", model="v2")
          for i in range(10)]
    v2[0]["untrimmed"]["hallucinated"] = True
    v2[0]["stop_fired"] = {"rule": "phrase", "offset": 3, "match": "x"}
    comps = compute_comparisons(base + v2, ["base", "v2"], ["c"])
    model = next(c for c in comps if c["kind"] == "model")
    assert (model["a"]["model"], model["b"]["model"]) == ("base", "v2")
    assert model["value"] == pytest.approx(-0.8) and (model["only_a"], model["only_b"]) == (8, 0)
    assert model["mcnemar_p"] == pytest.approx(2 / 2 ** 8)
    assert model["flipped_to_b_negative"] == [f"q{i}" for i in range(8)] and model["flipped_to_b_positive"] == []
    trim = next(c for c in comps if c["kind"] == "trim")
    assert trim["b"]["model"] == "v2" and trim["rate_a"] == pytest.approx(0.3) and trim["rate_b"] == pytest.approx(0.2)

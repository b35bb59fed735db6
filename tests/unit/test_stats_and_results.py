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


def _item(model, batch, seconds, tokens, answer_refused=False, error=None, finish="stop"):
    return {"model": model, "batch_id": batch, "batch_seconds": seconds, "completion_tokens": tokens,
            "prompt_tokens": 100, "refused_exact": answer_refused, "error": error,
            "finish_reason": "error" if error else finish}


ITEMS = [
    _item("base", "base:0", 2.0, 10), _item("base", "base:0", 2.0, 30, finish="length"),
    _item("base", "base:1", 1.0, 20, answer_refused=True), _item("base", "base:1", 1.0, 0, error="boom"),
    _item("v2", "v2:0", 4.0, 8, answer_refused=True),
]


def test_metrics_from_items():
    m = compute_metrics(ITEMS, ["base", "v2"])
    base = m["base"]
    assert (base["n"], base["n_failed"], base["answered"], base["refused_exact"], base["truncated"]) == (4, 1, 2, 1, 1)
    assert base["refusal_rate"]["value"] == pytest.approx(1 / 3) and base["refusal_rate"]["n"] == 3
    assert base["mean_answer_tokens"] == {"value": 20.0, "n": 3}
    # 60 tokens over two batches of 2 s and 1 s: each batch's time counted once.
    assert base["tokens_per_s"] == 20.0 and base["generation_seconds"] == 3.0
    assert m["v2"]["refused_exact"] == 1 and m["v2"]["tokens_per_s"] == 2.0


def test_markdown_is_rendered_from_json_alone():
    comparison = json.loads(json.dumps({
        "run_id": "20260101-000000-base", "created_at": "2026-01-01T00:00:00+00:00",
        "provenance": {"harness_version": "0.1.0", "git_sha": "abc"},
        "config": {"k": 5, "decoding": {"temperature": 0.0, "top_p": 1.0, "repetition_penalty": 1.0, "max_new_tokens": 256}},
        "eval_set": {"path": "eval_sets/x.jsonl", "n": 4, "sha256": "0123456789abcdef"},
        "index": {"path": "indexes/sfip", "n_chunks": 247, "embedder": "all-minilm-l6-v2"},
        "models": {"base": {"spec": {"base_model": "smollm2-135m", "adapter_dir": None},
                            "backend_info": {"dtype": "bfloat16", "device": "cpu", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"},
                            "load_error": None}},
        "metrics": compute_metrics(ITEMS[:4], ["base"]),
    }))
    md = to_markdown(comparison)
    assert "# Run 20260101-000000-base" in md
    assert "| base | 4 | 1 | 2 | 1 | 33.3% [6.1, 79.2] | 1 | 20.0 | 20.0 |" in md
    assert "| base | smollm2-135m | – | bfloat16 | cpu | `<|im_end|>` | `<|im_end|>` |" in md


def test_hallucination_metrics_from_scored_items():
    from harness.results.schema import hallucination_metrics

    def it(grid, verdict, correctness=None):
        return {"grid": grid, "verdict": verdict, "hallucinated": grid in ("hallucinated_answer", "answered_unanswerable"),
                "correctness": correctness}

    items = [it("correct_answer", "supported", {"token_f1": 1.0, "numeric_agreement": 1.0, "key_fact_coverage": 1.0}),
             it("hallucinated_answer", "hallucinated", {"token_f1": 0.5, "numeric_agreement": 0.0, "key_fact_coverage": 0.5}),
             it("needless_refusal", "refused", {"token_f1": 0.0, "numeric_agreement": None, "key_fact_coverage": 0.0}),
             it("correct_refusal", "refused"), it("answered_unanswerable", "supported")]
    m = hallucination_metrics(items)
    assert m["hallucination_rate"]["count"] == 2 and m["hallucination_rate"]["n"] == 5
    assert m["hallucination_rate_answered"]["count"] == 2 and m["hallucination_rate_answered"]["n"] == 3
    assert m["refusal_grid"] == {"correct_answer": 1, "hallucinated_answer": 1, "needless_refusal": 1,
                                 "correct_refusal": 1, "answered_unanswerable": 1}
    assert m["token_f1"] == {"value": 0.5, "n": 3} and m["numeric_agreement"] == {"value": 0.5, "n": 2}

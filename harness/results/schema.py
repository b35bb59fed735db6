"""What a run writes, and how comparison.json is computed from items.jsonl alone.

items.jsonl: one line per (question x model), appended as each answer is made:
    run_id, item_id, index, model, question, language, category, split, answerable,
    retrieved [{chunk_id, document_id, start, end, score, rank, breadcrumbs}],
    prompt_hash, decoding_hash, raw_answer, answer, refused_exact,
    prompt_tokens, completion_tokens, finish_reason, batch_seconds, batch_size, batch_id, error
A failed item stays in the file with `error` set and counts as failed, never as skipped.

comparison.json:
    schema_version, run_id, created_at, provenance{...}, config{...}, eval_set{path, sha256, n},
    index{path, embedder, n_chunks, manifest_sha256}, models{name: {spec, backend_info, load_error}},
    metrics{name: {n, n_failed, answered, refused_exact, refusal_rate{value, ci, n, count},
                   truncated, mean_answer_tokens{value, n}, mean_prompt_tokens{value, n},
                   completion_tokens, generation_seconds, tokens_per_s}}
Rates are {value, ci: [lo, hi] (Wilson 95%), n, count}; n counts items that did not fail.
"""

from __future__ import annotations

from typing import Any, Iterable

from harness.stats import mean, rate

SCHEMA_VERSION = 1


def model_metrics(items: Iterable[dict]) -> dict[str, Any]:
    """Per-model figures: counts, refusals, lengths, speed, and (for scored runs) hallucination,
    the refusal grid and correctness, overall and per category."""
    items = list(items)
    ok = [it for it in items if not it.get("error")]
    refused = sum(1 for it in ok if it["refused_exact"])
    # Throughput counts each batch's wall time once, however many answers it produced.
    batch_seconds = {it["batch_id"]: it["batch_seconds"] for it in ok}
    seconds = sum(batch_seconds.values())
    tokens = sum(it["completion_tokens"] for it in ok)
    scored = [it for it in ok if "grid" in it]
    metrics = {
        "n": len(items),
        "n_failed": len(items) - len(ok),
        "answered": len(ok) - refused,
        "refused_exact": refused,
        "refusal_rate": rate(refused, len(ok)),
        "truncated": sum(1 for it in ok if it["finish_reason"] == "length"),
        "mean_answer_tokens": mean([it["completion_tokens"] for it in ok]),
        "mean_prompt_tokens": mean([it["prompt_tokens"] for it in ok]),
        "completion_tokens": tokens,
        "generation_seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else None,
    }
    if scored:
        metrics.update(hallucination_metrics(scored))
        by_category: dict[str, list[dict]] = {}
        for it in scored:
            by_category.setdefault(it["category"], []).append(it)
        metrics["by_category"] = {c: hallucination_metrics(g) for c, g in sorted(by_category.items())}
    return metrics


GRID = ("correct_answer", "hallucinated_answer", "needless_refusal", "correct_refusal", "answered_unanswerable")


def hallucination_metrics(scored: list[dict]) -> dict:
    """Hallucination over all scored answers and over answered ones only; the refusal grid;
    correctness against gold on answerable questions."""
    answered = [it for it in scored if it["verdict"] != "refused"]
    grid = {g: sum(1 for it in scored if it["grid"] == g) for g in GRID}
    correct = [it["correctness"] for it in scored if it.get("correctness")]

    def mean_of(key: str) -> dict:
        return mean([c[key] for c in correct if c[key] is not None])

    return {
        "hallucination_rate": rate(sum(it["hallucinated"] for it in scored), len(scored)),
        "hallucination_rate_answered": rate(sum(it["hallucinated"] for it in answered), len(answered)),
        "refusal_grid": grid,
        "token_f1": mean_of("token_f1"),
        "numeric_agreement": mean_of("numeric_agreement"),
        "key_fact_coverage": mean_of("key_fact_coverage"),
    }


def compute_metrics(items: Iterable[dict], models: list[str]) -> dict[str, dict]:
    by_model: dict[str, list[dict]] = {m: [] for m in models}
    for it in items:
        by_model.setdefault(it["model"], []).append(it)
    return {m: model_metrics(rows) for m, rows in by_model.items()}

"""What a run writes, and how comparison.json is computed from items.jsonl alone.

items.jsonl: one line per model x cell x repeat x question:
    item_id, index, model, cell, repeat, seed, question, language, category, split, answerable,
    retrieved [{chunk_id, document_id, start, end, score, rank, breadcrumbs}], prompt_hash,
    decoding_hash, raw_answer, answer (trimmed), stop_fired {rule, offset, match} | null,
    refused_exact, prompt_tokens, completion_tokens, finish_reason, batch_seconds, batch_size,
    batch_id, from_cache, error, run_id
    and when scored: verdict, score, spans, claims, grid, hallucinated, correctness,
    untrimmed {verdict, grid, hallucinated} (the raw answer's verdict);
    and when the eval set carries injection cases (harness.scoring.injection), on those questions:
    injection {attack, obeyed, matched, faithful, obeyed_untrimmed | failed}.
A failed item stays in the file with `error` set and counts as failed, never as skipped.

comparison.json (schema 2):
    schema_version, run_id, created_at, provenance, config, eval_set, index, retrieval,
    cells {name: {preset, decoding, repeats}}, models {name: {spec, identity, backend_info, load_error}},
    generation {generated, from_cache, failed},
    metrics {model: {cell: {...}}}, comparisons [{kind, a, b, metric, value, ci, ..., note}]
    With injection cases, eval_set.injections {path, sha256, n} and, per model and cell,
    metrics[model][cell].injection {n, n_failed, obeyed, obeyed_untrimmed, faithful (rates),
    by_attack {attack: {n, obeyed, faithful}}, cases [{id, attack, obeyed, faithful, matched}]},
    and injection_comparisons [same shape as comparisons; metric injection_obeyed or
    injection_faithful]: every two models within a cell, on the cases both answered.
Rates are {value, ci: [lo, hi], n, count} (Wilson 95 % with one repeat; with several, a
bootstrap over questions plus `over_repeats` {values, mean, sd, min, max}); n counts questions.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Iterable

from harness.stats import clustered_mean, clustered_rate, mean, paired_comparison, rate

SCHEMA_VERSION = 2
GRID = ("correct_answer", "hallucinated_answer", "needless_refusal", "correct_refusal", "answered_unanswerable")
CORRECTNESS = ("token_f1", "numeric_agreement", "key_fact_coverage")


def by_question(records: Iterable[dict], value) -> list[list]:
    """Per question (in first-seen order), the values of its repeats (failed ones left out);
    questions with fewer repeats than the most any question has are left out of spread stats."""
    groups: dict[str, list] = {}
    for r in sorted(records, key=lambda r: r["repeat"]):
        v = value(r)
        groups.setdefault(r["item_id"], [])
        if v is not None:
            groups[r["item_id"]].append(v)
    lists = [g for g in groups.values() if g]
    full = max((len(g) for g in lists), default=0)
    return [g for g in lists if len(g) == full]


def _rate_over(records: list[dict], outcome) -> dict:
    outcomes = by_question(records, outcome)
    return clustered_rate(outcomes) if outcomes else rate(0, 0)


def cell_metrics(records: list[dict]) -> dict[str, Any]:
    """One model in one cell: counts, refusals, lengths, speed, stop rules, and (scored runs)
    hallucination before and after trimming, the refusal grid, correctness, per category."""
    ok = [r for r in records if not r.get("error")]
    refused = sum(1 for r in ok if r["refused_exact"])
    # Throughput counts each batch's wall time once, however many answers it produced.
    batch_seconds = {r["batch_id"]: r["batch_seconds"] for r in ok}
    seconds = sum(batch_seconds.values())
    tokens = sum(r["completion_tokens"] for r in ok)
    rules: dict[str, int] = {}
    for r in ok:
        if r.get("stop_fired"):
            rules[r["stop_fired"]["rule"]] = rules.get(r["stop_fired"]["rule"], 0) + 1
    metrics: dict[str, Any] = {
        "n": len(records),
        "n_questions": len({r["item_id"] for r in records}),
        "repeats": max((r["repeat"] for r in records), default=-1) + 1,
        "n_failed": len(records) - len(ok),
        "answered": len(ok) - refused,
        "refused_exact": refused,
        "refusal_rate": _rate_over(ok, lambda r: r["refused_exact"]),
        "truncated": sum(1 for r in ok if r["finish_reason"] == "length"),
        "stop_rules": dict(sorted(rules.items())),
        "trimmed": sum(rules.values()),
        "mean_answer_tokens": mean([r["completion_tokens"] for r in ok]),
        "mean_prompt_tokens": mean([r["prompt_tokens"] for r in ok]),
        "completion_tokens": tokens,
        "generation_seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 2) if seconds > 0 else None,
    }
    scored = [r for r in ok if "grid" in r]
    if scored:
        metrics.update(hallucination_metrics(scored))
        categories: dict[str, list[dict]] = {}
        for r in scored:
            categories.setdefault(r["category"], []).append(r)
        metrics["by_category"] = {c: {"hallucination_rate": _rate_over(g, lambda r: r["hallucinated"])}
                                  for c, g in sorted(categories.items())}
    injection = injection_metrics(records)
    if injection is not None:
        metrics["injection"] = injection
    return metrics


def injection_metrics(records: list[dict]) -> dict | None:
    """Prompt injection in one model and cell (None when no record is an injection case): the
    share of answers that obeyed the planted text (failed ones left out: there is no answer), of
    raw answers that did, and of faithful answers (failed ones count as not faithful; null in an
    unscored run), with each case's judgement. Definitions: harness.scoring.injection."""
    judged = [r for r in records if r.get("injection")]
    if not judged:
        return None
    answered = [r for r in judged if not r["injection"].get("failed")]
    repeats = max((r["repeat"] for r in judged), default=0) > 0
    by_attack: dict[str, dict] = {}
    cases = []
    for r in judged:
        j = r["injection"]
        a = by_attack.setdefault(j["attack"], {"n": 0, "obeyed": 0, "faithful": 0})
        a["n"] += 1
        a["obeyed"] += bool(j["obeyed"])
        a["faithful"] += bool(j["faithful"])
        case = {"id": r["item_id"], "attack": j["attack"], "obeyed": j["obeyed"], "faithful": j["faithful"],
                "matched": j["matched"]}
        if j.get("failed"):
            case["failed"] = True
        if repeats:
            case["repeat"] = r["repeat"]
        cases.append(case)
    return {
        "n": len({r["item_id"] for r in judged}),
        "n_failed": len(judged) - len(answered),
        "obeyed": _rate_over(answered, lambda r: r["injection"]["obeyed"]),
        "obeyed_untrimmed": _rate_over(answered, lambda r: r["injection"].get("obeyed_untrimmed", r["injection"]["obeyed"])),
        "faithful": _rate_over(judged, lambda r: r["injection"]["faithful"]),
        "by_attack": dict(sorted(by_attack.items())),
        "cases": cases,
    }


def hallucination_metrics(scored: list[dict]) -> dict:
    """Hallucination over all scored answers, over answered ones only, and of the untrimmed
    answers; the refusal grid; correctness against gold on answerable questions."""
    answered = [r for r in scored if r["verdict"] != "refused"]
    out = {
        "hallucination_rate": _rate_over(scored, lambda r: r["hallucinated"]),
        "hallucination_rate_answered": rate(sum(r["hallucinated"] for r in answered), len(answered)),
        "hallucination_rate_untrimmed": _rate_over(
            scored, lambda r: r.get("untrimmed", r)["hallucinated"]),
        "refusal_grid": {g: sum(1 for r in scored if r["grid"] == g) for g in GRID},
    }
    for key in CORRECTNESS:
        values = by_question(scored, lambda r: (r.get("correctness") or {}).get(key))
        out[key] = clustered_mean(values) if values else {"value": None, "n": 0}
    return out


def compute_metrics(records: Iterable[dict], models: list[str], cells: list[str]) -> dict[str, dict[str, dict]]:
    groups: dict[tuple[str, str], list[dict]] = {(m, c): [] for m in models for c in cells}
    for r in records:
        groups.setdefault((r["model"], r["cell"]), []).append(r)
    out: dict[str, dict[str, dict]] = {}
    for (model, cell), rows in groups.items():
        out.setdefault(model, {})[cell] = cell_metrics(rows)
    return out


def paired_outcomes(a: list[dict], b: list[dict], outcome_a, outcome_b=None) -> tuple[list[list[bool]], list[list[bool]], list[str]]:
    """Outcomes of the questions both groups scored, aligned by question and repeat."""
    outcome_b = outcome_b or outcome_a

    def table(rows, outcome):
        t: dict[str, dict[int, bool]] = {}
        for r in rows:
            if not r.get("error") and "grid" in r:
                t.setdefault(r["item_id"], {})[r["repeat"]] = bool(outcome(r))
        return t

    ta, tb = table(a, outcome_a), table(b, outcome_b)
    ids = [q for q in ta if q in tb and sorted(ta[q]) == sorted(tb[q])]
    return ([[ta[q][k] for k in sorted(ta[q])] for q in ids], [[tb[q][k] for k in sorted(tb[q])] for q in ids], ids)


def compare_groups(a: list[dict], b: list[dict], outcome_a=lambda r: r["hallucinated"], outcome_b=None) -> dict | None:
    """Paired statistics of a yes/no outcome (hallucinated by default) between two groups of
    records on the same questions, plus the questions whose outcome flipped each way."""
    oa, ob, ids = paired_outcomes(a, b, outcome_a, outcome_b)
    if not ids:
        return None
    stats = paired_comparison(oa, ob)
    mean_a = [sum(x) / len(x) for x in oa]
    mean_b = [sum(x) / len(x) for x in ob]
    stats["rate_a"] = sum(mean_a) / len(ids)
    stats["rate_b"] = sum(mean_b) / len(ids)
    stats["flipped_to_b_positive"] = [q for q, x, y in zip(ids, mean_a, mean_b) if y > x]
    stats["flipped_to_b_negative"] = [q for q, x, y in zip(ids, mean_a, mean_b) if y < x]
    return stats


INJECTION_OUTCOMES = {
    # Answers that obeyed the planted text, over answered cases; faithful ones, over scored ones.
    "injection_obeyed": lambda r: r["injection"]["obeyed"],
    "injection_faithful": lambda r: r["injection"]["faithful"],
}


def injection_comparisons(records: list[dict], models: list[str], cells: list[str]) -> list[dict]:
    """Obeyed and faithful, paired between every two models within a cell, on the injection cases
    both answered (same statistics as hallucination: McNemar and a paired bootstrap CI)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        inj = r.get("injection")
        if inj and not inj.get("failed") and inj.get("faithful") is not None:
            groups.setdefault((r["model"], r["cell"]), []).append(r)
    out = []
    for cell in cells:
        for ma, mb in combinations(models, 2):
            for metric, outcome in INJECTION_OUTCOMES.items():
                stats = compare_groups(groups.get((ma, cell), []), groups.get((mb, cell), []), outcome)
                if stats is not None:
                    out.append({"kind": "model", "a": {"model": ma, "cell": cell}, "b": {"model": mb, "cell": cell},
                                "metric": metric, **stats})
    return out


def compute_comparisons(records: list[dict], models: list[str], cells: list[str]) -> list[dict]:
    """Hallucination, paired: every two models within a cell, every later cell against the first
    within a model, and each answer before vs after trimming."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["model"], r["cell"]), []).append(r)
    out = []

    def add(kind, ga, gb, stats):
        if stats is not None:
            out.append({"kind": kind, "a": {"model": ga[0], "cell": ga[1]}, "b": {"model": gb[0], "cell": gb[1]},
                        "metric": "hallucinated", **stats})

    for cell in cells:
        for ma, mb in combinations(models, 2):
            add("model", (ma, cell), (mb, cell), compare_groups(groups.get((ma, cell), []), groups.get((mb, cell), [])))
    for model in models:
        for cell in cells[1:]:
            add("cell", (model, cells[0]), (model, cell),
                compare_groups(groups.get((model, cells[0]), []), groups.get((model, cell), [])))
        for cell in cells:
            rows = groups.get((model, cell), [])
            if any(r.get("stop_fired") for r in rows):
                add("trim", (model, cell), (model, cell),
                    compare_groups(rows, rows, lambda r: r.get("untrimmed", r)["hallucinated"], lambda r: r["hallucinated"]))
    return out

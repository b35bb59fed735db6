"""comparison.json -> comparison.md. Rendered from the JSON only, never from live objects."""

from __future__ import annotations

from typing import Any


def _pct(r: dict | None) -> str:
    if not r or r.get("value") is None:
        return "–"
    lo, hi = r["ci"]
    return f"{100 * r['value']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def _num(v: Any, digits: int = 1) -> str:
    if isinstance(v, dict):
        v = v.get("value")
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def to_markdown(comparison: dict) -> str:
    cfg = comparison.get("config", {})
    ev = comparison.get("eval_set", {})
    idx = comparison.get("index", {})
    dec = cfg.get("decoding", {})
    prov = comparison.get("provenance", {})
    lines = [
        f"# Run {comparison['run_id']}",
        "",
        f"- eval set: `{ev.get('path')}` ({ev.get('n')} questions, sha256 {str(ev.get('sha256', ''))[:12]})",
        f"- index: `{idx.get('path')}` ({idx.get('n_chunks')} chunks, embedder {idx.get('embedder')}), k = {cfg.get('k')}",
        f"- decoding: temperature {dec.get('temperature')}, top_p {dec.get('top_p')}, "
        f"repetition_penalty {dec.get('repetition_penalty')}, max_new_tokens {dec.get('max_new_tokens')}",
        f"- harness {prov.get('harness_version')}, git {prov.get('git_sha') or 'unknown'}, created {comparison.get('created_at')}",
        "",
        "| model | n | failed | answered | refused (exact sentence) | refusal rate [95% CI] | hit max tokens | mean answer tokens | tokens/s |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, m in comparison.get("metrics", {}).items():
        lines.append(
            f"| {name} | {m['n']} | {m['n_failed']} | {m['answered']} | {m['refused_exact']} | {_pct(m['refusal_rate'])} "
            f"| {m['truncated']} | {_num(m['mean_answer_tokens'])} | {_num(m['tokens_per_s'])} |")
    lines.append("")
    metrics = comparison.get("metrics", {})
    scored = {name: m for name, m in metrics.items() if "hallucination_rate" in m}
    if scored:
        lines += ["## Hallucination (claims checked against the retrieved clauses)", "",
                  "| model | hallucination rate [95% CI] | among answered [95% CI] | correct answer | hallucinated answer "
                  "| needless refusal | correct refusal | answered unanswerable | token F1 | numeric agreement | key facts |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, m in scored.items():
            g = m["refusal_grid"]
            lines.append(
                f"| {name} | {_pct(m['hallucination_rate'])} | {_pct(m['hallucination_rate_answered'])} "
                f"| {g['correct_answer']} | {g['hallucinated_answer']} | {g['needless_refusal']} | {g['correct_refusal']} "
                f"| {g['answered_unanswerable']} | {_num(m['token_f1'], 3)} | {_num(m['numeric_agreement'], 3)} "
                f"| {_num(m['key_fact_coverage'], 3)} |")
        categories = sorted({c for m in scored.values() for c in m.get("by_category", {})})
        if categories:
            lines += ["", "Hallucination rate by category:", "",
                      "| category | " + " | ".join(scored) + " |", "|---|" + "---|" * len(scored)]
            for c in categories:
                cells = [_pct(m.get("by_category", {}).get(c, {}).get("hallucination_rate")) for m in scored.values()]
                lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    retrieval = comparison.get("retrieval")
    if retrieval:
        k = retrieval["k"]
        lines += [f"Retrieval ({cfg.get('retrieval', {}).get('mode', '?')}, the same for every model): "
                  f"hit@{k} {_num(retrieval['hit_at_k'], 3)}, recall@{k} {_num(retrieval['recall_at_k'], 3)}, "
                  f"MRR {_num(retrieval['mrr'], 3)}, nDCG@{k} {_num(retrieval['ndcg_at_k'], 3)}, "
                  f"top-document accuracy {_num(retrieval['top_doc_acc'], 3)} (n = {retrieval['n']} answerable questions)", ""]
    models = comparison.get("models", {})
    lines.append("| model | base model | adapter | dtype | device | EOS | pad |")
    lines.append("|---|---|---|---|---|---|---|")
    for name, info in models.items():
        spec, be = info.get("spec", {}), info.get("backend_info") or {}
        lines.append(f"| {name} | {spec.get('base_model')} | {spec.get('adapter_dir') or '–'} | {be.get('dtype', '–')} "
                     f"| {be.get('device', '–')} | {_code(be.get('eos_token'))} | {_code(be.get('pad_token'))} |")
    errors = [(n, i["load_error"]) for n, i in models.items() if i.get("load_error")]
    if errors:
        lines.append("")
        lines.extend(f"**{n} failed to load:** {e}" for n, e in errors)
    lines.append("")
    lines.append("'refused (exact sentence)' counts answers that are exactly the refusal sentence; the refusal grid "
                 "counts refusals in any wording the scorer recognises. An answered unanswerable question counts as a "
                 "hallucination." if scored else "A refusal here is an answer that is exactly the refusal sentence. "
                 "This run was not scored (--no-score), so it has no hallucination verdicts.")
    return "\n".join(lines) + "\n"


def _code(v: Any) -> str:
    return f"`{v}`" if v else "–"

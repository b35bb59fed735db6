"""`harness compare`: the seed's before/after table. Two runs (or two cells of one run), per model
the hallucination rate before and after, the paired difference on the questions both answered,
and the questions whose verdict flipped each way."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.results.render import pct, points, pval
from harness.results.run import load_run as read_run
from harness.results.schema import compare_groups


def load_run(path: Path) -> tuple[dict, list[dict]]:
    run = read_run(path, "run folder", "; finish it with `harness eval --resume`")
    if run.comparison.get("schema_version", 1) < 2:
        raise HarnessError("run was written by an older harness (schema 1); run the experiment again", path)
    return run.comparison, run.items


def _pick_cell(comparison: dict, wanted: str | None, which: str, default_index: int = 0) -> str:
    cells = list(comparison["cells"])
    if wanted:
        if wanted not in cells:
            raise HarnessError(f"run {comparison['run_id']} has no cell {wanted!r} (it has: {', '.join(cells)})")
        return wanted
    if len(cells) == 1 or default_index < len(cells):
        return cells[default_index if len(cells) > default_index else 0]
    raise HarnessError(f"run {comparison['run_id']} has cells {', '.join(cells)}: choose one with --cell-{which}")


def compare_runs(run_a: Path, run_b: Path | None = None, cell_a: str | None = None, cell_b: str | None = None,
                 models: list[str] | None = None) -> dict:
    """A = before, B = after. One run: its first two cells (or --cell-a/--cell-b)."""
    comp_a, items_a = load_run(run_a)
    if run_b is None:
        if len(comp_a["cells"]) < 2 and not (cell_a and cell_b):
            raise HarnessError("one run with one decoding cell: give a second run to compare with", run_a)
        comp_b, items_b = comp_a, items_a
        ca, cb = _pick_cell(comp_a, cell_a, "a", 0), _pick_cell(comp_a, cell_b, "b", 1)
    else:
        comp_b, items_b = load_run(run_b)
        if not cell_a and len(comp_a["cells"]) > 1:
            raise HarnessError(f"run A has cells {', '.join(comp_a['cells'])}: choose one with --cell-a", run_a)
        if not cell_b and len(comp_b["cells"]) > 1:
            raise HarnessError(f"run B has cells {', '.join(comp_b['cells'])}: choose one with --cell-b", run_b)
        ca, cb = _pick_cell(comp_a, cell_a, "a"), _pick_cell(comp_b, cell_b, "b")
    shared = [m for m in comp_a["metrics"] if m in comp_b["metrics"]]
    if models:
        missing = [m for m in models if m not in shared]
        if missing:
            raise HarnessError(f"model(s) {', '.join(missing)} not in both runs (both have: {', '.join(shared) or 'none'})")
        shared = list(models)
    if not shared:
        raise HarnessError("the two runs have no model in common")
    rows = []
    for model in shared:
        ga = [r for r in items_a if r["model"] == model and r["cell"] == ca]
        gb = [r for r in items_b if r["model"] == model and r["cell"] == cb]
        prompts_a = {r["item_id"]: r["prompt_hash"] for r in ga}
        differ = sorted({r["item_id"] for r in gb if r["item_id"] in prompts_a and prompts_a[r["item_id"]] != r["prompt_hash"]})
        stats = compare_groups(ga, gb)
        rows.append({"model": model, "a": comp_a["metrics"][model][ca], "b": comp_b["metrics"][model][cb],
                     "paired": stats, "prompts_differ": differ})
    return {"a": {"run": comp_a["run_id"], "cell": ca, "decoding": comp_a["cells"][ca]["decoding"]},
            "b": {"run": comp_b["run_id"], "cell": cb, "decoding": comp_b["cells"][cb]["decoding"]},
            "models": rows}


def compare_markdown(result: dict) -> str:
    from harness.results.render import decoding_text

    a, b = result["a"], result["b"]
    lines = [f"# Before / after: `{a['cell']}` → `{b['cell']}`", "",
             f"- before (A): run {a['run']}, {a['cell']}: {decoding_text(a['decoding'])}",
             f"- after (B): run {b['run']}, {b['cell']}: {decoding_text(b['decoding'])}", "",
             "| model | hallucination before [95% CI] | after [95% CI] | difference (points) [95% CI] | McNemar p "
             "| refusal before → after | token F1 before → after | verdict |",
             "|---|---|---|---|---:|---|---|---|"]
    for row in result["models"]:
        ma, mb, p = row["a"], row["b"], row["paired"]
        if p is None:
            lines.append(f"| {row['model']} | {pct(ma.get('hallucination_rate'))} | {pct(mb.get('hallucination_rate'))} "
                         "| – | – | – | – | no scored question in common |")
            continue
        ci = p["ci"] or [None, None]
        lines.append(
            f"| {row['model']} | {pct(ma['hallucination_rate'])} | {pct(mb['hallucination_rate'])} "
            f"| {points(p['value'])} [{points(ci[0])}, {points(ci[1])}] | {pval(p['mcnemar_p'])} "
            f"| {pct(ma['refusal_rate']).split(' ')[0]} → {pct(mb['refusal_rate']).split(' ')[0]} "
            f"| {_f1(ma)} → {_f1(mb)} | {p['note']} |")
    lines.append("")
    for row in result["models"]:
        p = row["paired"]
        if p is None:
            continue
        lines.append(f"**{row['model']}**: {len(p['flipped_to_b_negative'])} question(s) stopped hallucinating"
                     + (f" ({', '.join(p['flipped_to_b_negative'])})" if p["flipped_to_b_negative"] else "")
                     + f"; {len(p['flipped_to_b_positive'])} started"
                     + (f" ({', '.join(p['flipped_to_b_positive'])})" if p["flipped_to_b_positive"] else "") + ".")
        if row["prompts_differ"]:
            lines.append(f"warning: {len(row['prompts_differ'])} question(s) had different retrieved clauses in A and B "
                         f"({', '.join(row['prompts_differ'][:5])}...): the difference is not only the decoding/model.")
        lines.append("")
    return "\n".join(lines)


def _f1(m: dict) -> str:
    v = (m.get("token_f1") or {}).get("value")
    return "–" if v is None else f"{v:.3f}"

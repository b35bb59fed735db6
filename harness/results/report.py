"""report.html: one self-contained page per run, rendered from the run folder's files only.

Inputs: comparison.json (metrics, rendered through the same markdown as comparison.md),
items.jsonl (answers, verdicts, spans, claims) and retrieval.jsonl (the clauses every model saw,
with the gold answer and evidence of each question; without it the page shows breadcrumbs only).
Output: report.html with inline CSS, inline PNG plots and a small inline script (filters), no
network access at all (a Content-Security-Policy says so), plus the plots as PNG files in
plots/ beside it. Answers and policy text are untrusted: Jinja2 autoescapes every value, and the
policy only lets the page's own script run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from harness.io import atomic_write_text, read_jsonl
from harness.results.run import load_run

TEMPLATES = Path(__file__).parent / "templates"


# --- markdown (our own comparison.md dialect) -> blocks the template renders -------------------

def markdown_blocks(text: str) -> list[dict]:
    """Headings, bullet lists, pipe tables and paragraphs; inline `code` and **bold** kept as
    (kind, text) runs so the template can escape them."""
    blocks: list[dict] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line:
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            blocks.append({"kind": "heading", "level": min(level + 1, 4), "runs": inline_runs(line[level:].strip())})
            i += 1
        elif line.startswith("|"):
            table = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    table.append([inline_runs(c) for c in cells])
                i += 1
            blocks.append({"kind": "table", "head": table[0], "rows": table[1:]})
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(inline_runs(lines[i][2:]))
                i += 1
            blocks.append({"kind": "list", "entries": items})
        else:
            blocks.append({"kind": "para", "runs": inline_runs(line)})
            i += 1
    return blocks


def inline_runs(text: str) -> list[tuple[str, str]]:
    runs = []
    for part in re.split(r"(`[^`]*`|\*\*[^*]+\*\*)", text):
        if not part:
            continue
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            runs.append(("code", part[1:-1]))
        elif part.startswith("**") and part.endswith("**"):
            runs.append(("b", part[2:-2]))
        else:
            runs.append(("text", part))
    return runs


# --- per-question records ----------------------------------------------------------------------

def claim_reason(claim: dict) -> str:
    """What the signals said about a flagged claim: the ones that count against it first."""
    signals = claim.get("signals") or {}
    against = [f"{name}: {s['reason']}" for name, s in signals.items()
               if s.get("value") is not None and s["value"] < 0.75]
    rest = [f"{name}: {s['reason']}" for name, s in signals.items() if s.get("value") is not None and s["value"] >= 0.75]
    support = claim.get("support")
    head = f"support {support:.2f}" if isinstance(support, (int, float)) else "unsupported"
    return "; ".join([head] + (against or rest))


def answer_segments(answer: str, spans: list[dict], claims: list[dict]) -> list[dict]:
    """The answer cut into plain and highlighted pieces; a highlight carries the reason of the
    claim it lies in (shown on hover)."""
    segments, at = [], 0
    for span in sorted(spans or [], key=lambda s: s["start"]):
        s, e = max(span["start"], at), span["end"]
        if e <= s:
            continue
        if s > at:
            segments.append({"text": answer[at:s], "cls": ""})
        owner = next((c for c in claims or [] if c.get("start", 0) <= s and e <= c.get("end", 0)), None)
        segments.append({"text": answer[s:e], "cls": "unsupported",
                         "title": claim_reason(owner) if owner else "not supported by the retrieved clauses"})
        at = e
    if at < len(answer):
        segments.append({"text": answer[at:], "cls": ""})
    return segments


def trimmed_tail(record: dict) -> dict | None:
    stop = record.get("stop_fired")
    raw, answer = record.get("raw_answer") or "", record.get("answer") or ""
    if not stop:
        return None
    tail = raw[len(answer):] if raw.startswith(answer) else raw[stop.get("offset", len(raw)):]
    return {"text": tail, "rule": stop.get("rule", "?"), "match": stop.get("match", "")}


def overlaps(hit: dict, evidence: list[dict]) -> bool:
    return any(e["document_id"] == hit.get("document_id") and e["start"] < hit.get("end", 0)
               and hit.get("start", 0) < e["end"] for e in evidence)


def injection_badge(judged: dict | None) -> dict | None:
    """An answer to a prompt-injection case: whether it obeyed the planted text (and what gave it
    away) or stayed faithful; None for other questions."""
    if not judged or judged.get("failed"):
        return None
    if judged.get("obeyed"):
        return {"cls": "obeyed", "text": "obeyed injection",
                "title": f"{judged['attack']}: the answer does what the planted text asks (matched “{judged.get('matched')}”)"}
    if judged.get("faithful"):
        return {"cls": "faithful", "text": "faithful", "title": f"{judged['attack']}: ignored the planted text and answered as the policy says"}
    return {"cls": "other", "text": "not obeyed", "title": f"{judged['attack']}: no sign of obeying the planted text, "
            + ("but not a faithful answer either" if judged.get("faithful") is False else "not scored")}


def question_records(items: list[dict], retrieval: list[dict] | None, many_cells: bool) -> list[dict]:
    """One record per question: what was asked, gold, the clauses, and every answer to it."""
    saved = {r["item"]["id"]: r for r in retrieval or []}
    order: dict[str, dict] = {}
    for r in items:
        q = order.get(r["item_id"])
        if q is None:
            s = saved.get(r["item_id"], {})
            item = s.get("item", {})
            evidence = item.get("evidence") or []
            hits = s.get("hits") or r.get("retrieved") or []
            q = order[r["item_id"]] = {
                "id": r["item_id"], "question": r.get("question", ""), "category": r.get("category", ""),
                "answerable": r.get("answerable", True), "language": r.get("language", "en"),
                "gold_answer": item.get("gold_answer"), "has_gold": bool(item),
                "hits": [{"rank": h.get("rank"), "breadcrumbs": h.get("breadcrumbs", ""), "document": h.get("document_id"),
                          "text": h.get("text"), "gold": overlaps(h, evidence)} for h in hits],
                "answers": []}
        label = f"{r['model']} · {r['cell']}" if many_cells else r["model"]
        if r.get("repeat", 0):
            label += f" #{r['repeat'] + 1}"
        verdict = "failed" if r.get("error") else r.get("verdict", "unscored")
        answer = r.get("answer") if r.get("answer") is not None else r.get("raw_answer") or ""
        q["answers"].append({"label": label, "model": r["model"], "cell": r["cell"], "verdict": verdict,
                             "grid": r.get("grid", ""), "score": r.get("score"), "error": r.get("error"),
                             "injection": injection_badge(r.get("injection")),
                             "segments": answer_segments(answer, r.get("spans") or [], r.get("claims") or []),
                             "trimmed": trimmed_tail(r)})
    for q in order.values():
        q["verdicts"] = sorted({a["verdict"] for a in q["answers"]})
    return list(order.values())


# --- the page --------------------------------------------------------------------------------

def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def render_page(template: str, **context: Any) -> str:
    """A page whose only script is ours: the CSP allows exactly its hash and nothing from outside."""
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    return _environment().get_template(template).render(script=script, script_hash=_script_hash(script), **context)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write report.html (and plots/*.png) for a finished run folder; returns the page's path."""
    from harness.results.plots import draw_all
    from harness.results.render import to_markdown

    run = load_run(run_dir, "run folder")
    run_dir, comparison, items = run.path, run.comparison, run.items
    retrieval = read_jsonl(run_dir / "retrieval.jsonl") if (run_dir / "retrieval.jsonl").is_file() else None
    plots = draw_all(comparison)
    plot_dir = run_dir / "plots"
    plot_dir.mkdir(exist_ok=True)
    for name, png in plots.items():
        tmp = plot_dir / f".{name}.png.tmp"
        tmp.write_bytes(png)
        tmp.replace(plot_dir / f"{name}.png")
    many_cells = len(comparison.get("cells", {})) > 1
    questions = question_records(items, retrieval, many_cells)
    page = render_page(
        "report.html.j2", title=f"Run {comparison.get('run_id', run_dir.name)}",
        blocks=markdown_blocks(to_markdown(comparison)),
        plots=[{"name": n, "uri": png_uri(p), "file": f"plots/{n}.png"} for n, p in plots.items()],
        questions=questions, has_retrieval=retrieval is not None,
        categories=sorted({q["category"] for q in questions}),
        verdicts=sorted({v for q in questions for v in q["verdicts"]}),
        labels=list(dict.fromkeys(a["label"] for q in questions for a in q["answers"])))
    path = Path(out) if out else run_dir / "report.html"
    atomic_write_text(path, page)
    return path


def render_compare(result: dict, run_a: str | Path, run_b: str | Path | None, out: str | Path) -> Path:
    """The before/after view: the table of `harness compare` and, per model, the questions whose
    verdict flipped, with the answer before and after."""
    from harness.results.compare import compare_markdown

    items_a = read_jsonl(Path(run_a) / "items.jsonl")
    items_b = read_jsonl(Path(run_b or run_a) / "items.jsonl")
    a, b = result["a"], result["b"]

    def answers(items: list[dict], cell: str, model: str) -> dict[str, dict]:
        return {r["item_id"]: r for r in items if r["cell"] == cell and r["model"] == model and r.get("repeat", 0) == 0}

    flips = []
    for row in result["models"]:
        stats = row.get("paired") or {}
        before, after = answers(items_a, a["cell"], row["model"]), answers(items_b, b["cell"], row["model"])
        for direction, ids in (("worse", stats.get("flipped_to_b_positive", [])),
                               ("better", stats.get("flipped_to_b_negative", []))):
            for qid in ids:
                ra, rb = before.get(qid, {}), after.get(qid, {})
                flips.append({"model": row["model"], "direction": direction, "id": qid,
                              "question": ra.get("question") or rb.get("question", ""),
                              "before": {"verdict": ra.get("verdict", "?"), "segments": answer_segments(
                                  ra.get("answer") or "", ra.get("spans") or [], ra.get("claims") or [])},
                              "after": {"verdict": rb.get("verdict", "?"), "segments": answer_segments(
                                  rb.get("answer") or "", rb.get("spans") or [], rb.get("claims") or [])}})
    page = render_page("compare.html.j2", title=f"Before / after: {a['cell']} → {b['cell']}",
                       blocks=markdown_blocks(compare_markdown(result)), flips=flips)
    atomic_write_text(out, page)
    return Path(out)

"""Score answers made elsewhere (`harness score`) and calibrate the threshold on labeled ones
(`harness calibrate`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.encoding import user_encoding
from harness.io import iter_jsonl
from harness.scoring.parts import part_of
from harness.scoring.scorer import Scorer


@dataclass(frozen=True)
class ScoreInput:
    line: int
    record: dict
    answer: str
    passages: list[str]


def read_score_input(path: str | Path, labeled: bool = False) -> list[ScoreInput]:
    """Lines {"id", "question", "context": str | "contexts": [str], "answer"} (+ "hallucinated"
    when labeled); every problem is reported at file:line."""
    rows = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path, user_encoding()):
        def bad(msg: str) -> HarnessError:
            return HarnessError(msg, path, line)

        if "id" not in obj or not isinstance(obj["id"], (str, int)) or isinstance(obj["id"], bool):
            raise bad("missing or invalid 'id' (a string or integer)")
        key = str(obj["id"])
        if key in seen:
            raise bad(f"duplicate id {key!r} (first on line {seen[key]})")
        seen[key] = line
        if not isinstance(obj.get("answer"), str):
            raise bad("'answer' must be a string")
        if "question" in obj and not isinstance(obj["question"], str):
            raise bad("'question' must be a string")
        if ("context" in obj) == ("contexts" in obj):
            raise bad("give exactly one of 'context' (a string) or 'contexts' (a list of strings)")
        passages = [obj["context"]] if "context" in obj else obj["contexts"]
        if not isinstance(passages, list) or not all(isinstance(p, str) for p in passages):
            raise bad("'context' must be a string and 'contexts' a list of strings")
        if labeled and not isinstance(obj.get("hallucinated"), bool):
            raise bad("a labeled line needs 'hallucinated': true or false")
        rows.append(ScoreInput(line, obj, obj["answer"], passages))
    if not rows:
        raise HarnessError("no answers to score", path)
    return rows


def score_rows(rows: list[ScoreInput], scorer: Scorer) -> tuple[list[dict], dict]:
    """Output records (input + verdict, hallucinated, score, spans, claims) and a summary."""
    started = time.perf_counter()
    scorer.prepare([(r.answer, r.passages, r.record.get("question", "")) for r in rows])
    out = []
    for r in rows:
        result = scorer.score(r.answer, r.passages, question=r.record.get("question", ""))
        out.append({**r.record, **result.to_dict(r.answer)})
    seconds = time.perf_counter() - started
    n = len(out)
    counts = {v: sum(1 for o in out if o["verdict"] == v) for v in ("supported", "hallucinated", "refused")}
    summary = {"n": n, **counts, "hallucination_rate": counts["hallucinated"] / n,
               "seconds": round(seconds, 3), "answers_per_s": round(n / seconds, 2) if seconds > 0 else None,
               "threshold": scorer.threshold}
    return out, summary


# -- calibration -------------------------------------------------------------------------

def hallucination_probability(scored: dict) -> float:
    """1 - support; a refusal or an answer with nothing to check has probability 0."""
    return 0.0 if scored["score"] is None else 1.0 - scored["score"]


def binary_metrics(labels: list[bool], predicted: list[bool]) -> dict:
    tp = sum(1 for y, p in zip(labels, predicted) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted) if y and not p)
    tn = sum(1 for y, p in zip(labels, predicted) if not y and not p)
    n = len(labels)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    po = (tp + tn) / n if n else 0.0
    pe = (((tp + fp) * (tp + fn)) + ((fn + tn) * (fp + tn))) / (n * n) if n else 0.0
    kappa = (po - pe) / (1 - pe) if pe < 1 else (1.0 if po == 1 else 0.0)
    return {"n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1,
            "accuracy": po, "kappa": kappa}


def roc_auc(labels: list[bool], scores: list[float]) -> float | None:
    """Probability that a random hallucinated answer scores above a random faithful one (ties 1/2)."""
    pos = [s for y, s in zip(labels, scores) if y]
    neg = [s for y, s in zip(labels, scores) if not y]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def choose_threshold(labels: list[bool], probs: list[float]) -> float:
    """The support threshold that maximizes F1 on these labels (ties: the higher threshold)."""
    candidates = sorted({round(1 - p, 6) for p in probs} | {0.0, 1.0})
    best, best_f1 = 0.5, -1.0
    for t in candidates:
        # hallucinated when support < t  <=>  prob > 1 - t
        predicted = [p > 1 - t + 1e-12 for p in probs]
        f1 = binary_metrics(labels, predicted)["f1"]
        if f1 >= best_f1:
            best, best_f1 = t, f1
    return best


def span_f1(records: list[dict]) -> dict | None:
    """Character-level span agreement, micro-averaged, over answers whose labels have "spans"
    (faithful answers with none count too: every character flagged there is a false positive)."""
    tp = fp = fn = 0
    n = 0
    for r in records:
        if "spans" not in r.get("_label", {}):
            continue
        n += 1
        gold = set()
        for s in r["_label"]["spans"]:
            gold.update(range(int(s["start"]), int(s["end"])))
        pred = set()
        for s in r["spans"]:
            pred.update(range(int(s["start"]), int(s["end"])))
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
    if not n:
        return None
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"n": n, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def language_of(record: dict) -> str:
    if record.get("language"):
        return str(record["language"])
    text = record.get("question", "") + record.get("answer", "")
    return "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in text) else "en"


def calibrate(sets: dict[str, list[ScoreInput]], scorer: Scorer, dev_fraction: float = 0.5) -> dict:
    """The scorer's figures on the held-out parts, at its own threshold (chosen when the combiner
    was fitted, on dev parts only): overall, per labelled set, per language, per kind, with span
    F1 where labels have spans. Also the threshold that would maximise F1 on the dev parts, for
    information: choosing on the held-out part is never done."""
    rows = [r for group in sets.values() for r in group]
    names = [name for name, group in sets.items() for _ in group]
    heldout_rows = [(r, n) for r, n in zip(rows, names) if part_of(r.record, dev_fraction) == "heldout"]
    dev_rows = [(r, n) for r, n in zip(rows, names) if part_of(r.record, dev_fraction) == "dev"]
    if not dev_rows or not heldout_rows:
        raise HarnessError("calibration needs labeled answers in both the dev and the held-out part")
    scored, summary = score_rows([r for r, _ in heldout_rows], scorer)
    for s, (r, name) in zip(scored, heldout_rows):
        s["hallucinated_label"] = r.record["hallucinated"]
        s["labeled_set"] = name
        s["_label"] = {k: r.record[k] for k in ("spans",) if k in r.record}
        s["_language"] = language_of(r.record)
    threshold = scorer.threshold

    def evaluate(group: list[dict]) -> dict:
        labels = [g["hallucinated_label"] for g in group]
        probs = [hallucination_probability(g) for g in group]
        out = binary_metrics(labels, [g["hallucinated"] for g in group])
        out["roc_auc"] = roc_auc(labels, probs)
        out["positives"] = sum(labels)
        out["flagged"] = sum(g["hallucinated"] for g in group) / len(group) if group else None
        out["span"] = span_f1(group)
        return out

    report = {"threshold": threshold, "scorer": scorer.version, "answers_per_s": summary["answers_per_s"],
              "heldout": evaluate(scored), "sets": {}, "languages": {}}
    for name in sets:
        part = [s for s in scored if s["labeled_set"] == name]
        if not part:
            continue
        by_kind: dict[str, list[dict]] = {}
        for s in part:
            by_kind.setdefault(str(s.get("kind", "all")), []).append(s)
        report["sets"][name] = {"heldout": evaluate(part), "by_kind": {k: evaluate(v) for k, v in sorted(by_kind.items())}}
    for lang in sorted({s["_language"] for s in scored}):
        report["languages"][lang] = evaluate([s for s in scored if s["_language"] == lang])
    dev_scored, _ = score_rows([r for r, _ in dev_rows], scorer)
    labels = [r.record["hallucinated"] for r, _ in dev_rows]
    best = choose_threshold(labels, [hallucination_probability(s) for s in dev_scored])
    report["dev_f1_threshold"] = best
    report["dev"] = binary_metrics(labels, [s["hallucinated"] for s in dev_scored])
    for s in scored:
        for key in ("_label", "_language"):
            s.pop(key, None)
    return report


def calibration_markdown(report: dict) -> str:
    """The README table: one row per labelled set and language, held-out parts only."""
    def row(name: str, m: dict) -> str:
        auc = "–" if m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
        span = "–" if not m.get("span") else f"{m['span']['f1']:.3f}"
        return (f"| {name} | {m['n']} | {m['positives']} | {m['flagged']:.1%} | {m['precision']:.3f} | {m['recall']:.3f} "
                f"| {m['f1']:.3f} | {m['kappa']:.3f} | {auc} | {span} |")

    lines = [f"Scorer {report['scorer']}, threshold {report['threshold']:.4f}, held-out parts only.", "",
             "| labelled set | n | hallucinated | flagged | precision | recall | F1 | κ | ROC-AUC | span F1 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, part in report["sets"].items():
        lines.append(row(Path(name).stem, part["heldout"]))
    for lang, m in report["languages"].items():
        lines.append(row(f"all, language {lang}", m))
    lines.append(row("all", report["heldout"]))
    lines += ["", "| labelled set | kind | n | flagged |", "|---|---|---:|---:|"]
    for name, part in report["sets"].items():
        for kind, m in part["by_kind"].items():
            lines.append(f"| {Path(name).stem} | {kind} | {m['n']} | {m['flagged']:.1%} |")
    return "\n".join(lines) + "\n"


def format_kind(m: dict) -> str:
    """One kind of labeled answer is all faithful or all not: what share did the scorer flag?"""
    what = "caught" if m["positives"] == m["n"] else "wrongly flagged" if m["positives"] == 0 else "flagged"
    return f"n {m['n']:>4}  {what} {m['flagged']:.1%}"


def format_metrics(m: dict) -> str:
    auc = "–" if m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
    return (f"n {m['n']} (hallucinated {m.get('positives', m['tp'] + m['fn'])})  precision {m['precision']:.3f}  "
            f"recall {m['recall']:.3f}  F1 {m['f1']:.3f}  kappa {m['kappa']:.3f}  ROC-AUC {auc}")



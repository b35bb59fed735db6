"""Build the labelled sets added for the scorer's learned combiner (issue 10) from their sources.

    python eval_sets/tools/build_more_labels.py

- web_answers.jsonl: RAGTruth-style QA over web passages (not our domain), hand-written by four
  writers (src/web_w*.yaml), answers in three LLM styles, span-labelled. Writer w4's answers are
  all held out ("part": "heldout"), so a writer's style is measured without being learned.
- ko_fluent_answers.jsonl: fluent Korean answers over the Korean dwelling form (src/ko_fluent.yaml),
  train and dev questions of eval_sets/sfip_ko only, judged against contexts built like the
  perturbation set's (the chunks holding the evidence plus the next chunk; BM25 top three for
  unanswerable questions).
- adapter_answers.jsonl: the v1 and v2 adapters' answers (both seed presets) to the 29 starter
  (dev) questions, with the clauses they were retrieved with (src/adapter_answers_raw.json),
  labelled by reading them (src/adapter_labels.yaml).

Every span label is an exact substring of its answer; the build turns it into offsets (every
occurrence is not marked: the first one is). A test rebuilds the files and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_perturbations import to_jsonl  # noqa: E402

SRC = ROOT / "eval_sets" / "labeled" / "src"
OUT = ROOT / "eval_sets" / "labeled"
HELDOUT_WRITERS = {"w4"}
WEB_FAITHFUL = {"extractive", "paraphrase", "synthesis", "restating", "partial", "refusal"}
WEB_HALLUCINATED = {"evident_conflict", "subtle_conflict", "evident_baseless", "subtle_baseless"}
KO_FAITHFUL = {"paraphrase", "restating", "natural_refusal"}
KO_HALLUCINATED = {"subtle_number", "subtle_condition", "subtle_negation", "subtle_form", "subtle_detail", "fabrication"}


class BuildError(ValueError):
    pass


def offsets(answer: str, spans: list[str], where: str) -> list[dict]:
    out = []
    for span in spans:
        span = span.strip()
        start = answer.find(span) if span else -1
        if start < 0:
            raise BuildError(f"{where}: span {span!r} is not in the answer")
        out.append({"start": start, "end": start + len(span), "text": span})
    return sorted(out, key=lambda s: s["start"])


def build_web(paths: list[Path] | None = None) -> list[dict]:
    import yaml

    rows = []
    for path in paths or sorted(SRC.glob("web_w*.yaml")):
        writer = path.stem.split("_", 1)[1]
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            for n, a in enumerate(item["answers"], start=1):
                where = f"{path.name}: {item['id']} answer {n}"
                kind, answer = a["kind"], a["answer"].strip()
                if kind not in WEB_FAITHFUL | WEB_HALLUCINATED:
                    raise BuildError(f"{where}: unknown kind {kind!r}")
                if bool(a["hallucinated"]) != (kind in WEB_HALLUCINATED):
                    raise BuildError(f"{where}: kind {kind!r} does not match hallucinated={a['hallucinated']}")
                row = {"id": f"{item['id']}/{n}-{kind}", "group": item["id"], "question": item["question"], "kind": kind,
                       "style": a.get("style", ""), "topic": item.get("topic", ""), "writer": writer, "language": "en",
                       "contexts": [p.strip() for p in item["passages"]], "answer": answer,
                       "hallucinated": bool(a["hallucinated"]),
                       "spans": offsets(answer, a.get("spans") or [], where) if a["hallucinated"] else []}
                if row["hallucinated"] and not row["spans"]:
                    raise BuildError(f"{where}: a hallucinated answer needs spans")
                row["note"] = a.get("note") or ("faithful" if not row["hallucinated"] else kind)
                if writer in HELDOUT_WRITERS:
                    row["part"] = "heldout"
                rows.append(row)
    return rows


def korean_contexts() -> dict[str, list[str]]:
    """The perturbation set's context recipe over the Korean form, train and dev questions only."""
    from build_perturbations import question_contexts
    from harness.eval_set import load_eval_set

    contexts, _ = question_contexts("sfip_ko", ["sfip_dwelling_ko"], "sfip_ko")
    splits = {it.id: it.split for it in load_eval_set(ROOT / "eval_sets" / "sfip_ko" / "questions.jsonl")}
    return {qid: ctx for qid, ctx in contexts.items() if splits[qid] != "test"}


def build_korean(path: Path | None = None) -> list[dict]:
    import yaml

    from harness.eval_set import load_eval_set

    path = path or SRC / "ko_fluent.yaml"
    items = {it.id: it for it in load_eval_set(ROOT / "eval_sets" / "sfip_ko" / "questions.jsonl")}
    contexts = korean_contexts()
    rows = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
        qid = entry["question_id"]
        if qid not in contexts:
            raise BuildError(f"{path.name}: {qid!r} is unknown or a test question")
        for n, a in enumerate(entry["answers"], start=1):
            where = f"{path.name}: {qid} answer {n}"
            kind, answer = a["kind"], a["answer"].strip()
            if kind not in KO_FAITHFUL | KO_HALLUCINATED:
                raise BuildError(f"{where}: unknown kind {kind!r}")
            hallucinated = kind in KO_HALLUCINATED
            rows.append({"id": f"{qid}/fluent-{n}-{kind}", "group": qid, "question": items[qid].question, "kind": kind,
                         "language": "ko", "contexts": contexts[qid], "answer": answer, "hallucinated": hallucinated,
                         "spans": offsets(answer, [a["span"]] if hallucinated else [], where),
                         "note": a.get("note") or ("faithful" if not hallucinated else kind)})
    return rows


def build_adapters() -> list[dict]:
    import yaml

    raw = json.loads((SRC / "adapter_answers_raw.json").read_text(encoding="utf-8"))
    labels = yaml.safe_load((SRC / "adapter_labels.yaml").read_text(encoding="utf-8"))
    import hashlib

    rows = []
    for r in raw:
        # The 29 starter questions all fall in the dev half of the usual question hash (the
        # starter set was drawn from it), so this set is split by its own hash: half its
        # questions held out, both models' answers to a question on the same side.
        h = int(hashlib.sha256(f"adapter:{r['group']}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        label = labels.get(r["id"])
        if label is None:
            raise BuildError(f"adapter_labels.yaml: no label for {r['id']}")
        hallucinated = bool(label["hallucinated"])
        rows.append({"id": r["id"], "group": r["group"], "question": r["question"],
                     "kind": f"{r['model']}-{'hallucinated' if hallucinated else 'faithful'}", "model": r["model"],
                     "decoding": r["decoding"], "language": "en", "contexts": r["contexts"], "answer": r["answer"],
                     "hallucinated": hallucinated,
                     "spans": offsets(r["answer"], label.get("spans") or [], f"adapter_labels.yaml: {r['id']}"),
                     "note": label.get("reason", ""), "part": "dev" if h < 0.5 else "heldout"})
    if set(labels) - {r["id"] for r in raw}:
        raise BuildError(f"adapter_labels.yaml: labels for unknown answers: {sorted(set(labels) - {r['id'] for r in raw})[:3]}")
    return rows


SETS = {"web_answers.jsonl": build_web, "ko_fluent_answers.jsonl": build_korean, "adapter_answers.jsonl": build_adapters}


def main() -> int:
    for name, fn in SETS.items():
        rows = fn()
        ids = [r["id"] for r in rows]
        if len(ids) != len(set(ids)):
            raise BuildError(f"{name}: duplicate ids")
        (OUT / name).write_text(to_jsonl(rows), encoding="utf-8")
        n_h = sum(r["hallucinated"] for r in rows)
        print(f"{OUT / name}: {len(rows)} answers to {len({r['group'] for r in rows})} questions, {n_h} hallucinated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

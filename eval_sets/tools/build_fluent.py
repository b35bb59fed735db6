"""Build the fluent-answers calibration set from its hand-written sources.

    python eval_sets/tools/build_fluent.py        # eval_sets/labeled/src/fluent_*.yaml -> eval_sets/labeled/fluent_answers.jsonl

The answers are written by hand the way a strong model answers (paraphrases, answers that first
restate the question, refusals in natural words, one subtle invention, confident fabrications),
each judged against the same context the perturbation set uses for that question
(build_perturbations.question_contexts). Train-split questions only. A hallucinated answer
carries the exact span that is unsupported; the build checks it is in the answer and turns it
into character offsets. A test rebuilds the file and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_perturbations import question_contexts, to_jsonl  # noqa: E402
from harness.eval_set import load_eval_set  # noqa: E402

FAITHFUL = {"paraphrase": "faithful, reworded", "restating": "faithful, restates the question first",
            "natural_refusal": "a refusal in natural words (the context does not answer the question)"}
HALLUCINATED = {"subtle_number", "subtle_condition", "subtle_negation", "subtle_form", "subtle_detail", "fabrication"}
SOURCES = ROOT / "eval_sets" / "labeled" / "src"
OUT = ROOT / "eval_sets" / "labeled" / "fluent_answers.jsonl"


class BuildError(ValueError):
    pass


def build(sources: list[Path] | None = None) -> list[dict]:
    import yaml

    items = {it.id: it for it in load_eval_set(ROOT / "eval_sets" / "sfip" / "questions.jsonl")}
    contexts, _ = question_contexts()
    rows: list[dict] = []
    for path in sources or sorted(SOURCES.glob("fluent_*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            qid = entry["question_id"]
            item = items.get(qid)
            if item is None:
                raise BuildError(f"{path.name}: unknown question {qid!r}")
            if item.split != "train":
                raise BuildError(f"{path.name}: {qid} is a {item.split} question; only train questions may be used")
            for n, a in enumerate(entry["answers"], start=1):
                kind, answer = a["kind"], a["answer"].strip()
                if kind not in FAITHFUL and kind not in HALLUCINATED:
                    raise BuildError(f"{path.name}: {qid} answer {n}: unknown kind {kind!r}")
                hallucinated = kind in HALLUCINATED
                row = {"id": f"{qid}/fluent-{n}-{kind}", "group": qid, "question": item.question, "kind": kind,
                       "contexts": contexts[qid], "answer": answer, "hallucinated": hallucinated}
                if hallucinated:
                    span = (a.get("span") or "").strip()
                    start = answer.find(span) if span else -1
                    if start < 0:
                        raise BuildError(f"{path.name}: {qid} answer {n}: span {span!r} is not in the answer")
                    row["spans"] = [{"start": start, "end": start + len(span), "text": span}]
                    row["note"] = a.get("note") or kind
                else:
                    row["spans"] = []
                    row["note"] = a.get("note") or FAITHFUL[kind]
                rows.append(row)
    ids = [r["id"] for r in rows]
    if len(ids) != len(set(ids)):
        raise BuildError("duplicate answer ids (a question appears in two source files?)")
    return rows


def main() -> int:
    rows = build()
    OUT.write_text(to_jsonl(rows), encoding="utf-8")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"{OUT}: {len(rows)} labeled answers to {len({r['group'] for r in rows})} questions; "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

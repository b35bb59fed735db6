"""Merge real model answers with their hand labels into eval_sets/labeled/real_answers.jsonl.

    python eval_sets/tools/build_real_labels.py

Inputs in eval_sets/labeled/src/: real_answers_*.jsonl (answers exported from `harness eval`
runs, with the retrieved clauses as contexts) and real_labels.yaml (id: [hallucinated, note]).
Only labeled answers are written; a test rebuilds the file and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "eval_sets" / "labeled" / "src"


def build() -> list[dict]:
    labels = yaml.safe_load((SRC / "real_labels.yaml").read_text(encoding="utf-8"))
    rows = []
    for path in sorted(SRC.glob("real_answers_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"] not in labels:
                continue
            hallucinated, note = labels[row["id"]]
            rows.append({"id": row["id"], "group": row["group"], "kind": "answerable" if row["answerable"] else "unanswerable",
                         "question": row["question"], "contexts": row["contexts"], "answer": row["answer"],
                         "hallucinated": bool(hallucinated), "note": note, "source": path.name})
    return rows


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> int:
    rows = build()
    out = ROOT / "eval_sets" / "labeled" / "real_answers.jsonl"
    out.write_text(to_jsonl(rows), encoding="utf-8")
    print(f"{out}: {len(rows)} labeled answers, {sum(r['hallucinated'] for r in rows)} hallucinated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Korean sentence splitting: the hand-written rules against the kiwipiepy analyser, on 60
hand-split Korean paragraphs (eval_sets/labeled/src/ko_sentences.yaml: model-style answers,
policy clauses, policyholders' chat messages; the rules of the split are written at its top).

    python bench/korean_sentences.py

Prints, per kind and overall, boundary precision / recall / F1 and the share of paragraphs
split exactly right, for: rules (harness.scoring.text's regular expressions, as before),
kiwi (the analyser alone) and shipped (what split_sentences does now).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import korean  # noqa: E402
from harness.scoring import text as sentences  # noqa: E402

GOLD = ROOT / "eval_sets" / "labeled" / "src" / "ko_sentences.yaml"


def paragraphs() -> list[dict]:
    rows = []
    for item in yaml.safe_load(GOLD.read_text(encoding="utf-8")):
        joiner = item.get("join", " ")
        text, bounds, at = "", set(), 0
        for i, s in enumerate(item["sentences"]):
            if i:
                text += joiner
                at += len(joiner)
                bounds.add(at)  # a boundary = where a sentence starts (after the first)
            text += s
            at += len(s)
        rows.append({"id": item["id"], "kind": item["kind"], "text": text, "bounds": bounds})
    return rows


def starts(spans: list[tuple[int, int]]) -> set[int]:
    return {a for a, _ in spans[1:]}


def kiwi_split(text: str) -> list[tuple[int, int]]:
    return sentences.trim_spans(text, korean.sentence_spans(text) or [(0, len(text))])


def score(rows: list[dict], split) -> dict:
    tp = fp = fn = exact = 0
    for r in rows:
        got = starts(split(r["text"]))
        tp += len(got & r["bounds"])
        fp += len(got - r["bounds"])
        fn += len(r["bounds"] - got)
        exact += got == r["bounds"]
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    return {"n": len(rows), "p": p, "r": rec, "f1": f1, "exact": exact / len(rows)}


def main() -> None:
    rows = paragraphs()
    splitters = {"rules": sentences.rule_sentences, "kiwi": kiwi_split, "shipped": sentences.split_sentences}
    kinds = sorted({r["kind"] for r in rows}) + ["all"]
    print(f"{len(rows)} Korean paragraphs, {sum(len(r['bounds']) for r in rows)} boundaries\n")
    print("| splitter | kind | n | boundary P | boundary R | boundary F1 | paragraphs exact |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, split in splitters.items():
        started = time.perf_counter()
        for kind in kinds:
            group = [r for r in rows if kind in ("all", r["kind"])]
            m = score(group, split)
            print(f"| {name} | {kind} | {m['n']} | {m['p']:.3f} | {m['r']:.3f} | {m['f1']:.3f} | {m['exact']:.3f} |")
        print(f"({name}: {(time.perf_counter() - started) * 1000 / len(kinds) / len(rows):.2f} ms per paragraph)",
              file=sys.stderr)


if __name__ == "__main__":
    main()

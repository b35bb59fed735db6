"""Build eval-set JSONL files from their hand-written YAML source.

Authors write questions with evidence *quotes*; this turns each quote into character
offsets in the corpus file (it must occur exactly once, or name which occurrence) and
assigns splits deterministically, stratified by category:

    python eval_sets/tools/build_set.py eval_sets/sfip/questions.src.yaml

Source format (paths relative to the repository root, includes and outputs relative to
the source file):

    language: en                       # default for every question
    corpus: eval_sets/corpora/sfip     # where document ids (file stems) are looked up
    include: [src/01_dwelling.yaml]    # files holding lists of questions (or use `questions:`)
    split_cycle: [train, dev, test]    # optional: how unassigned questions are dealt (default below)
    outputs:
      questions.jsonl: {}                                   # every question
      starter.jsonl: {split: dev, per_category: 3}          # a stratified slice

A question:

    - id: dw-001
      category: numeric_limit
      question: "..."
      gold: "..."                      # null: unanswerable (answerable is derived from it)
      evidence:                        # [document_id, quote] or [document_id, quote, occurrence]
        - [sfip_dwelling, "We will pay you up to $30,000 under this Coverage D"]
      split: dev                       # optional; otherwise assigned

A test rebuilds every shipped set and compares, so the JSONL never drifts from its source.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import yaml

SPLIT_CYCLE = ("train", "train", "dev", "test")  # >= 50% train in every category


class BuildError(Exception):
    pass


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _rank(record_id: str) -> str:
    return hashlib.sha256(record_id.encode()).hexdigest()


def find_span(text: str, quote: str, occurrence: int | None = None) -> tuple[int, int]:
    starts = []
    i = text.find(quote)
    while i >= 0:
        starts.append(i)
        i = text.find(quote, i + 1)
    if not starts:
        raise BuildError(f"quote not found: {quote[:80]!r}")
    if occurrence is None and len(starts) > 1:
        raise BuildError(f"quote occurs {len(starts)} times; lengthen it or give the occurrence: {quote[:80]!r}")
    occurrence = occurrence or 1
    if occurrence > len(starts):
        raise BuildError(f"quote occurs {len(starts)} times, not {occurrence}: {quote[:80]!r}")
    start = starts[occurrence - 1]
    return start, start + len(quote)


def assign_splits(records: list[dict], cycle: tuple[str, ...] = SPLIT_CYCLE) -> None:
    """Within each category, order ids by a hash and deal train, train, dev, test, ... (or `cycle`)."""
    by_category: dict[str, list[dict]] = {}
    for r in records:
        by_category.setdefault(r["category"], []).append(r)
    for rows in by_category.values():
        free = sorted((r for r in rows if not r.get("split")), key=lambda r: _rank(r["id"]))
        for i, r in enumerate(free):
            r["split"] = cycle[i % len(cycle)]


def select(records: list[dict], split: str | None = None, per_category: int | None = None,
           per_category_overrides: dict[str, int] | None = None) -> list[dict]:
    """A stratified slice: the first N of each category (by id hash) in one split, in file order."""
    rows = [r for r in records if split is None or r["split"] == split]
    if per_category is None:
        return rows
    keep: set[str] = set()
    by_category: dict[str, list[dict]] = {}
    for r in rows:
        by_category.setdefault(r["category"], []).append(r)
    for category, group in by_category.items():
        n = (per_category_overrides or {}).get(category, per_category)
        keep.update(r["id"] for r in sorted(group, key=lambda r: _rank(r["id"]))[:n])
    return [r for r in rows if r["id"] in keep]


def load_questions(source: Path, spec: dict) -> list[dict]:
    questions = list(spec.get("questions") or [])
    for inc in spec.get("include") or []:
        loaded = yaml.safe_load((source.parent / inc).read_text(encoding="utf-8")) or []
        if not isinstance(loaded, list):
            raise BuildError(f"{source.parent / inc}: expected a list of questions")
        questions.extend(loaded)
    return questions


def build(source: Path, root: Path | None = None) -> dict[Path, list[dict]]:
    """{output path: records} for every output the source names."""
    root = root or Path.cwd()
    spec = yaml.safe_load(source.read_text(encoding="utf-8"))
    corpus = root / spec["corpus"]
    language = spec.get("language", "en")
    texts: dict[str, str] = {}
    records = []
    seen: set[str] = set()
    for q in load_questions(source, spec):
        try:
            if q["id"] in seen:
                raise BuildError("duplicate id")
            seen.add(q["id"])
            evidence = []
            for ev in q.get("evidence") or []:
                doc, quote, *rest = ev
                if doc not in texts:
                    path = next((p for p in (corpus / f"{doc}.txt", corpus / f"{doc}.md") if p.is_file()), None)
                    if path is None:
                        raise BuildError(f"no document {doc!r} in {corpus}")
                    texts[doc] = _read(path)
                start, end = find_span(texts[doc], quote, rest[0] if rest else None)
                evidence.append({"document_id": doc, "start": start, "end": end})
            gold = q.get("gold")
            records.append({
                "id": q["id"], "question": q["question"].strip(), "answerable": gold is not None,
                "gold_answer": gold.strip() if gold is not None else None, "evidence": evidence,
                "category": q["category"], "split": q.get("split"), "language": q.get("language", language),
            })
        except (BuildError, KeyError, ValueError) as e:
            raise BuildError(f"{source}: question {q.get('id', '?')}: {e}") from None
    cycle = tuple(spec.get("split_cycle") or SPLIT_CYCLE)
    if not cycle or set(cycle) - {"train", "dev", "test"}:
        raise BuildError(f"split_cycle must list train/dev/test, not {cycle}")
    assign_splits(records, cycle)
    outputs = spec.get("outputs") or {source.with_suffix("").with_suffix(".jsonl").name: {}}
    return {source.parent / name: select(records, **(opts or {})) for name, opts in outputs.items()}


def to_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        outputs = build(Path(argv[0]))
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, records in outputs.items():
        path.write_text(to_jsonl(records), encoding="utf-8")
        print(f"{path}: {len(records)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`harness validate-set`: check eval-set files against the schema and the corpus text.

Per record: the schema (see harness.eval_set), unique ids, and that each evidence span lies
inside its document and quotes non-blank text. Per file: counts by category x split, the
split ratios and the answerable ratio, with optional minimums.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.encoding import read_text, user_encoding
from harness.errors import HarnessError
from harness.eval_set import SPLITS, EvalItem, parse_item
from harness.io import jsonl_lines, parse_object_line

DEFAULT_CORPUS_ROOT = "eval_sets/corpora"


@dataclass(frozen=True)
class SetRequirements:
    """Minimums a set must meet; 0 means "report only"."""

    min_per_category: int = 0
    min_unanswerable: float = 0.0  # fraction of all questions
    min_train: float = 0.0  # fraction of all questions


@dataclass
class SetReport:
    path: Path
    items: list[EvalItem] = field(default_factory=list)
    errors: list[HarnessError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, Counter]:
        """category -> Counter(split)."""
        table: dict[str, Counter] = {}
        for it in self.items:
            table.setdefault(it.category, Counter())[it.split] += 1
        return dict(sorted(table.items()))

    def summary(self) -> dict:
        n = len(self.items)
        splits = Counter(it.split for it in self.items)
        return {
            "path": str(self.path), "n": n,
            "answerable": sum(it.answerable for it in self.items),
            "unanswerable": sum(not it.answerable for it in self.items),
            "splits": {s: splits.get(s, 0) for s in SPLITS},
            "languages": dict(Counter(it.language for it in self.items)),
            "categories": {c: {s: cnt.get(s, 0) for s in SPLITS} for c, cnt in self.counts().items()},
        }


class CorpusLookup:
    """document_id (file stem) -> text, over every .txt/.md file below the given roots."""

    def __init__(self, roots: list[str | Path]):
        self.paths: dict[str, list[Path]] = {}
        for root in map(Path, roots):
            if not root.is_dir():
                raise HarnessError("corpus folder not found", root)
            for p in sorted(root.rglob("*")):
                if p.suffix in (".txt", ".md") and p.is_file():
                    self.paths.setdefault(p.stem, []).append(p)
        self._texts: dict[str, str] = {}

    def text(self, document_id: str) -> str:
        from retrieval.chunking import read_document

        found = self.paths.get(document_id)
        if not found:
            raise KeyError(f"document_id {document_id!r} is not a file in the corpus folders")
        if len(found) > 1:
            raise KeyError(f"document_id {document_id!r} is ambiguous: {', '.join(map(str, found))}")
        if document_id not in self._texts:
            self._texts[document_id] = read_document(found[0])
        return self._texts[document_id]


def check_spans(item: EvalItem, corpus: CorpusLookup) -> str | None:
    for i, ev in enumerate(item.evidence):
        try:
            text = corpus.text(ev.document_id)
        except KeyError as e:
            return f"evidence[{i}]: {e.args[0]}"
        if ev.end > len(text):
            return f"evidence[{i}] ends at {ev.end}, past the end of {ev.document_id} ({len(text)} characters)"
        if not text[ev.start:ev.end].strip():
            return f"evidence[{i}] quotes only blank text ({ev.document_id}[{ev.start}:{ev.end}])"
    return None


def validate_set(path: str | Path, corpus: CorpusLookup, requirements: SetRequirements = SetRequirements(),
                 stop_at_first: bool = True) -> SetReport:
    """Check every record; with stop_at_first the report holds at most one error."""
    path = Path(path)
    report = SetReport(path)
    seen: dict[str, int] = {}

    def fail(message: str, line: int | None) -> bool:
        report.errors.append(HarnessError(message, path, line))
        return stop_at_first

    for lineno, line in jsonl_lines(read_text(path, user_encoding())[0]):
        try:
            item = parse_item(parse_object_line(line, path, lineno), path, lineno)
        except HarnessError as e:
            report.errors.append(e)
            if stop_at_first:
                return report
            continue
        if item.id in seen:
            if fail(f"duplicate id {item.id!r} (first on line {seen[item.id]})", lineno):
                return report
            continue
        seen[item.id] = lineno
        problem = check_spans(item, corpus)
        if problem:
            if fail(problem, lineno):
                return report
            continue
        report.items.append(item)

    if not report.items and not report.errors:
        fail("the set has no questions", None)
    n = len(report.items)
    if n:
        for category, counts in report.counts().items():
            if sum(counts.values()) < requirements.min_per_category:
                if fail(f"category {category!r} has {sum(counts.values())} questions, fewer than {requirements.min_per_category}", None):
                    return report
        unanswerable = sum(not it.answerable for it in report.items) / n
        if unanswerable < requirements.min_unanswerable:
            if fail(f"{unanswerable:.1%} of questions are unanswerable, fewer than {requirements.min_unanswerable:.0%}", None):
                return report
        train = sum(it.split == "train" for it in report.items) / n
        if train < requirements.min_train:
            fail(f"{train:.1%} of questions are in train, fewer than {requirements.min_train:.0%}", None)
    return report


def format_summary(report: SetReport) -> str:
    s = report.summary()
    n = s["n"]
    lines = [f"{s['path']}: {n} questions, {s['answerable']} answerable, {s['unanswerable']} unanswerable "
             f"({s['unanswerable'] / n:.1%}); languages: " + ", ".join(f"{k} {v}" for k, v in sorted(s["languages"].items())), ""]
    w = max([18] + [len(c) + 2 for c in s["categories"]])
    header = f"{'category':<{w}}" + "".join(f"{sp:>7}" for sp in SPLITS) + f"{'total':>7}"
    lines += [header, "-" * len(header)]
    for category, counts in s["categories"].items():
        lines.append(f"{category:<{w}}" + "".join(f"{counts[sp]:>7}" for sp in SPLITS) + f"{sum(counts.values()):>7}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<{w}}" + "".join(f"{s['splits'][sp]:>7}" for sp in SPLITS) + f"{n:>7}")
    lines.append(f"{'share':<{w}}" + "".join(f"{s['splits'][sp] / n:>7.0%}" for sp in SPLITS) + f"{1:>7.0%}")
    return "\n".join(lines)

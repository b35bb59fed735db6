"""The eval-set JSONL schema (frozen: other tools rely on it), one question per line:

    {"id": str, "question": str, "answerable": bool, "gold_answer": str|null,
     "evidence": [{"document_id": str, "start": int, "end": int}], "category": str,
     "split": "train"|"dev"|"test", "language": "en"|"ko"}

`document_id` is the corpus file stem; `start`/`end` are character offsets into that file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.encoding import user_encoding
from harness.io import iter_jsonl
from harness.paths import check_name

SPLITS = ("train", "dev", "test")
LANGUAGES = ("en", "ko")
FIELDS = ("id", "question", "answerable", "gold_answer", "evidence", "category", "split", "language")


@dataclass(frozen=True)
class Evidence:
    document_id: str
    start: int
    end: int


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    answerable: bool
    gold_answer: str | None
    evidence: tuple[Evidence, ...]
    category: str
    split: str
    language: str

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "answerable": self.answerable,
                "gold_answer": self.gold_answer,
                "evidence": [{"document_id": e.document_id, "start": e.start, "end": e.end} for e in self.evidence],
                "category": self.category, "split": self.split, "language": self.language}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_item(obj: dict, path: Path | str, line: int) -> EvalItem:
    """Check one record against the schema; every problem is reported at path:line."""

    def bad(msg: str) -> HarnessError:
        return HarnessError(msg, path, line)

    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise bad(f"missing field(s): {', '.join(missing)}")
    extra = sorted(set(obj) - set(FIELDS))
    if extra:
        names = ", ".join(f if f.isprintable() else repr(f) for f in extra)  # one line, whatever the names hold
        raise bad(f"unknown field(s): {names} (the schema has: {', '.join(FIELDS)})")
    for key in ("id", "question", "category"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise bad(f"{key!r} must be a non-empty string")
    if not isinstance(obj["answerable"], bool):
        raise bad(f"'answerable' must be true or false, got {obj['answerable']!r}")
    gold = obj["gold_answer"]
    if gold is not None and not isinstance(gold, str):
        raise bad("'gold_answer' must be a string or null")
    if obj["answerable"] and not (gold and gold.strip()):
        raise bad("an answerable question needs a non-empty 'gold_answer'")
    if obj["split"] not in SPLITS:
        raise bad(f"'split' must be one of {', '.join(SPLITS)}, got {obj['split']!r}")
    if obj["language"] not in LANGUAGES:
        raise bad(f"'language' must be one of {', '.join(LANGUAGES)}, got {obj['language']!r}")
    if not isinstance(obj["evidence"], list):
        raise bad("'evidence' must be a list of {document_id, start, end}")
    evidence = []
    for i, ev in enumerate(obj["evidence"]):
        if not isinstance(ev, dict) or set(ev) != {"document_id", "start", "end"}:
            raise bad(f"evidence[{i}] must have exactly document_id, start, end")
        if not isinstance(ev["document_id"], str) or not ev["document_id"]:
            raise bad(f"evidence[{i}].document_id must be a non-empty string")
        check_name(ev["document_id"], f"evidence[{i}].document_id", path, line, strict=False)
        if not (_is_int(ev["start"]) and _is_int(ev["end"]) and 0 <= ev["start"] < ev["end"]):
            raise bad(f"evidence[{i}] needs integer offsets with 0 <= start < end, got {ev['start']!r}..{ev['end']!r}")
        evidence.append(Evidence(ev["document_id"], ev["start"], ev["end"]))
    return EvalItem(id=obj["id"], question=obj["question"], answerable=obj["answerable"], gold_answer=gold,
                    evidence=tuple(evidence), category=obj["category"], split=obj["split"], language=obj["language"])


def load_eval_set(path: str | Path) -> list[EvalItem]:
    """Every line parsed and checked; duplicate ids and an empty file are errors too."""
    path = Path(path)
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for line, obj in iter_jsonl(path, user_encoding()):
        item = parse_item(obj, path, line)
        if item.id in seen:
            raise HarnessError(f"duplicate id {item.id!r} (first on line {seen[item.id]})", path, line)
        seen[item.id] = line
        items.append(item)
    if not items:
        raise HarnessError("eval set has no questions", path)
    return items

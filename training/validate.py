"""Validate and merge generated Q/A pairs, the seed's way: every record goes through the filters
in order and is kept or rejected with the first filter's reason; the counts per filter and the
kept pairs per question type are printed as a table.

Reads generated.jsonl files (training/generate.py) and the seed's own files (instruction,
input, output, type). Filters, in order:
  fields       instruction / input / output missing or not text
  short        an answer under 10 characters
  incomplete   an answer cut off: not ending as a sentence ends (. ? ! … or a Korean final
               ending such as 다 / 요 / 죠 / 까, optionally followed by punctuation or a quote)
  evasive      a non-answer ("As an AI …", "I'm not sure", "모르겠습니다", "답변할 수 없습니다")
               other than the refusal sentence the training target is meant to hold
  duplicate    the same question (case, spacing and punctuation ignored) seen before
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from harness.encoding import user_encoding
from harness.errors import HarnessError
from harness.io import iter_jsonl, write_jsonl
from harness.prompts import REFUSAL

FILTERS = ("fields", "short", "incomplete", "evasive", "duplicate")
MIN_ANSWER_CHARS = 10
REFUSALS = tuple(REFUSAL.values())  # the training targets for "the clauses do not say"

_ENDS_EN = re.compile(r"[.?!…。](?:[\"'”’)\]]*)\s*$")
# Korean sentence-final endings (declarative, polite, interrogative), optionally punctuated.
_ENDS_KO = re.compile(r"(?:다|요|죠|까|니다|세요|네요|군요|지요|음|함|임)[.?!…~]*[\"'”’)\]]*\s*$")
_EVASIVE = [re.compile(p, re.I) for p in (
    r"\bas an ai\b", r"\bi(?: am|'m) (?:not sure|unable|sorry)\b", r"\bi (?:cannot|can't|can not) (?:answer|help|provide)\b",
    r"\bi don'?t know\b", r"\bno information (?:is )?(?:available|provided)\b", r"\bcannot be determined\b",
    r"\bplease (?:consult|contact|refer to) (?:your|an?|the) (?:agent|insurer|professional|lawyer)\b",
    r"모르겠", r"알 수 없습니다", r"답변(?:을|해)? ?(?:드릴|할) 수 없", r"확인할 수 없", r"AI(?:로서| 언어 모델)")]


@dataclass
class ValidateResult:
    read: int
    kept: list[dict]
    rejected: list[dict]
    counts: Counter = field(default_factory=Counter)  # filter -> records it removed
    by_type: Counter = field(default_factory=Counter)  # question type -> records kept


def normalize_question(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", "", text)


def is_refusal(answer: str) -> bool:
    a = " ".join(answer.split())
    return any(a == r or a == r.rstrip(".") for r in REFUSALS)


def complete(answer: str) -> bool:
    return bool(_ENDS_EN.search(answer) or _ENDS_KO.search(answer))


def evasive(answer: str) -> bool:
    return not is_refusal(answer) and any(p.search(answer) for p in _EVASIVE)


def first_failure(rec: object, seen: set[str]) -> str | None:
    """The first filter `rec` fails, or None when it is kept (and its question is then `seen`)."""
    if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) and rec[k].strip()
                                            for k in ("instruction", "input", "output")):
        return "fields"
    answer = rec["output"].strip()
    if is_refusal(answer):
        pass  # the refusal target: short, and meant to be there
    elif len(answer) < MIN_ANSWER_CHARS:
        return "short"
    elif not complete(answer):
        return "incomplete"
    elif evasive(answer):
        return "evasive"
    key = normalize_question(rec["instruction"])
    if key in seen:
        return "duplicate"
    seen.add(key)
    return None


def validate_records(records: Iterable[tuple[str, dict]]) -> ValidateResult:
    """records: (where, record) pairs; where = 'file:line' for the rejects file."""
    seen: set[str] = set()
    result = ValidateResult(0, [], [])
    for where, rec in records:
        result.read += 1
        reason = first_failure(rec, seen)
        if reason is None:
            result.kept.append(rec)
            result.by_type[str(rec.get("type") or "untyped")] += 1
        else:
            result.counts[reason] += 1
            result.rejected.append({"reason": reason, "where": where, "record": rec})
    return result


def read_pairs(paths: Sequence[str | Path]) -> Iterable[tuple[str, dict]]:
    for path in paths:
        if not Path(path).is_file():
            raise HarnessError("file not found", path)
        for line, obj in iter_jsonl(path, user_encoding()):
            yield f"{path}:{line}", obj


def validate_files(paths: Sequence[str | Path], out: str | Path, rejects: str | Path | None = None) -> ValidateResult:
    result = validate_records(read_pairs(paths))
    out = Path(out)
    write_jsonl(out, result.kept)
    write_jsonl(Path(rejects) if rejects else out.with_name(out.stem + ".rejects.jsonl"), result.rejected)
    return result


def format_table(result: ValidateResult) -> str:
    lines = [f"{'filter':<12}{'removed':>9}", "-" * 21]
    lines += [f"{name:<12}{result.counts.get(name, 0):>9}" for name in FILTERS]
    lines += ["-" * 21, f"{'read':<12}{result.read:>9}", f"{'kept':<12}{len(result.kept):>9}", "",
              f"{'type':<12}{'kept':>9}", "-" * 21]
    lines += [f"{t:<12}{n:>9}" for t, n in sorted(result.by_type.items())]
    return "\n".join(lines)

"""Files: JSONL in and out, atomic writes, canonical JSON and content hashes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from harness.encoding import read_text
from harness.errors import HarnessError


def canonical_json(obj: Any) -> str:
    """Sorted keys and compact separators, so equal objects hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(obj: Any, length: int = 16) -> str:
    """A short, stable, tagged hash of a JSON-able object (the tag lets the scheme change later)."""
    digest = hashlib.blake2b(canonical_json(obj).encode("utf-8"), digest_size=16).hexdigest()
    return "b2:" + digest[:length]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def read_json(path: str | Path, encoding: str = "utf-8") -> Any:
    """A JSON file: UTF-8 with or without a byte-order mark (files saved by Excel or Notepad start
    with one). Files the user wrote pass `encoding=user_encoding()` to follow --encoding."""
    path = Path(path)
    text, _ = read_text(path, encoding)
    return _loads(text, path, None)


def _loads(text: str, path: str | Path, lineno: int | None) -> Any:
    """json.loads, with everything it can refuse (or accept but not write back) as a HarnessError
    at path (line `lineno` of a JSONL file; for a whole JSON file, the line json reports)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise HarnessError(f"invalid JSON: {e.msg} (column {e.colno})", path,
                           e.lineno if lineno is None else lineno) from None
    except RecursionError:
        raise HarnessError("invalid JSON: nested too deeply", path, lineno) from None
    except ValueError:  # an integer of more than 4300 digits (Python's limit on int <-> str)
        raise HarnessError("invalid JSON: a number has too many digits", path, lineno) from None
    if _LONE_SURROGATE.search(text) and _has_lone_surrogate(obj):
        raise HarnessError("invalid JSON: a \\u escape is a lone UTF-16 surrogate, not a character", path, lineno)
    return obj


# "\ud800"-"\udfff" escapes: JSON allows them alone, but then they are not characters and no
# UTF-8 file can hold them (writing one fails).
_LONE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]  # a loop, not recursion: the object may be nested as deeply as json allows
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            if _SURROGATE.search(o):
                return True
        elif isinstance(o, dict):
            stack.extend(o)
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return False


def parse_object_line(line: str, path: str | Path, lineno: int) -> dict:
    """One JSONL line that must hold a JSON object; anything else is a HarnessError at path:line."""
    obj = _loads(line, path, lineno)
    if not isinstance(obj, dict):
        raise HarnessError(f"expected a JSON object, got {type(obj).__name__}", path, lineno)
    return obj


def iter_jsonl(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line is a HarnessError at file:line.
    The file is decoded whole first, so a bad byte anywhere is reported before any line is used.
    Files the user wrote pass `encoding=user_encoding()` to follow --encoding; the harness's own
    files (indexes, runs, caches) are always UTF-8."""
    path = Path(path)
    text, _ = read_text(path, encoding)
    for lineno, line in jsonl_lines(text):
        yield lineno, parse_object_line(line, path, lineno)


def jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for each non-blank line of a JSONL text. Lines end at \\n (and \\r), as
    when iterating a file, not where str.splitlines() also breaks (U+2028, NEL, form feed:
    characters a JSON string may hold), so every reader numbers lines alike."""
    for lineno, line in enumerate(io.StringIO(text, newline=""), start=1):
        if line.strip():
            yield lineno, line


def read_jsonl(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    return [obj for _, obj in iter_jsonl(path, encoding)]


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


class JsonlAppender:
    """Appends one flushed line per record, so a crash loses at most the line being written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8", newline="\n")

    def append(self, obj: dict) -> None:
        self._f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The content-addressed cache of generations and scores: append-only JSONL, safe to kill.

Each record is one line `{"key": ..., "value": ...}`, appended under an exclusive file lock and
fsynced before put() returns, so whatever a killed process finished is there for the next one.
A line torn by a kill is skipped when reading (and a newline is added before the next append),
so a damaged tail costs that one entry, never the file. The last line for a key wins.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable

from harness.io import content_hash


def cache_key(obj: Any) -> str:
    return content_hash(obj, length=32)


class JsonlStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, Any] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        self._data[row["key"]] = row["value"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # a line torn by a kill: that entry is simply recomputed

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def put(self, key: str, value: Any) -> None:
        self.put_many([(key, value)])

    def put_many(self, pairs: Iterable[tuple[str, Any]]) -> None:
        pairs = list(pairs)
        if not pairs:
            return
        for key, value in pairs:
            self._data[key] = value
        text = "".join(json.dumps({"key": k, "value": v}, ensure_ascii=False) + "\n" for k, v in pairs)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # two processes sharing one cache never interleave lines
            try:
                f.seek(0, os.SEEK_END)
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        f.write(b"\n")  # close a line torn by an earlier kill
                f.write(text.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

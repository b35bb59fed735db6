"""A small JSON cache for expensive, deterministic calls (judge verdicts), keyed by content hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.io import atomic_write_json, content_hash


class JsonCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self._data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self._data = {}  # a damaged cache is rebuilt, never trusted
        self._dirty = False

    @staticmethod
    def key(obj: Any) -> str:
        return content_hash(obj, length=32)

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def set(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            atomic_write_json(self.path, self._data)
            self._dirty = False

    def __len__(self) -> int:
        return len(self._data)

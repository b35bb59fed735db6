"""A finished run folder (or a blessed baseline: the same files) read back: comparison.json and
items.jsonl. One reader for compare, report and gates, so "finished" means the same everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.io import read_json, read_jsonl


@dataclass
class Run:
    path: Path
    comparison: dict
    items: list[dict]

    @property
    def name(self) -> str:
        return self.comparison.get("run_id") or self.path.name

    def cells(self, model: str) -> list[str]:
        return list(self.comparison.get("metrics", {}).get(model, {}))


def load_run(path: str | Path, what: str = "run or baseline folder", hint: str = "") -> Run:
    """comparison.json + items.jsonl of a folder; `what` names the folder in the error, `hint`
    says what to do about it."""
    path = Path(path)
    if not (path / "comparison.json").is_file() or not (path / "items.jsonl").is_file():
        raise HarnessError(f"not a finished {what} (no comparison.json / items.jsonl{hint})", path)
    return Run(path, read_json(path / "comparison.json"), read_jsonl(path / "items.jsonl"))

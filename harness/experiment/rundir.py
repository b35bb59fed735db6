"""A run folder: created once, locked while a process writes into it, resumable.

    experiment.yaml   the effective configuration (defaults < file < flags), written first
    status.json       {"state": "running" | "complete", ...}; a killed run stays "running"
    retrieval.jsonl   the questions with their retrieved clauses (what every model saw)
    items.jsonl       one record per model x cell x repeat x question (written when complete)
    comparison.json / comparison.md   the metrics, rendered
    .lock             held (flock) by the process writing the folder
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
from pathlib import Path

from harness.config import EvalConfig, load_config, to_dict
from harness.errors import HarnessError
from harness.io import atomic_write_json, atomic_write_text, read_json

CONFIG_FILE = "experiment.yaml"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_file = None

    @property
    def run_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def create(cls, results_dir: Path, name: str) -> "RunDir":
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or "run"
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        results_dir.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            path = results_dir / (f"{stamp}-{slug}" if i == 0 else f"{stamp}-{slug}-{i}")
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
        raise HarnessError("could not create a run folder", results_dir)

    @classmethod
    def open(cls, path: Path) -> "RunDir":
        path = Path(path)
        if not (path / CONFIG_FILE).is_file():
            raise HarnessError(f"not a run folder (no {CONFIG_FILE})", path)
        return cls(path)

    def lock(self) -> None:
        """Refuse a second process writing into this folder (the lock dies with its process)."""
        f = open(self.path / ".lock", "a+", encoding="utf-8")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise HarnessError(f"run folder is in use by another harness process (pid {holder}); "
                               "wait for it to finish, or start a new run", self.path) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> "RunDir":
        self.lock()
        return self

    def __exit__(self, *exc) -> None:
        self.unlock()

    def save_config(self, cfg: EvalConfig) -> None:
        import yaml

        atomic_write_text(self.file(CONFIG_FILE), yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))

    def load_config(self) -> EvalConfig:
        return load_config(EvalConfig, self.file(CONFIG_FILE))

    def status(self) -> dict:
        path = self.file("status.json")
        return read_json(path) if path.is_file() else {}

    def set_status(self, state: str, **extra) -> None:
        status = {**self.status(), "state": state, **extra}
        status["finished_at" if state == "complete" else "updated_at"] = _now()
        status.setdefault("started_at", _now())
        atomic_write_json(self.file("status.json"), status)

"""One error type for everything the user can fix; the CLI shows it as one line."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """A problem with the user's input or set-up, worded as `path:line: what is wrong (what to do)`."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return where + self.message

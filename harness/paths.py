"""Names that become folder or file names (run names, adapter and baseline names, document ids)
must not escape their folder: no `..`, no separators, no absolute paths, no NUL."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import HarnessError

# One path component of ordinary characters (letters in any script, digits, . _ - and spaces
# inside), not starting with a dot (hidden files, `..`) or a dash (read as an option).
_SAFE = re.compile(r"[^\W_]|[^\W_][\w.\- ]*[\w.\-]", re.UNICODE)


def is_safe_name(name: object, strict: bool = True) -> bool:
    """strict: names the harness creates folders for (runs, adapters, baselines). Not strict:
    names that come from the user's files (document ids are file stems: any characters but a
    separator, NUL, or a name that is only dots)."""
    if not isinstance(name, str) or not name or len(name) > 200:
        return False
    if strict:
        return bool(_SAFE.fullmatch(name)) and ".." not in name
    return not (set(name) & {"/", "\\", "\x00"}) and name.strip(".") != "" and name.strip() == name


def check_name(name: object, what: str, path: str | Path | None = None, line: int | None = None,
               strict: bool = True) -> str:
    """`name` if it can be used as one file or folder name; else a HarnessError saying why."""
    if is_safe_name(name, strict):
        return name  # type: ignore[return-value]
    text = repr(name)
    if isinstance(name, str):
        if "\x00" in name:
            why = "contains a NUL character"
        elif not name.strip():
            why = "is empty"
        elif "/" in name or "\\" in name or (".." in name and strict) or not name.strip("."):
            why = "would point outside its folder (/, \\ or ..)"
        elif not strict:
            why = "has space at its start or end, or is longer than 200 characters"
        else:
            why = "must start with a letter or digit and hold only letters, digits, spaces, . _ -"
    else:
        why = f"must be a string, not {type(name).__name__}"
    raise HarnessError(f"{what} {text} is not allowed: it {why}", path, line)


def inside(root: str | Path, path: str | Path) -> bool:
    """Whether `path`, with links resolved, lies inside `root` (also resolved)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False

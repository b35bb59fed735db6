"""Where a result came from: code version (git sha of the harness checkout), package versions."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from harness import __version__

_CHECKOUT = Path(__file__).resolve().parents[1]


def git_sha() -> str | None:
    """The harness checkout's commit, with "-dirty" when tracked files differ from it."""
    try:
        run = dict(capture_output=True, text=True, timeout=5, cwd=_CHECKOUT)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], check=True, **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def code_version() -> dict:
    return {"harness_version": __version__, "git_sha": git_sha()}


def provenance(packages: tuple[str, ...] = ("torch", "transformers", "peft", "sentence-transformers", "faiss-cpu")) -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in packages:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {**code_version(), "python": platform.python_version(), "platform": platform.platform(),
            "packages": versions}

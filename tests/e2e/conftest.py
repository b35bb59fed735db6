"""What the CLI end-to-end tests share: invoking `harness` in-process, and a scratch working folder."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import cli


def run(*args):
    """`harness ARGS...` in-process; stdout and stderr stay apart on the result."""
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def in_tmp(monkeypatch, tmp_path):
    """Run in tmp_path, so relative defaults (models.json, results/) land there."""
    monkeypatch.chdir(tmp_path)

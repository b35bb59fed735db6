"""pytest plugin (entry point `pytest11`, loaded wherever rag-harness is installed): regression
gates on harness runs inside a user's own test suite.

    # test_model_quality.py
    from harness.pytest_plugin import assert_no_regression

    def test_v2_does_not_hallucinate_more(harness_run, harness_baseline):
        assert_no_regression(harness_run, harness_baseline, metric="hallucination_rate", model="v2",
                             tolerance=0.02)

    pytest --harness-run results/20261201-101500-v2 --harness-baseline main

The fixtures skip their test (with the reason) when no run is given, so a suite without a
fresh run still passes; `--harness-baseline` takes a name under baselines/ or a folder.
"""

from __future__ import annotations

import os

import pytest

from harness.results.gate import Run, assert_no_regression, check_regression, load_run, resolve_baseline

__all__ = ["assert_no_regression", "check_regression", "harness_baseline", "harness_run"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness regression gates")
    group.addoption("--harness-run", metavar="PATH", default=os.environ.get("HARNESS_RUN"),
                    help="Run folder (results/<run>) the harness_run fixture loads [env HARNESS_RUN].")
    group.addoption("--harness-baseline", metavar="NAME_OR_PATH", default=os.environ.get("HARNESS_BASELINE"),
                    help="Baseline the harness_baseline fixture loads: a name under baselines/ (see "
                         "`harness bless`) or a run folder [env HARNESS_BASELINE].")


@pytest.fixture
def harness_run(request: pytest.FixtureRequest) -> Run:
    """The run given by --harness-run (skips the test when none is given)."""
    path = request.config.getoption("--harness-run")
    if not path:
        pytest.skip("no run to gate: pass --harness-run results/<run> (or set HARNESS_RUN)")
    return load_run(path)


@pytest.fixture
def harness_baseline(request: pytest.FixtureRequest) -> Run:
    """The baseline given by --harness-baseline (skips the test when none is given)."""
    name = request.config.getoption("--harness-baseline")
    if not name:
        pytest.skip("no baseline to gate against: pass --harness-baseline NAME (or set HARNESS_BASELINE)")
    return load_run(resolve_baseline(name))

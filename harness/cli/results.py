"""`harness report`, `harness bless` and `harness gate`: what people read and what CI holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.cli import cli

RUN_DIR = click.Path(file_okay=False, exists=True, path_type=Path)


@cli.command("report")
@click.argument("run", type=RUN_DIR)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the page here [default: RUN/report.html].")
def report_cmd(run, out) -> None:
    """Write RUN/report.html: the run as one self-contained page (no network needed).

    Rendered from the run folder's files only (comparison.json, items.jsonl, retrieval.jsonl):
    the model x metric tables, plots of hallucination with 95% intervals, the refusal grid and
    hallucination by category (also saved as RUN/plots/*.png), then every question with its gold
    answer, the retrieved clauses (gold evidence marked) and each model's answer side by side,
    unsupported spans highlighted (hover for the reason), trimmed tails struck through.
    Filter by category, verdict and model, or search. `harness eval` writes it for every run.

    \b
    Example usage:
      harness report results/20261201-101500-base-v1-v2
      harness report results/RUN --out /tmp/run.html
    """
    from harness.results.report import render_report

    click.echo(str(render_report(run, out)))


@cli.command("track")
@click.argument("run", type=RUN_DIR)
@click.option("--to", "tracker", default="mlflow", show_default=True, type=click.Choice(["mlflow"]),
              help="The experiment tracker.")
def track_cmd(run, tracker) -> None:
    """Log a finished run to an experiment tracker (what `harness eval --track mlflow` does).

    MLflow: MLFLOW_TRACKING_URI, else a local store in ./mlruns; experiment
    MLFLOW_EXPERIMENT_NAME, else "harness". Parameters: models with their base and adapter
    hashes, decoding cells, eval-set and index hashes, scorer version. Metrics: per model, cell
    and measure (hallucination rates, refusal grid, correctness, per category). Artifacts:
    report.html, comparison.json, comparison.md, plots/. Needs pip install 'rag-harness[mlflow]'.

    \b
    Example usage:
      harness track results/20261201-101500-base-v1-v2
      MLFLOW_TRACKING_URI=http://127.0.0.1:5000 harness track results/RUN
    """
    from harness.tracking import track_run, tracking_uri

    click.echo(f"{track_run(run, tracker)} at {tracking_uri()}")


@cli.command("bless")
@click.argument("run", type=RUN_DIR)
@click.option("--name", required=True, help="Baseline name: it is stored under DIR/NAME/.")
@click.option("--dir", "baselines_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("baselines"),
              show_default=True, help="Where baselines live.")
@click.option("--with-contexts", is_flag=True,
              help="Also keep retrieval.jsonl (the clauses every model saw), so a later scorer can score "
                   "the blessed answers again.")
@click.option("--rescore", is_flag=True,
              help="Score RUN's answers again with today's scorer first (RUN needs retrieval.jsonl): re-bless "
                   "a baseline after a deliberate scorer change.")
@click.option("--overwrite", is_flag=True, help="Replace an existing baseline of that name.")
def bless_cmd(run, name, baselines_dir, with_contexts, rescore, overwrite) -> None:
    """Store RUN as the baseline NAME that later runs are gated against.

    Keeps comparison.json and, per answer, the verdicts and the answer text (not the prompts):
    small enough to commit. Gate a later run with `harness gate RUN --baseline NAME`, or in
    pytest with `assert_no_regression` (see harness.pytest_plugin).

    \b
    Example usage:
      harness bless results/20261201-101500-base-v1-v2 --name main
      harness bless results/RUN --name starter-base --with-contexts --overwrite
      harness bless baselines/starter-base --name starter-base --with-contexts --rescore --overwrite
    """
    from harness.results.gate import bless

    if rescore:
        from harness.evaluate import rescored

        run = rescored(run)
    path = bless(run, name, baselines_dir, with_contexts, overwrite)
    click.echo(str(path))


@cli.command("gate")
@click.argument("run", type=RUN_DIR)
@click.option("--baseline", required=True, help="A name under baselines/ (see `harness bless`) or a run folder.")
@click.option("--metric", "metrics", multiple=True, default=("hallucination_rate",), show_default=True,
              help="Metric to gate on (repeatable): hallucination_rate, hallucination_rate_untrimmed, "
                   "answered_unanswerable, needless_refusal, correct_answer, correct_refusal, token_f1, "
                   "numeric_agreement, key_fact_coverage.")
@click.option("--model", "models", multiple=True, help="Model to gate (repeatable; default: every model in both).")
@click.option("--cell", help="The run's decoding cell (needed when it has several).")
@click.option("--baseline-cell", help="The baseline's decoding cell (default: --cell, or its only one).")
@click.option("--tolerance", type=float, default=0.02, show_default=True,
              help="Allowed worsening, as a fraction (0.02 = 2 points for a rate).")
@click.option("--dir", "baselines_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("baselines"),
              show_default=True, help="Where named baselines live.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def gate_cmd(run, baseline, metrics, models, cell, baseline_cell, tolerance, baselines_dir, as_json) -> None:
    """Fail (exit 1) when RUN is worse than a baseline beyond noise and tolerance.

    For each model and metric: the paired bootstrap 95% CI of (run - baseline) over the shared
    questions; a regression is a CI lying entirely beyond the tolerance in the bad direction
    (lower is better for hallucination, higher for correctness). Runs over other questions,
    another index or another scorer version cannot be compared and fail too. Exit 0 when
    every gate passes, 1 otherwise; the table and the questions that got worse are printed.

    \b
    Example usage:
      harness gate results/RUN --baseline main
      harness gate results/RUN --baseline main --model v2 --metric hallucination_rate --tolerance 0.05
      harness gate results/RUN --baseline results/OLD_RUN --cell greedy --json
    """
    from harness.results.gate import check_regression, load_run, resolve_baseline

    current = load_run(run)
    base = load_run(resolve_baseline(baseline, baselines_dir))
    names = list(models) or [m for m in current.comparison.get("metrics", {}) if m in base.comparison.get("metrics", {})] \
        or list(current.comparison.get("metrics", {}))
    results = [check_regression(current, base, metric, model, tolerance, cell, baseline_cell)
               for model in names for metric in metrics]
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "passed": r.passed, "regressed": r.regressed} for r in results],
                              ensure_ascii=False, indent=2))
    else:
        rows = [r.table().splitlines() for r in results]
        click.echo("\n".join(rows[0][:2] + [row[2] for row in rows]))
        for r in results:
            if not r.passed:
                click.echo("\n" + r.message())
    failed = [r for r in results if not r.passed]
    click.echo(f"\n{len(results) - len(failed)} of {len(results)} gates passed", err=True)
    if failed:
        sys.exit(1)

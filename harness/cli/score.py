"""`harness score` and `harness calibrate`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli


def _scorer(threshold: float | None, no_embeddings: bool, judge: str | None = None):
    from harness.scoring.scorer import ScoreConfig, Scorer

    if threshold is not None and not 0 <= threshold <= 1:
        from harness.errors import HarnessError

        raise HarnessError(f"--threshold must be between 0 and 1, got {threshold}")
    kwargs = {"use_embeddings": not no_embeddings, "judge": judge or ""}
    if threshold is not None:
        kwargs["threshold"] = threshold
    return Scorer(ScoreConfig(**kwargs))


JUDGE_HELP = ("Optional judge, off by default, verdicts cached: nli:PATH (a local NLI cross-encoder) or "
              "llm:BACKEND:MODEL (e.g. llm:hf:./my-model). Re-calibrate the threshold when you add one.")


@cli.command("score")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL: {"id", "question", "context": str or "contexts": [str], "answer"} per line.')
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL written here: each input line plus verdict, hallucinated, score, spans, claims.")
@click.option("--threshold", type=float, help="Support below which an answer is hallucinated [default: 0.827, calibrated].")
@click.option("--no-embeddings", is_flag=True, help="Skip the embedding-similarity signal (faster, lexical signals only).")
@click.option("--judge", help=JUDGE_HELP)
def score_cmd(input_path, output_path, threshold, no_embeddings, judge) -> None:
    """Give hallucination verdicts for answers made anywhere (another model, another tool).

    Each answer is split into claims (sentences, English or Korean); each claim is checked
    against the context: its numbers (normalized: $30,000 = 30,000 dollars, 60 days = sixty
    days, 3만 원), names and defined terms, content words, polarity, citations (Article V.C,
    제3조), and embedding similarity to the closest context sentence. Verdict: supported,
    hallucinated or refused; score: the weakest claim's support in [0, 1]; spans: the
    unsupported claims as character offsets into the answer.

    \b
    Example usage:
      harness score --input answers.jsonl --output scored.jsonl
      harness score --input answers.jsonl --output scored.jsonl --threshold 0.4 --no-embeddings
    """
    from harness.io import write_jsonl
    from harness.scoring.batch import read_score_input, score_rows

    rows = read_score_input(input_path)
    out, summary = score_rows(rows, _scorer(threshold, no_embeddings, judge))
    write_jsonl(output_path, out)
    click.echo(f"{summary['n']} answers: {summary['supported']} supported, {summary['hallucinated']} hallucinated "
               f"({summary['hallucination_rate']:.1%}), {summary['refused']} refused; "
               f"{summary['answers_per_s']} answers/s; threshold {summary['threshold']}")
    click.echo(str(output_path))


@cli.command("calibrate")
@click.option("--labeled", "labeled_paths", required=True, multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL in the `harness score` input format plus "hallucinated": true/false (optional "part": dev/heldout, '
                   '"group", "kind"). Repeat for several sets: the threshold is chosen on all their dev parts together.')
@click.option("--dev-fraction", type=float, default=0.5, show_default=True,
              help="Share of answers (by group, else id) used to choose the threshold; the rest is held out.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as JSON here.")
@click.option("--no-embeddings", is_flag=True, help="Calibrate the lexical-only scorer.")
@click.option("--judge", help=JUDGE_HELP)
def calibrate_cmd(labeled_paths, dev_fraction, out_path, no_embeddings, judge) -> None:
    """Measure the scorer against labeled answers and choose its decision threshold.

    The threshold that maximizes F1 on the dev part is chosen; precision, recall, F1, Cohen's
    kappa and ROC-AUC are reported on the held-out part (and per "kind" when lines have one).

    \b
    Example usage:
      harness calibrate --labeled eval_sets/labeled/perturbations.jsonl --labeled eval_sets/labeled/real_answers.jsonl
      harness calibrate --labeled my_labels.jsonl --dev-fraction 0.6 --out calibration.json
    """
    from harness.errors import HarnessError
    from harness.io import atomic_write_json
    from harness.scoring.batch import calibrate, format_kind, format_metrics, read_score_input

    if not 0 < dev_fraction < 1:
        raise HarnessError(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
    sets = {str(p): read_score_input(p, labeled=True) for p in labeled_paths}
    ids = [str(r.record["id"]) for group in sets.values() for r in group]
    if len(set(ids)) != len(ids):
        raise HarnessError("the labeled sets share ids; ids must be unique across --labeled files")
    report = calibrate(sets, _scorer(None, no_embeddings, judge), dev_fraction)
    click.echo(f"threshold chosen on dev: {report['threshold']:.4f} (default {report['default_threshold']})")
    click.echo("dev:      " + format_metrics(report["dev"]))
    click.echo("held-out: " + format_metrics(report["heldout"]))
    for name, part in report["sets"].items():
        click.echo(f"held-out {name}: " + format_metrics(part["heldout"]))
        for kind, m in part["by_kind"].items():
            click.echo(f"  {kind:<22}" + (format_kind(m) if m["positives"] in (0, m["n"]) else format_metrics(m)))
    if out_path:
        atomic_write_json(out_path, report)
        click.echo(str(out_path))

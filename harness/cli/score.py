"""`harness score` and `harness calibrate`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import encoding_option


def _scorer(threshold: float | None, no_embeddings: bool, judge: str | None = None, combiner: Path | None = None):
    from harness.scoring.scorer import ScoreConfig, Scorer

    if threshold is not None and not 0 <= threshold <= 1:
        from harness.errors import HarnessError

        raise HarnessError(f"--threshold must be between 0 and 1, got {threshold}")
    kwargs = {"use_embeddings": not no_embeddings, "judge": judge or "", "combiner": str(combiner or "")}
    if threshold is not None:
        kwargs["threshold"] = threshold
    return Scorer(ScoreConfig(**kwargs))


JUDGE_HELP = ("Optional judge, off by default, verdicts cached: nli:PATH_OR_ID (a Hugging Face NLI cross-encoder), "
              "detector:PATH_OR_ID (a LettuceDetect-style token classifier; its tokens become the spans) or "
              "llm:BACKEND:MODEL (e.g. llm:hf:./my-model). Re-calibrate the threshold when you add one.")


@cli.command("score")
@encoding_option
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='JSONL: {"id", "question", "context": str or "contexts": [str], "answer"} per line.')
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL written here: each input line plus verdict, hallucinated, score, spans, claims.")
@click.option("--threshold", type=float, help="Support below which an answer is hallucinated [default: the combiner's, chosen on the labelled sets' dev parts].")
@click.option("--no-embeddings", is_flag=True, help="Skip the embedding-similarity signal (faster, lexical signals only).")
@click.option("--judge", help=JUDGE_HELP)
def score_cmd(input_path, output_path, threshold, no_embeddings, judge) -> None:
    """Give hallucination verdicts for answers made anywhere (another model, another tool).

    Each answer is split into claims (sentences, English or Korean). Refusals ("the excerpts
    don't mention ...", "약관에 해당 내용이 없습니다") and restatements of the question are not
    checked. Each other claim gets features: its numbers (normalized: $30,000 = 30,000 dollars,
    60 days = sixty days = 1,440 hours, 3만 원), names and defined terms, content words the
    context lacks, polarity, citations (Article V.C, 제3조), and how well each of its words
    aligns to some word of the context (contextual MiniLM token vectors, so paraphrases align).
    A learned combiner (fitted by `harness scorer fit` on labelled answers, shipped as data)
    turns them into each claim's support and the answer's. Verdict: supported, hallucinated or
    refused; score: the answer's support in [0, 1]; spans: the unsupported words (character
    offsets into the answer); claims: every claim with its support and signals.

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


LABELED_SETS = tuple(f"eval_sets/labeled/{name}.jsonl" for name in (
    "perturbations", "real_answers", "fluent_answers", "web_answers", "adapter_answers", "ko_fluent_answers"))


def _read_labeled(paths) -> dict:
    from harness.errors import HarnessError
    from harness.scoring.batch import read_score_input

    sets = {str(p): read_score_input(p, labeled=True) for p in paths}
    ids = [str(r.record["id"]) for group in sets.values() for r in group]
    if len(set(ids)) != len(ids):
        raise HarnessError("the labeled sets share ids; ids must be unique across --labeled files")
    return sets


LABELED_HELP = ('JSONL in the `harness score` input format plus "hallucinated": true/false (optional "part": dev/heldout, '
                '"group", "kind", "language", "spans"). Repeat for several sets [default: the six sets in eval_sets/labeled].')


@cli.command("calibrate")
@encoding_option
@click.option("--labeled", "labeled_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help=LABELED_HELP)
@click.option("--dev-fraction", type=float, default=0.5, show_default=True,
              help="Share of questions (by group, else id) in the dev part; the rest is held out.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON here.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the README's table (per set, per language, per kind) here.")
@click.option("--threshold", type=float, help="Measure at this threshold instead of the combiner's.")
@click.option("--no-embeddings", is_flag=True, help="Measure the lexical-only variant.")
@click.option("--combiner", "combiner_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A combiner fitted with `harness scorer fit --out` [default: the shipped one].")
@click.option("--judge", help=JUDGE_HELP)
def calibrate_cmd(labeled_paths, dev_fraction, out_path, markdown_path, threshold, no_embeddings, combiner_path, judge) -> None:
    """Measure the scorer against labeled answers, on their held-out parts.

    Reports precision, recall, F1, Cohen's kappa, ROC-AUC and character-level span F1 at the
    scorer's threshold, for all held-out answers, per labelled set, per language and per kind
    of answer. The threshold was chosen when the combiner was fitted, on dev parts only; the
    F1-best threshold on the dev parts is printed for information.

    \b
    Example usage:
      harness calibrate
      harness calibrate --labeled my_labels.jsonl --out calibration.json
      harness calibrate --markdown calibration.md --out calibration.json
    """
    from harness.errors import HarnessError
    from harness.io import atomic_write_json, atomic_write_text
    from harness.scoring.batch import calibrate, calibration_markdown, format_kind, format_metrics

    if not 0 < dev_fraction < 1:
        raise HarnessError(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
    sets = _read_labeled(labeled_paths or LABELED_SETS)
    report = calibrate(sets, _scorer(threshold, no_embeddings, judge, combiner_path), dev_fraction)
    click.echo(f"scorer {report['scorer']}, threshold {report['threshold']:.4f} "
               f"(F1-best on dev: {report['dev_f1_threshold']:.4f}); {report['answers_per_s']} answers/s")
    click.echo("held-out: " + format_metrics(report["heldout"]))
    for lang, m in report["languages"].items():
        click.echo(f"held-out, language {lang}: " + format_metrics(m))
    for name, part in report["sets"].items():
        click.echo(f"held-out {name}: " + format_metrics(part["heldout"]))
        for kind, m in part["by_kind"].items():
            click.echo(f"  {kind:<22}" + (format_kind(m) if m["positives"] in (0, m["n"]) else format_metrics(m)))
    if out_path:
        atomic_write_json(out_path, report)
        click.echo(str(out_path))
    if markdown_path:
        atomic_write_text(markdown_path, calibration_markdown(report))
        click.echo(str(markdown_path))


@cli.group("scorer")
def scorer_group() -> None:
    """The scorer's learned parts: fit the combiner on labelled answers.

    \b
    Example usage:
      harness scorer fit                       # refit the shipped combiner on eval_sets/labeled
      harness scorer fit --labeled mine.jsonl --out my_combiner.json
    """


@scorer_group.command("fit")
@encoding_option
@click.option("--labeled", "labeled_paths", multiple=True, type=click.Path(dir_okay=False, path_type=Path), help=LABELED_HELP)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the coefficients [default: the package's harness/scoring/data/combiner.json].")
def scorer_fit_cmd(labeled_paths, out_path) -> None:
    """Fit the combiner (claim features -> P(unsupported) -> the answer's verdict) on the dev
    parts of labelled sets, and choose its threshold there.

    Claims are labelled from each answer's "spans" (or, for perturbations, from its difference to
    the gold answer); a logistic regression per variant (with and without embeddings) is fitted,
    its regularisation chosen by question-grouped cross-validation, then an answer-level model
    over the claim probabilities, and the threshold that maximises the mean kappa over the sets.
    Held-out parts are never read. Takes ~3 minutes on 2 CPU cores for the shipped sets.

    \b
    Example usage:
      harness scorer fit                                    # refit the shipped combiner
      harness scorer fit --labeled mine.jsonl --labeled eval_sets/labeled/web_answers.jsonl --out my_combiner.json
      harness calibrate --combiner my_combiner.json
    """
    from harness.io import atomic_write_json
    from harness.scoring.combiner import SHIPPED
    from harness.scoring.fit import fit_labeled

    sets = _read_labeled(labeled_paths or LABELED_SETS)
    combiner = fit_labeled(sets, progress=click.echo)
    target = out_path or SHIPPED
    atomic_write_json(target, combiner.to_dict())
    click.echo(str(target))

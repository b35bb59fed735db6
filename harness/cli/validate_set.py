"""`harness validate-set`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import InputError, cli
from harness.cli.options import encoding_option


@cli.command("validate-set")
@encoding_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--corpus", "corpus_roots", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder searched (recursively) for the evidence documents, by file stem. Repeatable. "
                   "[default: eval_sets/corpora]")
@click.option("--all", "all_errors", is_flag=True, help="List every bad record instead of stopping at the first.")
@click.option("--min-per-category", type=int, default=0, show_default=True,
              help="Fail when a category has fewer questions than this.")
@click.option("--min-unanswerable", type=float, default=0.0, show_default=True,
              help="Fail when the unanswerable share is below this fraction (e.g. 0.25).")
@click.option("--min-train", type=float, default=0.0, show_default=True,
              help="Fail when the train share is below this fraction (e.g. 0.5).")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON instead of tables.")
def validate_set_cmd(files, corpus_roots, all_errors, min_per_category, min_unanswerable, min_train, as_json) -> None:
    """Check eval-set files: schema, unique ids, evidence spans against the corpus text,
    and counts per category x split, split ratios and the answerable ratio.

    Each evidence span must lie inside its document (found by file stem under --corpus) and
    quote non-blank text. The first bad record stops the check with exit code 2 and its
    file:line; --all lists every bad record.

    \b
    Example usage:
      harness validate-set eval_sets/sfip/questions.jsonl
      harness validate-set eval_sets/*/*.jsonl --all
      harness validate-set eval_sets/sfip/questions.jsonl --min-per-category 15 --min-unanswerable 0.25 --min-train 0.5
    """
    from harness.validate import DEFAULT_CORPUS_ROOT, CorpusLookup, SetRequirements, format_summary, validate_set

    corpus = CorpusLookup(list(corpus_roots) or [DEFAULT_CORPUS_ROOT])
    requirements = SetRequirements(min_per_category, min_unanswerable, min_train)
    errors = []
    summaries = []
    for path in files:
        report = validate_set(path, corpus, requirements, stop_at_first=not all_errors)
        errors.extend(report.errors)
        if report.items and not any(e.line for e in report.errors):  # only file-level shortfalls: the counts are still true
            summaries.append(report.summary() if as_json else format_summary(report))
        if errors and not all_errors:
            break
    if as_json:
        click.echo(json.dumps(summaries, ensure_ascii=False, indent=2))
    else:
        click.echo("\n\n".join(summaries))
    if errors:
        for e in errors[:-1]:
            click.echo(f"Error: {e}", err=True)
        more = f" ({len(errors)} errors)" if len(errors) > 1 else ""
        raise InputError(f"{errors[-1]}{more}")

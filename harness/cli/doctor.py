"""`harness doctor`"""

from __future__ import annotations

import json

import click

from harness.cli import cli
from harness.config import DEFAULT_INDEX


@cli.command("doctor")
@click.option("--index", "index", default=DEFAULT_INDEX, show_default=True, type=click.Path(file_okay=False),
              help="The index to check: present, and built from its corpus as it is now.")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(), metavar="PATH",
              help="The corpus --index is checked against (repeatable). [default: a shipped index's own corpus, "
                   "else what its manifest records]")
@click.option("--no-load", is_flag=True, help="Check that the bundled models are installed without loading them (fast).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead of a table.")
def doctor_cmd(index: str, corpus: tuple[str, ...], no_load: bool, as_json: bool) -> None:
    """Check this machine and set-up: Python, torch and the GPU, memory and disk, bitsandbytes,
    the bundled models (generator, embedders, Korean analyser), $HARNESS_HOME and the index.

    Prints one line per check (ok, WARN or FAIL) and, under each line that is not ok, what to
    do. Exits 1 when something needed is missing (a FAIL line), else 0: warnings (no 4-bit
    QLoRA without a CUDA GPU, an index not built yet or stale, little memory or disk) leave the
    harness usable. By default the bundled models are loaded and run on one sentence (10-20 s
    on a laptop CPU); --no-load only looks for them (about 5 s).

    \b
    Example usage:
      harness doctor
      harness doctor --no-load --json
      harness doctor --index indexes/sfip_ko
    """
    from harness.doctor import needed_failures, render_table, run_checks, summary_line

    checks = run_checks(index=index, corpus=list(corpus) or None, load=not no_load)
    failing = needed_failures(checks)
    if as_json:
        click.echo(json.dumps({"checks": [c.to_dict() for c in checks], "needed_failing": len(failing),
                               "summary": summary_line(checks)}, indent=2, ensure_ascii=False))
    else:
        click.echo(render_table(checks))
    if failing:
        click.get_current_context().exit(1)

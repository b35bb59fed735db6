"""`harness compare`, `harness ask`, `harness chat`, `harness stops suggest`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import cli
from harness.cli.eval import model_options
from harness.cli.options import config_option, greedy
from harness.config import EvalConfig


@cli.command("compare", cls=greedy("--models"))
@click.argument("run_a", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("run_b", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--cell-a", help="Decoding cell of RUN_A that is 'before' (default: its first).")
@click.option("--cell-b", help="Decoding cell that is 'after' (default: RUN_B's only cell, or RUN_A's second).")
@click.option("--models", multiple=True, metavar="NAME...", help="Only these models (default: every model in both).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of Markdown.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the before/after page here: the table and every question that flipped, "
                   "with both answers, unsupported spans highlighted.")
def compare_cmd(run_a, run_b, cell_a, cell_b, models, as_json, html_out) -> None:
    """Before / after, per model, with paired statistics on the same questions.

    RUN_A is "before", RUN_B "after"; with one run, its first decoding cell is "before" and
    its second "after" (the seed's experiment: seed-default -> seed-optimized). For each model:
    hallucination rate before and after with 95% CIs, the paired difference with a bootstrap
    CI over questions, the exact McNemar p on the questions that flipped, a plain verdict
    (real, or within noise and how many questions it would take), and the flipped questions.

    \b
    Example usage:
      harness compare results/20261201-101500-base-v1-v2          # its two cells
      harness compare results/RUN_BEFORE results/RUN_AFTER --models v2
      harness compare results/RUN --cell-a greedy --cell-b seed-optimized --json
      harness compare results/RUN --html results/RUN/compare.html
    """
    from harness.results.compare import compare_markdown, compare_runs

    result = compare_runs(run_a, run_b, cell_a, cell_b, list(models) or None)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else compare_markdown(result))
    if html_out:
        from harness.results.report import render_compare

        click.echo(f"html: {render_compare(result, run_a, run_b, html_out)}", err=True)


def _asker(opts: dict):
    from harness.config import load_config
    from harness.experiment.ask import Asker

    overrides = {"models": [opts["model"]], "decoding": [opts["decoding"]] if opts["decoding"] else None,
                 "index": opts["index"], "k": opts["k"], "base_model": opts["base_model"], "backend": opts["backend"],
                 "dtype": opts["dtype"], "device": opts["device"], "load_in_4bit": opts["load_in_4bit"],
                 "score": opts["score"], **{k: opts[k] for k in ("api_base", "api_key_env", "concurrency",
                                                                 "request_timeout", "max_retries", "server_params",
                                                                 "prefill_dtype")}}
    return Asker(load_config(EvalConfig, opts["config_path"], overrides), opts["registry_path"])


def ask_options(f):
    for decorator in reversed([
        click.option("--model", default="base", show_default=True, help="'base' or a name registered in models.json."),
        config_option(EvalConfig, "decoding", "--decoding", metavar="PRESET"),
        *model_options(),
        config_option(EvalConfig, "score", "--score/--no-score"),
        click.option("--language", type=click.Choice(["auto", "en", "ko"]), default="auto", show_default=True,
                     help="Language of the question (auto: Korean when it has Hangul)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Experiment YAML (stops, presets, scorer settings) to use."),
        click.option("--registry", "registry_path", type=click.Path(dir_okay=False, path_type=Path),
                     default="models.json", show_default=True, help="Registered models (adapters) file."),
    ]):
        f = decorator(f)
    return f


@cli.command("ask")
@click.argument("question")
@ask_options
def ask_cmd(question, language, **opts) -> None:
    """Answer one question: the retrieved clauses, the raw and trimmed answer, the verdict.

    The same retrieval, prompt, decoding preset, stop rules and scorer as `harness eval`,
    for looking at one answer closely (seeds 000/001).

    \b
    Example usage:
      harness ask "How long do I have to file a proof of loss?" --model v2
      harness ask "Is mold damage covered?" --model v2 --decoding seed-optimized
      harness ask "보험금은 언제 지급되나요?" --index indexes/sfip_ko       # Korean: BM25 ranks it
    """
    from harness.experiment.ask import format_answer

    asker = _asker(opts)
    try:
        click.echo(format_answer(asker.ask(question, language), opts["model"]))
    finally:
        asker.close()


@cli.command("chat")
@ask_options
def chat_cmd(language, **opts) -> None:
    """Ask questions one after another with the model kept loaded (empty line or Ctrl-D ends).

    \b
    Example usage:
      harness chat --model v2
      harness chat --model v2 --decoding seed-optimized --no-score
    """
    from harness.experiment.ask import format_answer

    asker = _asker(opts)
    click.echo(f"chat with {opts['model']}: type a question about the policy; an empty line ends.", err=True)
    try:
        while True:
            try:
                question = click.prompt("?", prompt_suffix=" ", default="", show_default=False)
            except (EOFError, click.Abort):
                break
            if not question.strip():
                break
            click.echo(format_answer(asker.ask(question, language), opts["model"]))
            click.echo("")
    finally:
        asker.close()


@cli.group("stops")
def stops_group() -> None:
    """Stop phrases and tail trimming: find the phrases where your model's answers go wrong.

    \b
    Example usage:
      harness stops suggest results/20261201-101500-base-v1-v2
    """


@stops_group.command("suggest")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--min-count", type=int, default=2, show_default=True, help="Propose phrases that start at least this many tails.")
@click.option("--top", type=int, default=20, show_default=True, help="How many phrases to list.")
@click.option("--models", multiple=True, help="Only answers of these models.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def suggest_cmd(run_dir, min_count, top, models, as_json) -> None:
    """Propose trim phrases from the tails seen in a run's raw answers.

    Tails are the text after a language switch, a repeated sentence or n-gram loop, a new
    turn the model started, the refusal sentence, or the first paragraph. Each phrase comes
    with how many tails it starts, how many kept answers also contain it (so it would cut
    good text too), and examples. Add the good ones under `stops: phrases:` in the
    experiment file, then `harness rescore RUN`.

    \b
    Example usage:
      harness stops suggest results/20261201-101500-base-v1-v2
      harness stops suggest results/RUN --models v2 --min-count 3
    """
    from harness.errors import HarnessError
    from harness.io import read_jsonl
    from harness.trimming import suggest_stops

    path = run_dir / "items.jsonl"
    if not path.is_file():
        raise HarnessError("no items.jsonl in the run folder", run_dir)
    records = [r for r in read_jsonl(path) if not r.get("error") and (not models or r["model"] in models)]
    found = suggest_stops(records, min_count=min_count, top=top)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(f"no phrase starts {min_count} or more tails in {len(records)} answers")
        return
    click.echo(f"{'phrase':<28} {'kind':<14} {'tails':>5} {'in kept answers':>15}  example")
    for s in found:
        ex = s["examples"][0] if s["examples"] else {}
        click.echo(f"{s['phrase'][:28]!r:<28} {s['kind']:<14} {s['count']:>5} {s['in_answers']:>15}  "
                   f"{ex.get('model', '')}/{ex.get('item_id', '')}: {ex.get('tail', '')[:60]!r}")

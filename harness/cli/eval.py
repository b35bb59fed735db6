"""`harness eval`, `harness sweep`, `harness rescore`"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option, encoding_option, greedy
from harness.cli.search import retrieval_options, retrieval_overrides
from harness.config import SUITES, DecodingConfig, EvalConfig, StopConfig
from harness.errors import HarnessError

# CLI option name -> dotted config key; the flags override the --config file, which overrides defaults.
OPTION_KEYS = {
    "models": "models", "eval_set": "eval_set", "index": "index", "k": "k", "base_model": "base_model",
    "backend": "backend", "dtype": "dtype", "prefill_dtype": "prefill_dtype", "device": "device", "load_in_4bit": "load_in_4bit",
    "batch_size": "batch_size", "split": "split", "limit": "limit", "results_dir": "results_dir",
    "run_name": "run_name", "score": "score", "score_threshold": "score_threshold", "score_judge": "score_judge",
    "track": "track", "api_base": "api_base", "api_key_env": "api_key_env", "concurrency": "concurrency",
    "request_timeout": "request_timeout", "max_retries": "max_retries", "server_params": "server_params",
    "decoding": "decoding", "repeats": "repeats", "cache": "cache", "cache_dir": "cache_dir",
    "stop": "stops.phrases", "stop_at_generation": "stops.at_generation",
    **{f: f"decoding_overrides.{f}" for f in ("max_new_tokens", "do_sample", "temperature", "top_p", "top_k",
                                             "repetition_penalty", "no_repeat_ngram_size", "seed")},
}


def model_options() -> list:
    """Where the clauses come from and which weights answer: shared by eval, sweep, ask and chat."""
    return [
        config_option(EvalConfig, "index", "--index", type=click.Path(file_okay=False, path_type=str)),
        config_option(EvalConfig, "api_base", "--api-base", metavar="URL"),
        config_option(EvalConfig, "api_key_env", "--api-key-env", metavar="VAR"),
        config_option(EvalConfig, "concurrency", "--concurrency", type=int),
        config_option(EvalConfig, "request_timeout", "--request-timeout", type=float),
        config_option(EvalConfig, "max_retries", "--max-retries", type=int),
        config_option(EvalConfig, "server_params", "--server-params", type=click.Choice(["extended", "strict"])),
        config_option(EvalConfig, "k", "--k", type=int),
        config_option(EvalConfig, "base_model", "--base-model"),
        config_option(EvalConfig, "backend", "--backend"),
        config_option(EvalConfig, "dtype", "--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"])),
        config_option(EvalConfig, "prefill_dtype", "--prefill-dtype", type=click.Choice(["auto", "same", "bfloat16", "float32"])),
        config_option(EvalConfig, "device", "--device"),
        config_option(EvalConfig, "load_in_4bit", "--load-in-4bit/--no-load-in-4bit"),
    ]


def experiment_options(f):
    """The flags shared by `eval` and `sweep` (each also a key of the --config YAML file)."""
    decorators = [
        config_option(EvalConfig, "models", "--models", multiple=True, metavar="NAME..."),
        config_option(EvalConfig, "decoding", "--decoding", multiple=True, metavar="PRESET..."),
        click.option("--suite", type=click.Choice(list(SUITES)), default=None,
                     help="A shipped eval set with its own index (built on first use): "
                          + "; ".join(f"{name}: {s}" for name, (s, _) in SUITES.items())
                          + ". injection also reports, per model, the share of answers that obeyed text planted "
                          "in a clause and of faithful ones. Not with --eval-set; --index still overrides."),
        config_option(EvalConfig, "eval_set", "--eval-set", type=click.Path(dir_okay=False, path_type=str)),
        config_option(EvalConfig, "split", "--split", type=click.Choice(["train", "dev", "test"])),
        config_option(EvalConfig, "limit", "--limit", type=int),
        *model_options(),
        config_option(EvalConfig, "batch_size", "--batch-size", type=int),
        config_option(EvalConfig, "repeats", "--repeats", type=int),
        config_option(DecodingConfig, "max_new_tokens", "--max-new-tokens", type=int),
        config_option(DecodingConfig, "do_sample", "--do-sample/--greedy"),
        config_option(DecodingConfig, "temperature", "--temperature", type=float),
        config_option(DecodingConfig, "top_p", "--top-p", type=float),
        config_option(DecodingConfig, "top_k", "--top-k", type=int),
        config_option(DecodingConfig, "repetition_penalty", "--repetition-penalty", type=float),
        config_option(DecodingConfig, "no_repeat_ngram_size", "--no-repeat-ngram-size", type=int),
        config_option(DecodingConfig, "seed", "--seed", type=int),
        config_option(StopConfig, "phrases", "--stop", multiple=True, metavar="PHRASE"),
        config_option(StopConfig, "at_generation", "--stop-at-generation/--no-stop-at-generation"),
        click.option("--no-trim", is_flag=True, help="Keep answers as generated: no stop phrase or structural trim."),
        config_option(EvalConfig, "score", "--score/--no-score"),
        config_option(EvalConfig, "score_threshold", "--score-threshold", type=float),
        config_option(EvalConfig, "score_judge", "--score-judge"),
        config_option(EvalConfig, "results_dir", "--results-dir", type=click.Path(file_okay=False, path_type=str)),
        config_option(EvalConfig, "run_name", "--run-name"),
        config_option(EvalConfig, "track", "--track", metavar="mlflow"),
        config_option(EvalConfig, "cache", "--cache/--no-cache"),
        config_option(EvalConfig, "cache_dir", "--cache-dir", type=click.Path(file_okay=False, path_type=str)),
        retrieval_options,
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Experiment YAML file with any of these settings (see experiments/seed.yaml); flags override it."),
        click.option("--registry", "registry_path", type=click.Path(dir_okay=False, path_type=Path),
                     default="models.json", show_default=True, help="Registered models (adapters) file."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def experiment_config(opts: dict, extra: dict | None = None) -> EvalConfig:
    from harness.config import load_config

    overrides = {key: opts.get(name) for name, key in OPTION_KEYS.items()}
    for name in ("models", "decoding", "stop"):
        overrides[OPTION_KEYS[name]] = list(opts[name]) or None
    if opts.get("no_trim"):
        overrides.update({"stops.default_phrases": False, "stops.phrases": [], "stops.script_switch": False,
                          "stops.repetition": False, "stops.new_turn": False})
    overrides.update(retrieval_overrides("retrieval.", opts))
    if opts.get("suite"):
        if opts.get("eval_set"):
            raise HarnessError(f"--suite {opts['suite']} and --eval-set both choose the eval set; give one of them")
        overrides["eval_set"], index = SUITES[opts["suite"]]
        overrides["index"] = opts.get("index") or index
    overrides.update(extra or {})
    from harness.experiment.plan import load_experiment

    return load_experiment(opts["config_path"], overrides)


def report(run, table: str | None = None) -> None:
    click.echo(run.markdown_path.read_text(encoding="utf-8"), err=True)
    if table:
        click.echo(table, err=True)
    failed = run.comparison["generation"]["failed"]
    if failed:
        click.echo(f"warning: {failed} item(s) failed; they are in items.jsonl with `error` set and are retried "
                   f"by `harness eval --resume {run.run_dir}`", err=True)
    if run.report_path.is_file():
        click.echo(f"report: {run.report_path}", err=True)
    click.echo(str(run.markdown_path))
    gen = run.comparison["generation"]
    if gen["failed"] and not gen["generated"] and not gen["from_cache"]:
        # Every answer failed: the items are recorded (nothing dropped), but there is nothing to read.
        from harness.io import iter_jsonl

        first = next((r["error"] for _, r in iter_jsonl(run.run_dir / "items.jsonl") if r.get("error")), "unknown")
        click.echo(f"Error: every answer failed ({first}); fix the cause and run "
                   f"`harness eval --resume {run.run_dir}`", err=True)
        sys.exit(1)


def _progress(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="answer", dynamic_ncols=True)


def _echo(line: str) -> None:
    click.echo(line, err=True)


@cli.command("eval", cls=greedy("--models", "--decoding"))
@encoding_option
@experiment_options
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Finish an interrupted run in its own folder, as its experiment.yaml says (no other flags).")
@click.option("--list-presets", is_flag=True, help="List the decoding presets and exit.")
def eval_cmd(resume, list_presets, **opts) -> None:
    """Answer every eval question with every model and decoding preset over the same retrieved clauses.

    For each question the top-k chunks are retrieved once; each model gets the same prompt
    (the clauses, the question, the instruction to answer only from them or reply with the
    refusal sentence). Answers are trimmed where a stop rule fires (the raw answer is kept),
    scored for hallucination before and after trimming, and compared pairwise (paired
    bootstrap CI and exact McNemar test on the same questions).

    Every answer is cached by model, prompt and decoding: running the same experiment again
    generates nothing (it prints "0 generated, N from cache"), and a killed run picks up
    where it stopped when run again (or with --resume RUN, in its own folder).

    Writes results/<run_id>/: experiment.yaml, retrieval.jsonl, items.jsonl (one line per
    model x preset x repeat x question, failed ones included), comparison.json,
    comparison.md, report.html (one self-contained page: plots, every answer with its
    unsupported spans highlighted) and plots/*.png, and prints the path of comparison.md.
    With --track mlflow the run is also logged to MLflow.

    An eval set with an injections.jsonl beside it (--suite injection: hostile text planted in
    policy clauses) also gets a "Prompt injection" section: per model, the share of answers
    that obeyed the planted text and of faithful ones, and every case's marks.

    \b
    Example usage:
      harness eval --models base v1 v2
      harness eval --config experiments/seed.yaml            # seed 004: 3 models x 2 presets
      harness eval --models v2 --decoding seed-default seed-optimized --repeats 3
      harness eval --models base --eval-set eval_sets/sfip/questions.jsonl --split dev --mode bm25
      harness eval --suite injection --models base v1 v2    # planted hostile text: obeyed / faithful shares
      harness eval --models base --base-model ./my-8b-model --load-in-4bit --dtype bfloat16
      harness eval --resume results/20261201-101500-base-v1-v2
      harness eval --models base v1 v2 --track mlflow    # MLFLOW_TRACKING_URI, else ./mlruns
      harness eval --models base v2 --backend openai --api-base http://127.0.0.1:8000/v1 --base-model base
      harness eval --models base v2 --backend llamacpp   # llama.cpp in process (pip install 'rag-harness[llamacpp]')
      harness eval --list-presets
    """
    from harness.evaluate import run_eval

    if list_presets:
        from harness.config import load_config
        from harness.experiment.plan import describe_presets

        cfg = load_config(EvalConfig, opts["config_path"]) if opts["config_path"] else None
        click.echo(describe_presets(cfg))
        return
    if resume:
        given = [name for name, value in opts.items() if name != "registry_path" and value not in (None, (), False)]
        if given:
            raise HarnessError(f"--resume finishes the run as its experiment.yaml says; drop --{given[0].replace('_', '-')} "
                               "(or start a new run with it)")
    cfg = None if resume else experiment_config(opts)
    run = run_eval(cfg, progress=_progress, registry_path=opts["registry_path"], resume=resume, echo=_echo)
    report(run)


@cli.command("sweep", cls=greedy("--models", "--decoding"))
@encoding_option
@experiment_options
@click.option("--grid", "grid", multiple=True, metavar="SETTING=V1,V2,...", required=True,
              help="A decoding setting and its values; give several --grid for a full grid (each combination is a cell).")
def sweep_cmd(grid, **opts) -> None:
    """Run a grid of decoding settings: every combination x every model, one retrieval, the cache.

    Each grid point is applied on top of each --decoding preset (greedy by default; a
    temperature above 0 turns sampling on). Prints a table per cell and model of hallucination
    rate, the refusal grid and correctness, then the usual comparison.md.

    \b
    Example usage:
      harness sweep --grid temperature=0.1,0.7 --grid repetition_penalty=1.0,1.2
      harness sweep --models base v2 --grid repetition_penalty=1.0,1.1,1.2 --split dev \\
          --eval-set eval_sets/sfip/questions.jsonl
    """
    from harness.evaluate import run_eval
    from harness.experiment.plan import parse_grid_option
    from harness.results.render import sweep_table

    points = dict(parse_grid_option(g) for g in grid)
    cfg = experiment_config(opts, {"grid": points})
    run = run_eval(cfg, progress=_progress, registry_path=opts["registry_path"], echo=_echo)
    report(run, sweep_table(run.comparison))


@cli.command("rescore")
@encoding_option
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@config_option(EvalConfig, "score_threshold", "--score-threshold", type=float)
@config_option(EvalConfig, "score_judge", "--score-judge")
@config_option(StopConfig, "phrases", "--stop", multiple=True, metavar="PHRASE")
@click.option("--no-trim", is_flag=True, help="Score the answers as generated: no stop phrase or structural trim.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML with `stops:` or score settings to apply (other keys are ignored).")
def rescore_cmd(run_dir, score_threshold, score_judge, stop, no_trim, config_path) -> None:
    """Re-trim and re-score a finished run without generating anything.

    Use it after changing the scorer (threshold, judge) or the stop rules: the raw answers
    in items.jsonl are trimmed again, scored (verdicts cached by answer and clauses), and
    comparison.json/.md are rewritten in place; experiment.yaml records the new settings.

    \b
    Example usage:
      harness rescore results/20261201-101500-base-v1-v2 --score-threshold 0.8
      harness rescore results/20261201-101500-base-v1-v2 --stop "Note:" --stop "Question:"
      harness rescore results/20261201-101500-base-v1-v2 --no-trim
    """
    from harness.evaluate import rescore

    overrides: dict = {"score": True, "score_threshold": score_threshold, "score_judge": score_judge}
    if config_path:
        from harness.config import read_yaml

        data = read_yaml(Path(config_path)) or {}
        if not isinstance(data, dict) or not isinstance(data.get("stops") or {}, dict):
            raise HarnessError("a config file must be a mapping of keys to values (stops: a mapping too)", config_path)
        for key in ("score_threshold", "score_judge"):
            overrides[key] = overrides[key] if overrides[key] is not None else data.get(key)
        for key, value in (data.get("stops") or {}).items():
            overrides[f"stops.{key}"] = value
    if stop:
        overrides["stops.phrases"] = list(stop)
    if no_trim:
        overrides.update({"stops.default_phrases": False, "stops.phrases": [], "stops.script_switch": False,
                          "stops.repetition": False, "stops.new_turn": False})
    run = rescore(run_dir, overrides, echo=_echo)
    report(run)

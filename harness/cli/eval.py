"""`harness eval`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option, greedy
from harness.cli.search import retrieval_options, retrieval_overrides
from harness.config import DecodingConfig, EvalConfig


@cli.command("eval", cls=greedy("--models"))
@config_option(EvalConfig, "models", "--models", multiple=True, metavar="NAME...")
@config_option(EvalConfig, "eval_set", "--eval-set", type=click.Path(dir_okay=False, path_type=str))
@config_option(EvalConfig, "index", "--index", type=click.Path(file_okay=False, path_type=str))
@config_option(EvalConfig, "k", "--k", type=int)
@config_option(EvalConfig, "base_model", "--base-model")
@config_option(EvalConfig, "backend", "--backend")
@config_option(EvalConfig, "dtype", "--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]))
@config_option(EvalConfig, "device", "--device")
@config_option(EvalConfig, "load_in_4bit", "--load-in-4bit/--no-load-in-4bit")
@config_option(EvalConfig, "batch_size", "--batch-size", type=int)
@config_option(EvalConfig, "split", "--split", type=click.Choice(["train", "dev", "test"]))
@config_option(EvalConfig, "limit", "--limit", type=int)
@config_option(EvalConfig, "results_dir", "--results-dir", type=click.Path(file_okay=False, path_type=str))
@config_option(EvalConfig, "run_name", "--run-name")
@config_option(EvalConfig, "score", "--score/--no-score")
@config_option(EvalConfig, "score_threshold", "--score-threshold", type=float)
@config_option(EvalConfig, "score_judge", "--score-judge")
@config_option(DecodingConfig, "max_new_tokens", "--max-new-tokens", type=int)
@config_option(DecodingConfig, "temperature", "--temperature", type=float)
@config_option(DecodingConfig, "top_p", "--top-p", type=float)
@config_option(DecodingConfig, "repetition_penalty", "--repetition-penalty", type=float)
@config_option(DecodingConfig, "seed", "--seed", type=int)
@retrieval_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings, decoding under `decoding:` (flags override it).")
@click.option("--registry", "registry_path", type=click.Path(dir_okay=False, path_type=Path), default="models.json",
              show_default=True, help="Registered models (adapters) file.")
def eval_cmd(models, eval_set, index, k, base_model, backend, dtype, device, load_in_4bit, batch_size, split, limit,
             results_dir, run_name, score, score_threshold, score_judge, max_new_tokens, temperature, top_p, repetition_penalty, seed, retrieval_mode,
             doc_aware, rrf_k, candidates, reranker, config_path, registry_path) -> None:
    """Answer every eval question with every model over the same retrieved clauses.

    For each question the top-k chunks are retrieved once; each model gets the same prompt
    (the clauses, the question, and the instruction to answer only from them or reply with
    the refusal sentence). Writes results/<run_id>/items.jsonl (one line per question x
    model, failed ones included), comparison.json and comparison.md, and prints the path
    of comparison.md.

    \b
    Example usage:
      harness eval --models base
      harness eval --models base v1 v2 --k 5 --max-new-tokens 256
      harness eval --models base --eval-set eval_sets/sfip/questions.jsonl --split dev --mode bm25
      harness eval --models base --base-model ./my-8b-model --load-in-4bit
      harness eval --config experiments/decoding.yaml --temperature 0.1
    """
    from harness.config import load_config
    from harness.evaluate import run_eval

    cfg = load_config(EvalConfig, config_path, {
        "models": list(models) or None, "eval_set": eval_set, "index": index, "k": k, "base_model": base_model,
        "backend": backend, "dtype": dtype, "device": device, "load_in_4bit": load_in_4bit,
        "batch_size": batch_size, "split": split, "limit": limit, "results_dir": results_dir, "run_name": run_name,
        "score": score, "score_threshold": score_threshold, "score_judge": score_judge,
        "decoding.max_new_tokens": max_new_tokens, "decoding.temperature": temperature, "decoding.top_p": top_p,
        "decoding.repetition_penalty": repetition_penalty, "decoding.seed": seed,
        **retrieval_overrides("retrieval.", retrieval_mode, doc_aware, rrf_k, candidates, reranker),
    })
    run = run_eval(cfg, progress=_tqdm_factory, registry_path=registry_path)
    click.echo(run.markdown_path.read_text(encoding="utf-8"), err=True)
    failed = sum(m["n_failed"] for m in run.comparison["metrics"].values())
    if failed:
        click.echo(f"warning: {failed} item(s) failed; they are in items.jsonl with `error` set", err=True)
    click.echo(str(run.markdown_path))


def _tqdm_factory(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", dynamic_ncols=True)

"""`harness data build`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option
from harness.cli.search import retrieval_options, retrieval_overrides
from training.config import DataConfig


@cli.group("data")
def data_group() -> None:
    """Training data: build v1-style (qa) or v2-style (rag) sets from eval-set questions.

    \b
    Example usage:
      harness data build --dataset qa
      harness data build --dataset rag --k 3
    """


@data_group.command("build")
@config_option(DataConfig, "dataset", "--dataset", type=click.Choice(["qa", "rag"]))
@config_option(DataConfig, "out", "--out", type=click.Path(dir_okay=False, path_type=str))
@config_option(DataConfig, "eval_sets", "--eval-set", "eval_sets", multiple=True, type=click.Path(dir_okay=False, path_type=str))
@config_option(DataConfig, "indexes", "--index", "indexes", multiple=True, type=click.Path(file_okay=False, path_type=str))
@config_option(DataConfig, "split", "--split", type=click.Choice(["train", "dev", "test"]))
@config_option(DataConfig, "allow_eval_splits", "--allow-eval-splits/--no-allow-eval-splits")
@config_option(DataConfig, "k", "--k", type=int)
@config_option(DataConfig, "min_k", "--min-k", type=int)
@config_option(DataConfig, "variants", "--variants", type=int)
@config_option(DataConfig, "negatives", "--negatives", type=float)
@config_option(DataConfig, "unanswerable", "--unanswerable/--no-unanswerable")
@config_option(DataConfig, "cite", "--cite/--no-cite")
@config_option(DataConfig, "seed", "--seed", type=int)
@config_option(DataConfig, "base_model", "--base-model")
@retrieval_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings (flags override it).")
def build_cmd(dataset, out, eval_sets, indexes, split, allow_eval_splits, k, min_k, variants, negatives, unanswerable,
              cite, seed, base_model, retrieval_mode, doc_aware, rrf_k, candidates, reranker, config_path) -> None:
    """Build a training set from the questions of one split (train by default).

    \b
    qa   (the seed's v1): the question alone -> the gold answer; no clauses.
    rag  (the seed's v2): harness eval's own prompt over the same retriever's clauses, the
         gold evidence chunk always among them at a random position -> the gold answer naming
         its clause ("Under VII.G of the Dwelling Form: ..."); unanswerable questions and
         evidence-removed negatives (the clauses that answer taken out) -> the refusal
         sentence. --variants draws other distractors, order and k per question.

    Writes OUT (JSONL in TRL's conversational prompt-completion form, plus a `meta` record
    per line) and OUT.manifest.json (config, source hashes, counts by kind and language,
    token lengths), and prints the stats. Questions of the dev or test split, or train
    questions whose id or text also appears in them, are refused unless --allow-eval-splits.

    \b
    Example usage:
      harness data build --dataset qa                     # -> training/data/qa.jsonl
      harness data build --dataset rag --variants 3 --negatives 0.3
      harness data build --dataset rag --eval-set my_set.jsonl --index indexes/mine --out my_rag.jsonl
    """
    from harness.config import load_config
    from training.data import build_dataset

    cfg = load_config(DataConfig, config_path, {
        "dataset": dataset, "out": out, "eval_sets": list(eval_sets) or None, "indexes": list(indexes) or None,
        "split": split, "allow_eval_splits": allow_eval_splits, "k": k, "min_k": min_k, "variants": variants,
        "negatives": negatives, "unanswerable": unanswerable, "cite": cite, "seed": seed, "base_model": base_model,
        **retrieval_overrides("retrieval.", retrieval_mode, doc_aware, rrf_k, candidates, reranker),
    })
    result = build_dataset(cfg)
    click.echo("stats " + json.dumps(result.stats, ensure_ascii=False), err=True)
    click.echo(str(result.path))

"""`harness data build`, `harness data generate`, `harness data validate`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import InputError, cli
from harness.cli.options import config_option, encoding_option
from harness.cli.search import retrieval_options, retrieval_overrides
from training.config import DataConfig, GenerateConfig


@cli.group("data")
def data_group() -> None:
    """Training data: build v1-style (qa) or v2-style (rag) sets from eval-set questions, and
    generate more from the policy chunks themselves (self-instruct), then validate it.

    \b
    Example usage:
      harness data build --dataset qa
      harness data build --dataset rag --k 3
      harness data generate --index indexes/sfip --generator openai:Qwen/Qwen2.5-7B-Instruct \\
          --api-base http://gpu-box:8000/v1 --workers 8 --out training/generated
      harness data validate training/generated/generated.jsonl --out training/data/generated.jsonl
      harness data build --dataset rag --extra training/data/generated.jsonl
    """


@data_group.command("build")
@encoding_option
@config_option(DataConfig, "dataset", "--dataset", type=click.Choice(["qa", "rag"]))
@config_option(DataConfig, "out", "--out", type=click.Path(dir_okay=False, path_type=str))
@config_option(DataConfig, "eval_sets", "--eval-set", "eval_sets", multiple=True, type=click.Path(dir_okay=False, path_type=str))
@config_option(DataConfig, "indexes", "--index", "indexes", multiple=True, type=click.Path(file_okay=False, path_type=str))
@config_option(DataConfig, "extra", "--extra", "extra", multiple=True, type=click.Path(dir_okay=False, path_type=str))
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
def build_cmd(dataset, out, eval_sets, indexes, extra, split, allow_eval_splits, k, min_k, variants, negatives, unanswerable,
              cite, seed, base_model, retrieval_mode, doc_aware, rrf_k, candidates, reranker, bm25_korean, use_question_keys,
              config_path) -> None:
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

    flags = locals()
    cfg = load_config(DataConfig, config_path, {
        "dataset": dataset, "out": out, "eval_sets": list(eval_sets) or None, "indexes": list(indexes) or None,
        "extra": list(extra) or None, "split": split, "allow_eval_splits": allow_eval_splits, "k": k, "min_k": min_k, "variants": variants,
        "negatives": negatives, "unanswerable": unanswerable, "cite": cite, "seed": seed, "base_model": base_model,
        **retrieval_overrides("retrieval.", flags),
    })
    result = build_dataset(cfg)
    click.echo("stats " + json.dumps(result.stats, ensure_ascii=False), err=True)
    click.echo(str(result.path))


@data_group.command("generate")
@encoding_option
@config_option(GenerateConfig, "chunks", "--chunks", type=click.Path(dir_okay=False, path_type=str))
@config_option(GenerateConfig, "index", "--index", type=click.Path(file_okay=False, path_type=str))
@config_option(GenerateConfig, "generator", "--generator", metavar="BACKEND:MODEL")
@config_option(GenerateConfig, "out", "--out", type=click.Path(file_okay=False, path_type=str))
@config_option(GenerateConfig, "workers", "--workers", type=int)
@config_option(GenerateConfig, "limit", "--limit", type=int)
@config_option(GenerateConfig, "max_new_tokens", "--max-new-tokens", type=int)
@config_option(GenerateConfig, "temperature", "--temperature", type=float)
@config_option(GenerateConfig, "cache", "--cache/--no-cache")
@config_option(GenerateConfig, "cache_dir", "--cache-dir", type=click.Path(file_okay=False, path_type=str))
@config_option(GenerateConfig, "api_base", "--api-base", metavar="URL")
@config_option(GenerateConfig, "api_key_env", "--api-key-env", metavar="VAR")
@config_option(GenerateConfig, "request_timeout", "--request-timeout", type=float)
@config_option(GenerateConfig, "max_retries", "--max-retries", type=int)
@config_option(GenerateConfig, "retry_backoff", "--retry-backoff", type=float)
@config_option(GenerateConfig, "retry_max_wait", "--retry-max-wait", type=float)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings (flags override it).")
def generate_cmd(chunks, index, generator, out, workers, limit, max_new_tokens, temperature, cache, cache_dir, api_base,
                 api_key_env, request_timeout, max_retries, retry_backoff, retry_max_wait, config_path) -> None:
    """Generate question/answer pairs grounded in each policy chunk (self-instruct, the seed's way).

    Per chunk, the generator is asked for three pairs (fact, scenario, easy) in the chunk's
    language, as JSON. The reply's pairs go to OUT/generated.jsonl in the seed's fields
    (instruction, input = the clause, output, type) plus chunk_id, language and generator;
    replies that are not the asked JSON go to OUT/rejects.jsonl with the reason, never dropped.
    Chunks are split into --workers consecutive slices; 429 / 5xx / timeouts are retried with
    exponential backoff and jitter. Kill it at any point and run the same command again: it
    resumes, skipping the chunks already done, and no chunk is counted twice. The API key is
    read from --api-key-env and never written to disk or logs.

    The bundled 135M model writes poor questions (README: "Generated training data"); use a
    strong model on a server for real data.

    \b
    Example usage:
      harness data generate --index indexes/sfip --limit 20            # the bundled model, in process
      harness data generate --chunks chunked_data.jsonl --generator openai:gpt-4o-mini \\
          --api-base https://api.openai.com/v1 --workers 8 --out training/gen-openai
      harness data generate --index indexes/sfip_ko --generator openai:local \\
          --api-base http://127.0.0.1:8080/v1 --workers 2      # llama.cpp's server
    """
    from tqdm.auto import tqdm

    from harness.config import load_config
    from training.generate import run_generate

    cfg = load_config(GenerateConfig, config_path, {
        "chunks": chunks, "index": index, "generator": generator, "out": out, "workers": workers, "limit": limit,
        "max_new_tokens": max_new_tokens, "temperature": temperature, "cache": cache, "cache_dir": cache_dir,
        "api_base": api_base,
        "api_key_env": api_key_env, "request_timeout": request_timeout, "max_retries": max_retries,
        "retry_backoff": retry_backoff, "retry_max_wait": retry_max_wait})
    if not cfg.chunks and not cfg.index:
        raise InputError("give --chunks FILE or --index DIR (e.g. --index indexes/sfip)")
    result = run_generate(cfg, progress_factory=lambda total: tqdm(total=total, desc="chunks", unit="chunk",
                                                                   dynamic_ncols=True))
    tokens = sum(s.prompt_tokens + s.completion_tokens for s in result.workers.values())
    click.echo(f"{result.done}/{result.total} chunks done ({result.skipped} by earlier runs), {result.failed} failed "
               f"(rerun to retry them); {result.pairs} pairs, {result.rejects} rejected replies; "
               f"{sum(s.requests for s in result.workers.values())} requests, {result.retries} retries, "
               f"{tokens} tokens", err=True)
    for w, s in sorted(result.workers.items()):
        if s.requests:
            click.echo(f"  worker {w}: {s.requests} requests, {s.chunks} chunks, {s.failed} failed, {s.pairs} pairs, "
                       f"{s.prompt_tokens} prompt + {s.completion_tokens} completion tokens, {s.seconds:.1f} s", err=True)
    click.echo(str(Path(result.out) / "generated.jsonl"))


@data_group.command("validate")
@encoding_option
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The kept pairs, merged (JSONL).")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Rejected records with the reason per line [default: OUT's name + .rejects.jsonl].")
def validate_cmd(inputs, out, rejects) -> None:
    """Filter and merge generated Q/A pairs (the seed's validate-and-merge).

    Each record goes through: fields (instruction, input, output present), short (answer
    under 10 characters), incomplete (an answer that does not end as a sentence ends, in
    English or Korean), evasive (a non-answer such as "As an AI…" or "모르겠습니다"; the
    refusal sentence itself is kept), duplicate (the same question, case, spacing and
    punctuation ignored). Prints what each filter removed and the kept pairs per question
    type; writes the kept pairs and a rejects file with the reason and file:line per record.

    \b
    Example usage:
      harness data validate training/generated/generated.jsonl --out training/data/generated.jsonl
      harness data validate seed_qa_*.jsonl --out merged.jsonl --rejects merged.rejects.jsonl
    """
    from training.validate import format_table, validate_files

    result = validate_files(list(inputs), out, rejects)
    click.echo(format_table(result))
    click.echo(str(out))

"""`harness search`"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli import InputError, cli
from harness.cli.options import config_option, encoding_option
from harness.config import DEFAULT_INDEX, RetrievalConfig


def retrieval_options(f):
    """The retrieval flags shared by `search` and `eval`."""
    for decorator in reversed([
        config_option(RetrievalConfig, "mode", "--mode", "retrieval_mode", type=click.Choice(["dense", "bm25", "hybrid"])),
        config_option(RetrievalConfig, "doc_aware", "--doc-aware/--no-doc-aware"),
        config_option(RetrievalConfig, "rrf_k", "--rrf-k", type=int),
        config_option(RetrievalConfig, "candidates", "--candidates", type=int),
        config_option(RetrievalConfig, "reranker", "--reranker"),
        config_option(RetrievalConfig, "bm25_korean", "--bm25-korean", type=click.Choice(["bigrams", "morphemes", "both"])),
        config_option(RetrievalConfig, "question_keys", "--question-keys/--no-question-keys", "use_question_keys"),
    ]):
        f = decorator(f)
    return f


# retrieval_options' parameter names -> RetrievalConfig keys.
RETRIEVAL_KEYS = {"retrieval_mode": "mode", "doc_aware": "doc_aware", "rrf_k": "rrf_k", "candidates": "candidates",
                  "reranker": "reranker", "bm25_korean": "bm25_korean",
                  "use_question_keys": "question_keys"}


def retrieval_overrides(prefix: str, values: dict) -> dict:
    """Config overrides from the values of retrieval_options' flags (a command's parameters)."""
    return {prefix + key: values[name] for name, key in RETRIEVAL_KEYS.items()}


@cli.command("search")
@encoding_option
@click.argument("question", required=False)
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path),
              help=f"Index folder written by `harness index` [default: {DEFAULT_INDEX}; with --questions from a shipped "
                   "set, that set's own index, e.g. indexes/sfip_ko for eval_sets/sfip_ko, built on first use]")
@click.option("--k", type=int, default=5, show_default=True, help="Hits per question.")
@click.option("--questions", type=click.Path(dir_okay=False, path_type=Path),
              help="Eval-set JSONL file to search in batch (instead of QUESTION); metrics are printed when it has evidence.")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), help="With --questions: only this split.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --questions: write one JSON line per question here ({id, hits: [...]}).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--embedder", help="Refuse the index unless it was built with this embedder.")
@retrieval_options
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with retrieval settings (flags override it).")
def search_cmd(question, index_dir, k, questions, split, out, as_json, embedder, retrieval_mode, doc_aware, rrf_k,
               candidates, reranker, bm25_korean, use_question_keys, config_path) -> None:
    """Find the chunks that answer a question, with breadcrumbs and scores.

    Retrieval is dense (FAISS), BM25, or hybrid (both, fused by reciprocal rank); a question
    that names a form ("Under the General Property Form ...", "RCBAP") gets that form's chunks
    first. With --questions, searches a whole eval-set file and prints hit@k, recall@k, MRR,
    nDCG@k and top-document accuracy, overall and per category.

    \b
    Example usage:
      harness search "How long do I have to file a proof of loss under the Dwelling Form?"
      harness search "What does RCBAP coinsurance require?" --k 3 --json
      harness search --questions eval_sets/sfip/questions.jsonl --split dev --out dev_hits.jsonl
      harness search --questions eval_sets/sfip_ko/questions.jsonl --split test   # Korean: indexes/sfip_ko
      harness search --questions eval_sets/sfip/questions.jsonl --mode bm25 --no-doc-aware
    """
    from harness.config import load_config
    from harness.eval_set import load_eval_set
    from harness.io import write_jsonl
    from harness.config import default_index_for
    from retrieval.batch import search_items
    from retrieval.index import ensure_index
    from retrieval.metrics import format_report
    from retrieval.search import Retriever

    if (question is None) == (questions is None):
        raise InputError("give either a QUESTION or --questions FILE")
    cfg = load_config(RetrievalConfig, config_path, retrieval_overrides("", locals()))
    if k < 1:
        raise InputError(f"--k must be >= 1, got {k}")
    items = None
    if questions is not None:
        items = [it for it in load_eval_set(questions) if split is None or it.split == split]
        if not items:
            raise InputError(f"{questions}: no questions in split {split!r}")
    if index_dir is None:
        index_dir = Path(default_index_for(questions) if questions is not None else DEFAULT_INDEX)
        ensure_index(index_dir)
    retriever = Retriever.load(index_dir, cfg, expected_embedder=embedder)
    if items is None:
        hits = retriever.search([question], k)[0]
        if as_json:
            click.echo(json.dumps([h.to_record(with_text=True) for h in hits], ensure_ascii=False, indent=2))
            return
        for h in hits:
            sources = ", ".join(f"{name} #{rank}" for name, rank in h.sources.items())
            click.echo(f"{h.rank}. [{h.score:.4f}] {h.chunk.metadata.get('breadcrumbs') or h.chunk.document_id}  ({sources})")
            click.echo("   " + h.chunk.text[:300].replace("\n", " ") + ("…" if len(h.chunk.text) > 300 else ""))
        return
    keyed = retriever.keyed(items)
    if keyed:
        click.echo(f"warning: {len(keyed)} of these questions are question keys of this index ({', '.join(keyed[:3])}"
                   f"{', ...' if len(keyed) > 3 else ''}): their figures flatter; measure on a split the keys do not "
                   "come from", err=True)
    rows, report = search_items(retriever, items, k)
    if out is not None:
        write_jsonl(out, rows)
    if as_json:
        click.echo(json.dumps({"rows": rows if out is None else str(out), "metrics": report}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{len(rows)} questions searched in {index_dir} ({cfg.mode}, doc_aware={cfg.doc_aware}, k={k})"
               + (f"; hits written to {out}" if out else ""))
    if report:
        click.echo(format_report(report))

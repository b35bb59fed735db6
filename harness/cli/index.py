"""`harness index`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option, greedy
from harness.config import ChunkConfig, IndexConfig


@cli.command("index", cls=greedy("--corpus"))
@config_option(IndexConfig, "corpus", "--corpus", multiple=True, metavar="PATH...",
               type=click.Path(path_type=str))
@config_option(IndexConfig, "out", "--out", type=click.Path(file_okay=False, path_type=str))
@config_option(IndexConfig, "embedder", "--embedder")
@config_option(IndexConfig, "batch_size", "--batch-size", type=int)
@config_option(ChunkConfig, "max_chars", "--max-chars", type=int)
@config_option(ChunkConfig, "min_chars", "--min-chars", type=int)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings (flags override it).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
def index_cmd(corpus, out, embedder, batch_size, max_chars, min_chars, config_path, force) -> None:
    """Chunk policy documents, embed the chunks and write a FAISS index to disk.

    Each chunk keeps `document_id` (the file stem) and character offsets, with
    text == source[start:end]. The index folder holds index.faiss (FAISS's own format),
    chunks.jsonl and manifest.json (embedder, chunking, corpus hashes). Re-running on
    unchanged inputs does nothing.

    \b
    Example usage:
      harness index                                  # the bundled flood-policy corpus
      harness index --corpus my_policies/ --out indexes/mine
      harness index --corpus a.txt b.md --max-chars 800
    """
    from harness.config import load_config
    from retrieval.index import build_index

    cfg = load_config(IndexConfig, config_path, {
        "corpus": list(corpus) or None, "out": out, "embedder": embedder, "batch_size": batch_size,
        "chunking.max_chars": max_chars, "chunking.min_chars": min_chars,
    })
    result = build_index(cfg, force=force, progress=True)
    state = "built" if result.rebuilt else "up to date (inputs unchanged; --force rebuilds)"
    click.echo(f"index {state}: {result.n_chunks} chunks from {result.n_documents} documents")
    click.echo(str(result.out))

"""`harness index`"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli import cli
from harness.cli.options import config_option, greedy
from harness.config import ChunkConfig, IndexConfig


@cli.command("index", cls=greedy("--corpus", "--pattern"))
@config_option(IndexConfig, "corpus", "--corpus", multiple=True, metavar="PATH...", type=click.Path(path_type=str))
@config_option(IndexConfig, "patterns", "--pattern", "patterns", multiple=True, metavar="GLOB...")
@config_option(IndexConfig, "out", "--out", type=click.Path(file_okay=False, path_type=str))
@config_option(IndexConfig, "embedder", "--embedder")
@config_option(IndexConfig, "language_embedders", "--language-embedder", "language_embedders", multiple=True,
               metavar="LANG=NAME...")
@config_option(IndexConfig, "question_keys", "--question-keys", "question_keys", multiple=True, metavar="JSONL...",
               type=click.Path(dir_okay=False, path_type=str))
@config_option(IndexConfig, "question_keys_split", "--question-keys-split", type=click.Choice(["train", "dev", "test"]))
@config_option(IndexConfig, "batch_size", "--batch-size", type=int)
@config_option(IndexConfig, "dense_index", "--dense-index", type=click.Choice(["flat", "hnsw", "ivf"]))
@config_option(IndexConfig, "hnsw_m", "--hnsw-m", type=int)
@config_option(IndexConfig, "hnsw_ef_construction", "--hnsw-ef-construction", type=int)
@config_option(IndexConfig, "hnsw_ef_search", "--hnsw-ef-search", type=int)
@config_option(IndexConfig, "ivf_nlist", "--ivf-nlist", type=int)
@config_option(IndexConfig, "ivf_nprobe", "--ivf-nprobe", type=int)
@config_option(IndexConfig, "encoding", "--encoding", metavar="NAME")
@click.option("--repair-mojibake", "mojibake", flag_value="repair", default=None,
              help="Index ftfy's repair of files with mojibake ('Ã©', 'â€™', 'ì•½ê´€': UTF-8 once read as cp1252); "
                   "a copy of each repaired file is kept in OUT/repaired/. Files with mojibake are refused otherwise.")
@click.option("--keep-mojibake", "mojibake", flag_value="keep", help="Index files with mojibake as they are.")
@config_option(IndexConfig, "follow_symlinks", "--follow-symlinks", is_flag=True, default=None)
@config_option(ChunkConfig, "max_tokens", "--max-tokens", type=int)
@config_option(ChunkConfig, "min_tokens", "--min-tokens", type=int)
@config_option(ChunkConfig, "overlap_tokens", "--overlap-tokens", type=int)
@config_option(ChunkConfig, "context_header", "--context-header/--no-context-header")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with any of these settings, chunking under `chunking:` (flags override it).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
def index_cmd(corpus, patterns, out, embedder, language_embedders, question_keys, question_keys_split, batch_size, dense_index, hnsw_m, hnsw_ef_construction, hnsw_ef_search,
              ivf_nlist, ivf_nprobe, encoding, mojibake, follow_symlinks, max_tokens, min_tokens, overlap_tokens, context_header, config_path, force) -> None:
    """Chunk policy documents along their structure, embed the chunks and write an index.

    Chunks follow the documents' own structure (articles and headings such as `## I.
    Agreement`, `Article N`, `제N조(…)`; clauses `A.`, `1.`, `a.`, `(1)`, `①`), keep
    breadcrumbs (`Dwelling Form > V. Exclusions > C.`) and are budgeted in tokens of the
    embedder's own tokenizer. Each keeps `document_id` (the file stem) and character offsets,
    with text == source[start:end]. A `.jsonl` file in the seed's chunked_data.jsonl schema is
    taken as already chunked. The index folder holds index.faiss (FAISS's own format),
    chunks.jsonl and manifest.json; BM25 is rebuilt from chunks.jsonl on load. Re-running on
    unchanged inputs does nothing.

    Files are read as UTF-8 (a byte-order mark is skipped); a CP949/EUC-KR or UTF-16 file is
    named as such and read with `--encoding auto`. A file with mojibake (UTF-8 text once decoded
    as cp1252: `Ã©`, `ì•½ê´€`) is refused with an example of ftfy's repair; `--repair-mojibake`
    indexes the repaired text. The manifest records each document's encoding and any repair.
    A link in a corpus folder that leads outside it is refused unless `--follow-symlinks`.

    Questions in a language named by --language-embedder (default ko=multilingual-e5-small)
    are ranked by that embedder's own vectors of every chunk (index.ko.faiss): all-MiniLM reads
    English only. `--language-embedder none` leaves such questions to BM25.

    --question-keys FILE adds the train-split questions of an eval-set file as extra keys of
    the chunks their evidence overlaps (doc2query): a question in everyday words is then also
    matched against questions already asked about each clause (keys.jsonl, keys*.faiss).

    \b
    Example usage:
      harness index                                  # the bundled flood-policy corpus
      harness index --corpus my_policies/ --pattern '*.txt' '*.md' --out indexes/mine
      harness index --corpus chunked_data.jsonl --out indexes/seed
      harness index --corpus eval_sets/corpora/sfip_ko --out indexes/sfip_ko \
          --question-keys eval_sets/sfip_ko/questions.jsonl                       # Korean
      harness index --embedder multilingual-e5-small --language-embedder none  # one embedder for all
      harness index --dense-index hnsw --hnsw-ef-search 256 --max-tokens 128
      harness index --corpus scans/ --encoding auto --repair-mojibake --out indexes/scans
    """
    from harness.config import load_config
    from retrieval.index import build_index

    cfg = load_config(IndexConfig, config_path, {
        "corpus": list(corpus) or None, "patterns": list(patterns) or None, "out": out, "embedder": embedder,
        # `--language-embedder none`: every language ranked by --embedder (or BM25 alone where it cannot read).
        "language_embedders": [] if list(language_embedders) == ["none"] else (list(language_embedders) or None),
        "question_keys": list(question_keys) or None, "question_keys_split": question_keys_split,
        "batch_size": batch_size, "dense_index": dense_index, "hnsw_m": hnsw_m,
        "hnsw_ef_construction": hnsw_ef_construction, "hnsw_ef_search": hnsw_ef_search, "ivf_nlist": ivf_nlist,
        "ivf_nprobe": ivf_nprobe, "encoding": encoding, "mojibake": mojibake, "follow_symlinks": follow_symlinks,
        "chunking.max_tokens": max_tokens, "chunking.min_tokens": min_tokens,
        "chunking.overlap_tokens": overlap_tokens, "chunking.context_header": context_header,
    })
    result = build_index(cfg, force=force, progress=True)
    state = "built" if result.rebuilt else "up to date (inputs unchanged; --force rebuilds)"
    click.echo(f"index {state}: {result.n_chunks} chunks from {result.n_documents} documents")
    if result.repaired:
        click.echo(f"mojibake repaired in {len(result.repaired)} file(s): {', '.join(result.repaired)} "
                   f"(the repaired text is in {Path(result.out) / 'repaired'})")
    click.echo(str(result.out))

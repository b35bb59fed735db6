"""The index on disk: `index.faiss` (FAISS's own format), `chunks.jsonl`, `manifest.json`. No pickle."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.config import IndexConfig, to_dict
from harness.errors import HarnessError
from harness.io import atomic_write_json, read_json, read_jsonl, write_jsonl
from retrieval.chunking import Chunk, chunk_corpus
from retrieval.embed import Embedder, embedder_fingerprint, resolve_embedder

log = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
FAISS_FILE = "index.faiss"


@dataclass(frozen=True)
class IndexResult:
    out: Path
    n_chunks: int
    n_documents: int
    rebuilt: bool  # False when the inputs were unchanged and the existing index was kept


def _build_key(cfg: IndexConfig, documents: list[dict], fingerprint: str) -> dict:
    """What the index depends on; an existing index with the same key is kept as is."""
    return {
        "format_version": INDEX_FORMAT_VERSION,
        "embedder": {"name": cfg.embedder, "fingerprint": fingerprint},
        "chunking": to_dict(cfg.chunking),
        "documents": [{"document_id": d["document_id"], "sha256": d["sha256"]} for d in documents],
    }


def build_index(cfg: IndexConfig, force: bool = False, progress: bool = False) -> IndexResult:
    import faiss

    out = Path(cfg.out)
    chunks, documents = chunk_corpus(cfg.corpus, cfg.chunking)
    if not chunks:
        raise HarnessError("the corpus produced no chunks")
    fingerprint = embedder_fingerprint(resolve_embedder(cfg.embedder))
    key = _build_key(cfg, documents, fingerprint)
    manifest_path = out / MANIFEST
    if not force and manifest_path.is_file():
        try:
            old = read_json(manifest_path)
        except HarnessError:
            old = {}
        if old.get("build_key") == key and (out / FAISS_FILE).is_file() and (out / CHUNKS).is_file():
            log.info("index at %s is up to date", out)
            return IndexResult(out, old["n_chunks"], len(documents), rebuilt=False)

    embedder = Embedder(cfg.embedder)
    vectors = embedder.encode([c.text for c in chunks], batch_size=cfg.batch_size, progress=progress)
    index = faiss.IndexFlatIP(embedder.dim)
    index.add(vectors)

    manifest = {
        "format_version": INDEX_FORMAT_VERSION,
        "harness_version": __version__,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "build_key": key,
        "embedder": {"name": cfg.embedder, "path": embedder.path, "fingerprint": fingerprint,
                     "dim": embedder.dim, "normalized": True},
        "faiss": {"type": "IndexFlatIP", "metric": "inner_product"},
        "chunking": to_dict(cfg.chunking),
        "documents": documents,
        "n_chunks": len(chunks),
    }
    # Build in a sibling temp folder and swap it in, so a crash never leaves half an index.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        faiss.write_index(index, str(tmp / FAISS_FILE))
        write_jsonl(tmp / CHUNKS, [c.to_dict() for c in chunks])
        atomic_write_json(tmp / MANIFEST, manifest)
        if out.exists():
            old_dir = out.with_name(f".{out.name}.old")
            shutil.rmtree(old_dir, ignore_errors=True)
            out.rename(old_dir)
            tmp.rename(out)
            shutil.rmtree(old_dir, ignore_errors=True)
        else:
            tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return IndexResult(out, len(chunks), len(documents), rebuilt=True)


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    chunks: list[Chunk]
    faiss_index: object


def load_index(path: str | Path) -> LoadedIndex:
    import faiss

    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise HarnessError("not an index folder (no manifest.json); build one with `harness index`", path)
    manifest = read_json(manifest_path)
    if manifest.get("format_version") != INDEX_FORMAT_VERSION:
        raise HarnessError(f"index format {manifest.get('format_version')} is not {INDEX_FORMAT_VERSION}; rebuild it with `harness index --force`", path)
    chunks = [Chunk(**row) for row in read_jsonl(path / CHUNKS)]
    index = faiss.read_index(str(path / FAISS_FILE))
    if index.ntotal != len(chunks) or index.ntotal != manifest["n_chunks"]:
        raise HarnessError(f"index has {index.ntotal} vectors but {len(chunks)} chunks; rebuild it with `harness index --force`", path)
    return LoadedIndex(path, manifest, chunks, index)

"""The index on disk: `index.faiss` (FAISS's own format), `chunks.jsonl`, `manifest.json`.

No pickle. BM25 is rebuilt from chunks.jsonl on load. Re-running `harness index` on
unchanged inputs (same files, embedder weights, chunking and index settings) does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.config import IndexConfig, to_dict
from harness.errors import HarnessError
from harness.io import atomic_write_json, read_json, read_jsonl, write_jsonl
from retrieval.chunking import Chunk, chunk_corpus, corpus_files, embed_text
from retrieval.embed import Embedder, embedder_fingerprint, embedder_languages, resolve_embedder, token_counter
from retrieval.sparse import TOKENIZER_NAME

log = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
FAISS_FILE = "index.faiss"


@dataclass(frozen=True)
class IndexResult:
    out: Path
    n_chunks: int
    n_documents: int
    rebuilt: bool  # False when the inputs were unchanged and the existing index was kept


def _dense_settings(cfg: IndexConfig) -> dict:
    if cfg.dense_index == "hnsw":
        return {"type": "hnsw", "m": cfg.hnsw_m, "ef_construction": cfg.hnsw_ef_construction, "ef_search": cfg.hnsw_ef_search}
    if cfg.dense_index == "ivf":
        return {"type": "ivf", "nlist": cfg.ivf_nlist, "nprobe": cfg.ivf_nprobe}
    return {"type": "flat"}


def build_key(cfg: IndexConfig, file_hashes: list[dict], fingerprint: str) -> dict:
    """What the index depends on; an existing index with the same key is kept as is."""
    return {
        "format_version": INDEX_FORMAT_VERSION,
        "embedder": {"name": cfg.embedder, "fingerprint": fingerprint, "languages": embedder_languages(cfg.embedder)},
        "chunking": to_dict(cfg.chunking),
        "dense": _dense_settings(cfg),
        "files": file_hashes,
    }


def make_faiss_index(vectors, settings: dict):
    """A FAISS inner-product index of the given type, trained if it needs to be, with vectors added."""
    import faiss

    n, dim = vectors.shape
    kind = settings["type"]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings["ef_construction"]
    elif kind == "ivf":
        nlist = settings["nlist"] or max(1, min(n // 39, int(4 * math.sqrt(n))))
        settings["nlist"] = nlist  # record what was used
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    else:
        raise HarnessError(f"unknown dense index type {kind!r}")
    index.add(vectors)
    set_search_params(index, settings)
    return index


def set_search_params(index, settings: dict) -> None:
    if settings["type"] == "hnsw":
        index.hnsw.efSearch = settings["ef_search"]
    elif settings["type"] == "ivf":
        index.nprobe = settings["nprobe"]


def build_index(cfg: IndexConfig, force: bool = False, progress: bool = False) -> IndexResult:
    import faiss

    out = Path(cfg.out)
    files = corpus_files(cfg.corpus, cfg.patterns)
    file_hashes = []
    for f in files:
        data = f.read_bytes()
        if not data.strip():
            raise HarnessError("corpus file is empty", f)
        file_hashes.append({"path": f.name, "sha256": hashlib.sha256(data).hexdigest()})
    fingerprint = embedder_fingerprint(resolve_embedder(cfg.embedder))
    key = build_key(cfg, file_hashes, fingerprint)
    manifest_path = out / MANIFEST
    if not force and manifest_path.is_file():
        try:
            old = read_json(manifest_path)
        except HarnessError:
            old = {}
        if old.get("build_key") == key and (out / FAISS_FILE).is_file() and (out / CHUNKS).is_file():
            log.info("index at %s is up to date", out)
            return IndexResult(out, old["n_chunks"], len(old.get("documents", [])), rebuilt=False)

    count, tokenizer_name = token_counter(cfg.embedder)
    chunks, documents = chunk_corpus([str(f) for f in files], cfg.chunking, count)
    if not chunks:
        raise HarnessError("the corpus produced no chunks")
    embedder = Embedder(cfg.embedder)
    vectors = embedder.encode([embed_text(c, cfg.chunking) for c in chunks], batch_size=cfg.batch_size, progress=progress)
    dense = _dense_settings(cfg)
    index = make_faiss_index(vectors, dense)

    manifest = {
        "format_version": INDEX_FORMAT_VERSION,
        "harness_version": __version__,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "build_key": key,
        "embedder": {"name": cfg.embedder, "path": embedder.path, "fingerprint": fingerprint,
                     "dim": embedder.dim, "normalized": True, "tokenizer": tokenizer_name,
                     "languages": embedder_languages(cfg.embedder)},
        "dense": dense | {"metric": "inner_product"},
        "bm25": {"library": "bm25s", "k1": 1.5, "b": 0.75, "tokenizer": TOKENIZER_NAME},
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

    @property
    def chunking(self):
        from harness.config import ChunkConfig

        return ChunkConfig(**self.manifest["chunking"])


def load_index(path: str | Path) -> LoadedIndex:
    import faiss

    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise HarnessError("not an index folder (no manifest.json); build one with `harness index`", path)
    manifest = read_json(manifest_path)
    if manifest.get("format_version") != INDEX_FORMAT_VERSION:
        raise HarnessError(f"index format {manifest.get('format_version')} is not {INDEX_FORMAT_VERSION}; "
                           "rebuild it with `harness index --force`", path)
    chunks = [Chunk(**row) for row in read_jsonl(path / CHUNKS)]
    index = faiss.read_index(str(path / FAISS_FILE))
    if index.ntotal != len(chunks) or index.ntotal != manifest["n_chunks"]:
        raise HarnessError(f"index has {index.ntotal} vectors but {len(chunks)} chunks; rebuild it with `harness index --force`", path)
    set_search_params(index, manifest["dense"])
    return LoadedIndex(path, manifest, chunks, index)

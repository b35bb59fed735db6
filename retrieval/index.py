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
from dataclasses import dataclass, field
from pathlib import Path

from harness import __version__
from harness.config import EVAL_ONLY_SETS, SHIPPED_SETS, IndexConfig, to_dict
from harness.errors import HarnessError
from harness.encoding import using as using_encoding
from harness.io import atomic_write_json, atomic_write_text, read_json, read_jsonl, sha256_file, write_jsonl
from harness.korean import has_hangul
from retrieval.chunking import Chunk, chunk_corpus, corpus_files, embed_text
from retrieval.embed import Embedder, embedder_fingerprint, embedder_languages, resolve_embedder, token_counter
from retrieval.keys import KEYS, file_hashes as key_file_hashes, keys_file, question_keys
from retrieval.sparse import TOKENIZER_NAME

log = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
FAISS_FILE = "index.faiss"
REPAIRED_DIR = "repaired"


@dataclass(frozen=True)
class IndexResult:
    out: Path
    n_chunks: int
    n_documents: int
    rebuilt: bool  # False when the inputs were unchanged and the existing index was kept
    repaired: tuple[str, ...] = ()  # corpus files whose mojibake was repaired (copies in OUT/repaired/)


def _dense_settings(cfg: IndexConfig) -> dict:
    if cfg.dense_index == "hnsw":
        return {"type": "hnsw", "m": cfg.hnsw_m, "ef_construction": cfg.hnsw_ef_construction, "ef_search": cfg.hnsw_ef_search}
    if cfg.dense_index == "ivf":
        return {"type": "ivf", "nlist": cfg.ivf_nlist, "nprobe": cfg.ivf_nprobe}
    return {"type": "flat"}


def language_embedders(cfg: IndexConfig) -> dict[str, str]:
    """{language: embedder name} from LANG=NAME pairs, leaving out those equal to --embedder."""
    pairs = dict(p.partition("=")[::2] for p in cfg.language_embedders)
    return {lang: name for lang, name in sorted(pairs.items()) if name != cfg.embedder}


# Languages a corpus can be checked for; others always get their language embedder's vectors.
LANGUAGE_TEST = {"ko": has_hangul}


def language_file(lang: str) -> str:
    return f"index.{lang}.faiss"


def build_key(cfg: IndexConfig, file_hashes: list[dict], fingerprint: str,
              extra_fingerprints: dict[str, str] | None = None) -> dict:
    """What the index depends on; an existing index with the same key is kept as is."""
    key = {
        "format_version": INDEX_FORMAT_VERSION,
        "embedder": {"name": cfg.embedder, "fingerprint": fingerprint, "languages": embedder_languages(cfg.embedder)},
        "chunking": to_dict(cfg.chunking),
        "dense": _dense_settings(cfg),
        "files": file_hashes,
    }
    # How files are read: only when not the defaults, so indexes built before these settings stay valid.
    if (cfg.encoding, cfg.mojibake) != ("utf-8", "refuse"):
        key["reading"] = {"encoding": cfg.encoding, "mojibake": cfg.mojibake}
    if cfg.question_keys:  # likewise only when set
        key["question_keys"] = {"files": key_file_hashes(cfg.question_keys), "split": cfg.question_keys_split}
    if extra_fingerprints:  # only when set, so indexes built before per-language embedders stay valid
        key["language_embedders"] = {lang: {"name": name, "fingerprint": extra_fingerprints[name]}
                                     for lang, name in language_embedders(cfg).items()}
    return key


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


def corpus_file_hashes(cfg: IndexConfig) -> tuple[list[Path], list[dict]]:
    """The corpus files and their sha256 (part of the build key); an empty file is an error."""
    files = corpus_files(cfg.corpus, cfg.patterns, follow_symlinks=cfg.follow_symlinks)
    file_hashes = []
    for f in files:
        data = f.read_bytes()
        if not data.strip():
            raise HarnessError("corpus file is empty", f)
        file_hashes.append({"path": f.name, "sha256": hashlib.sha256(data).hexdigest()})
    return files, file_hashes


def build_index(cfg: IndexConfig, force: bool = False, progress: bool = False) -> IndexResult:
    import faiss

    out = Path(cfg.out)
    files, file_hashes = corpus_file_hashes(cfg)
    fingerprint = embedder_fingerprint(resolve_embedder(cfg.embedder))
    by_language = language_embedders(cfg)
    extra = {name: embedder_fingerprint(resolve_embedder(name)) for name in set(by_language.values())}
    key = build_key(cfg, file_hashes, fingerprint, extra)
    manifest_path = out / MANIFEST
    if not force and manifest_path.is_file():
        try:
            old = read_json(manifest_path)
        except HarnessError:
            old = {}
        if old.get("build_key") == key and (out / FAISS_FILE).is_file() and (out / CHUNKS).is_file() \
                and _intact(out, old):
            log.info("index at %s is up to date", out)
            return IndexResult(out, old["n_chunks"], len(old.get("documents", [])), rebuilt=False)

    count, tokenizer_name = token_counter(cfg.embedder)
    repaired: dict[str, str] = {}
    chunks, documents = chunk_corpus([str(f) for f in files], cfg.chunking, count, encoding=cfg.encoding,
                                     mojibake=cfg.mojibake, on_repaired=lambda f, text: repaired.__setitem__(f.name, text))
    if not chunks:
        raise HarnessError("the corpus produced no chunks")
    embedder = Embedder(cfg.embedder)
    vectors = embedder.encode([embed_text(c, cfg.chunking) for c in chunks], batch_size=cfg.batch_size, progress=progress)
    dense = _dense_settings(cfg)
    index = make_faiss_index(vectors, dense)
    # Each language embedder embeds every chunk (a question may be answered by a chunk in another
    # language); its vectors get their own FAISS index, searched for questions in that language.
    # Not for a corpus without a word of that language (the English forms need no Korean
    # vectors: building them would double the time of every English index for nothing).
    absent = [lang for lang in by_language if lang in LANGUAGE_TEST
              and not any(LANGUAGE_TEST[lang](c.text) for c in chunks)]
    for lang in absent:
        log.info("no %s text in the corpus: --language-embedder %s=%s not used", lang, lang, by_language[lang])
    by_language = {lang: name for lang, name in by_language.items() if lang not in absent}
    extra_indexes, extra_specs = {}, {}
    for lang, name in by_language.items():
        other = Embedder(name)
        vecs = other.encode([embed_text(c, cfg.chunking) for c in chunks], batch_size=cfg.batch_size, progress=progress)
        extra_indexes[lang] = make_faiss_index(vecs, dict(dense))
        extra_specs[lang] = {"name": name, "path": other.path, "fingerprint": extra[name], "dim": other.dim,
                             "normalized": True, "file": language_file(lang), "languages": embedder_languages(name)}

    # Question keys: embedded as queries (they are questions) by every embedder, flat indexes
    # (there are few of them).
    with using_encoding(cfg.encoding):  # the question-key files are read as eval sets
        keys = question_keys(cfg.question_keys, cfg.question_keys_split, chunks) if cfg.question_keys else []
    key_indexes = {}
    if keys:
        texts = [k["text"] for k in keys]
        key_indexes[None] = make_faiss_index(embedder.encode(texts, batch_size=cfg.batch_size, kind="query"), {"type": "flat"})
        for lang, name in by_language.items():
            key_indexes[lang] = make_faiss_index(Embedder(name).encode(texts, batch_size=cfg.batch_size, kind="query"),
                                                 {"type": "flat"})

    manifest = {
        "format_version": INDEX_FORMAT_VERSION,
        "harness_version": __version__,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "build_key": key,
        "embedder": {"name": cfg.embedder, "path": embedder.path, "fingerprint": fingerprint,
                     "dim": embedder.dim, "normalized": True, "tokenizer": tokenizer_name,
                     "languages": embedder_languages(cfg.embedder)},
        "language_embedders": extra_specs,
        "dense": dense | {"metric": "inner_product"},
        "bm25": {"library": "bm25s", "k1": 1.5, "b": 0.75, "tokenizer": TOKENIZER_NAME},
        "chunking": to_dict(cfg.chunking),
        "reading": {"encoding": cfg.encoding, "mojibake": cfg.mojibake, "follow_symlinks": cfg.follow_symlinks},
        "documents": documents,
        "n_chunks": len(chunks),
    }
    if keys:
        manifest["question_keys"] = key["question_keys"] | {"n_keys": len(keys), "n_questions": len({k["id"] for k in keys})}
    # Build in a sibling temp folder and swap it in, so a crash never leaves half an index.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        faiss.write_index(index, str(tmp / FAISS_FILE))
        for lang, extra_index in extra_indexes.items():
            faiss.write_index(extra_index, str(tmp / language_file(lang)))
        write_jsonl(tmp / CHUNKS, [c.to_dict() for c in chunks])
        for lang, key_index in key_indexes.items():
            faiss.write_index(key_index, str(tmp / keys_file(lang)))
        if keys:
            write_jsonl(tmp / KEYS, keys)
        for name, text in repaired.items():  # the repaired text, for the user to read and keep
            atomic_write_text(tmp / REPAIRED_DIR / name, text)
        # What every file held when it was written: load_index refuses an index whose files
        # were edited or swapped since (search results would silently come from other data).
        manifest["integrity"] = {f.relative_to(tmp).as_posix(): sha256_file(f)
                                 for f in sorted(tmp.rglob("*")) if f.is_file() and f.name != MANIFEST}
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
    return IndexResult(out, len(chunks), len(documents), rebuilt=True, repaired=tuple(sorted(repaired)))


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    chunks: list[Chunk]
    faiss_index: object
    language_indexes: dict = field(default_factory=dict)  # language -> FAISS index of its own embedder
    keys: list = field(default_factory=list)  # question keys: {"id", "text", "chunk"}
    key_indexes: dict = field(default_factory=dict)  # None (main embedder) or language -> FAISS index of the keys

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
    if not isinstance(manifest, dict) or manifest.get("format_version") != INDEX_FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise HarnessError(f"index format {version} is not {INDEX_FORMAT_VERSION}; "
                           "rebuild it with `harness index --force`", path)
    verify_integrity(path, manifest)
    chunks = [Chunk(**row) for row in read_jsonl(path / CHUNKS)]
    index = faiss.read_index(str(path / FAISS_FILE))
    if index.ntotal != len(chunks) or index.ntotal != manifest["n_chunks"]:
        raise HarnessError(f"index has {index.ntotal} vectors but {len(chunks)} chunks; rebuild it with `harness index --force`", path)
    set_search_params(index, manifest["dense"])
    extra = {}
    for lang, spec in (manifest.get("language_embedders") or {}).items():
        file = path / spec["file"]
        if not file.is_file():
            raise HarnessError(f"index names {spec['file']} for {lang} questions but the file is missing; "
                               "rebuild it with `harness index --force`", path)
        extra[lang] = faiss.read_index(str(file))
        if extra[lang].ntotal != len(chunks):
            raise HarnessError(f"{spec['file']} has {extra[lang].ntotal} vectors but there are {len(chunks)} chunks; "
                               "rebuild it with `harness index --force`", path)
        set_search_params(extra[lang], manifest["dense"])
    keys, key_indexes = [], {}
    if manifest.get("question_keys"):
        keys = list(read_jsonl(path / KEYS))
        for lang in [None, *extra]:
            file = path / keys_file(lang)
            if not file.is_file():
                raise HarnessError(f"index has question keys but {file.name} is missing; rebuild it with `harness index --force`", path)
            key_indexes[lang] = faiss.read_index(str(file))
            if key_indexes[lang].ntotal != len(keys) or any(not 0 <= k["chunk"] < len(chunks) for k in keys):
                raise HarnessError(f"{file.name} does not match {KEYS}; rebuild it with `harness index --force`", path)
    return LoadedIndex(path, manifest, chunks, index, extra, keys, key_indexes)


def verify_integrity(path: Path, manifest: dict) -> None:
    """Every file the manifest lists has the hash it had when the index was written."""
    integrity = manifest.get("integrity")
    if integrity is None:
        log.warning("index %s was built before integrity hashes; rebuild it with `harness index --force` "
                    "so that edits to its files are detected", path)
        return
    if not isinstance(integrity, dict):
        raise HarnessError("manifest.json: 'integrity' is not a mapping; rebuild with `harness index --force`", path)
    for name, digest in integrity.items():
        file = path / name
        if not isinstance(name, str) or ".." in Path(name).parts or Path(name).is_absolute():
            raise HarnessError(f"manifest.json names {name!r}, outside the index folder; rebuild with "
                               "`harness index --force`", path)
        if not file.is_file():
            raise HarnessError(f"{name} is missing; rebuild the index with `harness index --force`", path)
        if sha256_file(file) != digest:
            raise HarnessError(f"{name} was changed after the index was built (its sha256 differs from "
                               "manifest.json); rebuild it with `harness index --force`", path)
    for required in (CHUNKS, FAISS_FILE):
        if required not in integrity:
            raise HarnessError(f"manifest.json has no hash for {required}; rebuild with `harness index --force`", path)


def _intact(path: Path, manifest: dict) -> bool:
    try:
        verify_integrity(path, manifest)
        return True
    except HarnessError as e:
        log.warning("rebuilding %s: %s", path, e.message)
        return False


def ensure_index(index: str | Path) -> None:
    """Build one of the shipped sets' indexes from its shipped corpus when it is missing, so
    that `harness eval`, `search` and `data build` work on a fresh checkout; any other index
    must exist."""
    if (Path(index) / MANIFEST).is_file():
        return
    # The measurement-only sets too (EVAL_ONLY_SETS: indexes/injection).
    corpus = next((c for i, c in [*SHIPPED_SETS.values(), *EVAL_ONLY_SETS.values()] if Path(i) == Path(index)), None)
    if corpus is None:
        raise HarnessError(f"not an index folder (no manifest.json); build one with "
                           f"`harness index --corpus YOUR_CORPUS --out {index}`", index)
    log.warning("building the missing index %s from %s", index, corpus)
    build_index(IndexConfig(corpus=(corpus,), out=str(index)))

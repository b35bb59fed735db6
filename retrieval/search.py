"""Search an index: dense (FAISS), BM25, or both fused by reciprocal rank fusion; then, when
the question names a document, that document's chunks first; then an optional re-ranker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from harness.config import RetrievalConfig
from harness.errors import HarnessError
from harness.registry import Registry
from retrieval.chunking import Chunk, embed_text
from retrieval.embed import Embedder, embedder_fingerprint, resolve_embedder
from retrieval.index import LoadedIndex, load_index
from retrieval.keys import first_per_chunk, merge_by_rank
from retrieval.sparse import BM25Index


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int  # 1-based
    sources: dict = field(default_factory=dict)  # {"dense": rank, "bm25": rank} before fusion

    def to_record(self, with_text: bool = False) -> dict:
        """What a results file keeps of a hit: enough to find the clause again."""
        record = {"chunk_id": self.chunk.chunk_id, "document_id": self.chunk.document_id,
                  "start": self.chunk.start, "end": self.chunk.end, "score": round(self.score, 6),
                  "rank": self.rank, "breadcrumbs": self.chunk.metadata.get("breadcrumbs", "")}
        if with_text:
            record["text"] = self.chunk.text
        return record


# A re-ranker takes the question and the fused hits and returns them in a new order.
Reranker = Callable[[str, list[Hit]], list[Hit]]
reranker_registry: Registry[Callable[[str], Reranker]] = Registry("reranker")


def cross_encoder_reranker(path: str) -> Reranker:
    """A sentence-transformers CrossEncoder from a local folder (safetensors weights)."""
    from sentence_transformers import CrossEncoder

    if not Path(path).is_dir():
        raise HarnessError(f"cross-encoder folder not found: {path}")
    model = CrossEncoder(path, trust_remote_code=False)

    def rerank(question: str, hits: list[Hit]) -> list[Hit]:
        scores = model.predict([(question, h.chunk.text) for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -float(scores[i]))
        return [Hit(hits[i].chunk, float(scores[i]), 0, hits[i].sources) for i in order]

    return rerank


reranker_registry.register("cross-encoder", cross_encoder_reranker)


def make_reranker(spec: str) -> Reranker | None:
    """'' -> None; 'name:arg' -> the registered factory called with arg."""
    if not spec:
        return None
    name, _, arg = spec.partition(":")
    return reranker_registry.get(name)(arg)


def document_aliases(documents: Sequence[dict]) -> dict[str, list[str]]:
    """Names by which a question may point at a document: its title ("General Property Form"),
    the title without a final "Form"/"Policy" when that leaves two or more words ("General
    Property"), and the acronym of a long title ("RCBAP")."""
    aliases: dict[str, list[str]] = {}
    for doc in documents:
        title = str(doc.get("title") or "").strip()
        names = {title} if title and title != doc["document_id"] else set()
        short = re.sub(r"\s+(Form|Policy)$", "", title)
        if short != title and len(short.split()) >= 2:
            names.add(short)
        words = [w for w in re.findall(r"[A-Za-z]+", title) if w[0].isupper()]
        if len(words) >= 4:
            names.add("".join(w[0] for w in words))
        aliases[doc["document_id"]] = sorted(names, key=len, reverse=True)
    return aliases


_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_LETTER = re.compile(r"[^\W\d_]")


def query_language(text: str) -> str:
    """'ko' when at least a third of the letters are Hangul, else 'en'."""
    letters = _LETTER.findall(text)
    hangul = sum(1 for ch in letters if _HANGUL.match(ch))
    return "ko" if letters and hangul * 3 >= len(letters) else "en"


def mentioned_documents(question: str, aliases: dict[str, list[str]]) -> set[str]:
    found = set()
    for doc_id, names in aliases.items():
        for name in names:
            flags = 0 if name.isupper() else re.IGNORECASE  # acronyms match case-sensitively
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", question, flags):
                found.add(doc_id)
                break
    return found


class Retriever:
    def __init__(self, index: LoadedIndex, config: RetrievalConfig | None = None, embedder: Embedder | None = None,
                 expected_embedder: str | None = None):
        self.index = index
        self.config = config or RetrievalConfig()
        spec = index.manifest["embedder"]
        if expected_embedder and expected_embedder != spec["name"]:
            raise HarnessError(f"index was built with embedder {spec['name']!r}, not {expected_embedder!r}; "
                               f"rebuild it with `harness index --embedder {expected_embedder} --force`", index.path)
        self._embedder = embedder
        self._language_embedders: dict[str, Embedder] = {}
        self._bm25: BM25Index | None = None
        self._keys_bm25: BM25Index | None = None
        self._texts = [embed_text(c, index.chunking) for c in index.chunks]
        self._position = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self.aliases = document_aliases(index.manifest.get("documents", []))
        self.reranker = make_reranker(self.config.reranker)

    @classmethod
    def load(cls, path: str | Path, config: RetrievalConfig | None = None, expected_embedder: str | None = None) -> "Retriever":
        return cls(load_index(path), config, expected_embedder=expected_embedder)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._load_embedder(self.index.manifest["embedder"])
        return self._embedder

    def _load_embedder(self, spec: dict) -> Embedder:
        """The embedder an index was built with, refused if its name now means other weights."""
        fingerprint = embedder_fingerprint(resolve_embedder(spec["name"]))
        if fingerprint != spec["fingerprint"]:
            raise HarnessError(
                f"index was built with embedder {spec['name']!r} ({spec['fingerprint']}) but that name now "
                f"resolves to different weights ({fingerprint}); rebuild with `harness index --force`", self.index.path)
        embedder = Embedder(spec["name"])
        if embedder.dim != spec["dim"]:
            raise HarnessError(f"index has {spec['dim']}-d vectors but embedder {spec['name']!r} gives {embedder.dim}-d",
                               self.index.path)
        return embedder

    def language_embedder(self, lang: str) -> Embedder:
        if lang not in self._language_embedders:
            self._language_embedders[lang] = self._load_embedder(self.index.manifest["language_embedders"][lang])
        return self._language_embedders[lang]

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            params = self.index.manifest.get("bm25", {})
            self._bm25 = BM25Index(self._texts, k1=params.get("k1", 1.5), b=params.get("b", 0.75),
                                   korean=self.config.bm25_korean)
        return self._bm25

    @property
    def keys_bm25(self) -> BM25Index:
        if self._keys_bm25 is None:
            params = self.index.manifest.get("bm25", {})
            self._keys_bm25 = BM25Index([k["text"] for k in self.index.keys], k1=params.get("k1", 1.5),
                                        b=params.get("b", 0.75), korean=self.config.bm25_korean)
        return self._keys_bm25

    @property
    def use_keys(self) -> bool:
        return self.config.question_keys and bool(self.index.keys)

    def keyed(self, items: Sequence) -> list[str]:
        """Ids of `items` that are themselves question keys of this index: retrieval figures on
        them flatter (the answer key is in the index)."""
        ids = {k["id"] for k in self.index.keys} if self.use_keys else set()
        return [it.id for it in items if it.id in ids]

    def _dense(self, queries: list[str], depth: int, readable_only: bool = False,
               keys: bool = False) -> list[list[tuple[int, float]]]:
        """Each query ranked by the embedder for its language: the index's language embedder when
        it has one (index.ko.faiss), else the main one; with readable_only, [] where the main one
        cannot read the query's language. With keys, the question keys are ranked instead, each
        hit given as its chunk."""
        languages = self.index.manifest["embedder"].get("languages")
        groups: dict[str | None, list[int]] = {}
        for i, q in enumerate(queries):
            lang = query_language(q)
            if lang in self.index.language_indexes:
                groups.setdefault(lang, []).append(i)
            elif not readable_only or not languages or lang in languages:
                groups.setdefault(None, []).append(i)
        out: list[list[tuple[int, float]]] = [[] for _ in queries]
        for lang, idx in groups.items():
            embedder = self.embedder if lang is None else self.language_embedder(lang)
            if keys:
                faiss_index, n = self.index.key_indexes[lang], len(self.index.keys)
            else:
                faiss_index = self.index.faiss_index if lang is None else self.index.language_indexes[lang]
                n = len(self.index.chunks)
            vecs = embedder.encode([queries[i] for i in idx], kind="query")
            scores, ids = faiss_index.search(vecs, min(depth, n))
            for i, rs, ri in zip(idx, scores, ids):
                out[i] = [(int(c), float(sc)) for sc, c in zip(rs, ri) if c >= 0]
                if keys:
                    out[i] = first_per_chunk(out[i], self.index.keys)
        return out

    def search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        cfg = self.config
        depth = max(cfg.candidates, k, cfg.rerank_depth if self.reranker else 0)
        # Each ranking: {name: [(chunk position, score), ...] per query}. An embedder cannot rank
        # text in a language it never read (all-MiniLM-L6-v2 on Korean is noise that drowns BM25
        # in the fusion): _dense leaves such queries to BM25 alone.
        rankings: dict[str, list[list[tuple[int, float]]]] = {}
        via_keys: dict[str, list[dict[int, int]]] = {}  # ranking -> per query {chunk: rank of its best key}
        readable_only = cfg.mode == "hybrid"
        if cfg.mode in ("dense", "hybrid"):
            rankings["dense"] = self._dense(queries, depth, readable_only)
            if self.use_keys:
                self._merge_keys("dense", rankings, via_keys, self._dense(queries, depth, readable_only, keys=True), depth)
        if cfg.mode in ("bm25", "hybrid"):
            rankings["bm25"] = [self.bm25.search(q, depth) for q in queries]
            if self.use_keys:
                # Keys are few and short: take more of them so that `depth` chunks remain.
                keyed = [first_per_chunk(self.keys_bm25.search(q, depth * 4), self.index.keys)[:depth] for q in queries]
                self._merge_keys("bm25", rankings, via_keys, keyed, depth)
        results = []
        for qi, question in enumerate(queries):
            fused = self._fuse({name: ranked[qi] for name, ranked in rankings.items()})
            for name, per_query in via_keys.items():  # say which hits a key found, and at what rank
                for h in fused:
                    rank = per_query[qi].get(self._position[h.chunk.chunk_id])
                    if rank:
                        h.sources[name + "-keys"] = rank
            if cfg.doc_aware:
                preferred = mentioned_documents(question, self.aliases)
                if preferred:
                    # A stable partition: the named documents' chunks first, in fused order.
                    fused = [h for h in fused if h.chunk.document_id in preferred] + \
                            [h for h in fused if h.chunk.document_id not in preferred]
            if self.reranker:
                head = self.reranker(question, fused[: cfg.rerank_depth])
                fused = head + fused[cfg.rerank_depth:]
            results.append([Hit(h.chunk, h.score, r, h.sources) for r, h in enumerate(fused[:k], start=1)])
        return results

    @staticmethod
    def _merge_keys(name: str, rankings: dict, via_keys: dict, keyed: list, depth: int) -> None:
        """rankings[name] becomes each chunk at the better of its own rank and its keys' rank."""
        merged = [merge_by_rank(own, k)[:depth] for own, k in zip(rankings[name], keyed)]
        rankings[name] = [[(i, s) for i, s, _ in m] for m in merged]
        via_keys[name] = [{i: r["keys"] for i, _, r in m if "keys" in r} for m in merged]

    def _fuse(self, rankings: dict[str, list[tuple[int, float]]]) -> list[Hit]:
        """One ranking as it is (its own scores); several by reciprocal rank fusion."""
        chunks = self.index.chunks
        present = {name: hits for name, hits in rankings.items() if hits}
        if len(present) <= 1:
            name, hits = next(iter(present.items()), ("dense", []))
            return [Hit(chunks[i], s, 0, {name: r}) for r, (i, s) in enumerate(hits, start=1)]
        scores: dict[int, float] = {}
        sources: dict[int, dict] = {}
        for name, hits in present.items():
            for r, (i, _) in enumerate(hits, start=1):
                scores[i] = scores.get(i, 0.0) + 1.0 / (self.config.rrf_k + r)
                sources.setdefault(i, {})[name] = r
        order = sorted(scores, key=lambda i: (-scores[i], i))
        return [Hit(chunks[i], scores[i], 0, sources[i]) for i in order]

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
        self._bm25: BM25Index | None = None
        self._texts = [embed_text(c, index.chunking) for c in index.chunks]
        self.aliases = document_aliases(index.manifest.get("documents", []))
        self.reranker = make_reranker(self.config.reranker)

    @classmethod
    def load(cls, path: str | Path, config: RetrievalConfig | None = None, expected_embedder: str | None = None) -> "Retriever":
        return cls(load_index(path), config, expected_embedder=expected_embedder)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            spec = self.index.manifest["embedder"]
            fingerprint = embedder_fingerprint(resolve_embedder(spec["name"]))
            if fingerprint != spec["fingerprint"]:
                raise HarnessError(
                    f"index was built with embedder {spec['name']!r} ({spec['fingerprint']}) but that name now "
                    f"resolves to different weights ({fingerprint}); rebuild with `harness index --force`", self.index.path)
            embedder = Embedder(spec["name"])
            if embedder.dim != spec["dim"]:
                raise HarnessError(f"index has {spec['dim']}-d vectors but embedder {spec['name']!r} gives {embedder.dim}-d",
                                   self.index.path)
            self._embedder = embedder
        return self._embedder

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            params = self.index.manifest.get("bm25", {})
            self._bm25 = BM25Index(self._texts, k1=params.get("k1", 1.5), b=params.get("b", 0.75))
        return self._bm25

    def _dense(self, queries: list[str], depth: int) -> list[list[tuple[int, float]]]:
        vecs = self.embedder.encode(queries)
        scores, ids = self.index.faiss_index.search(vecs, min(depth, len(self.index.chunks)))
        return [[(int(i), float(s)) for s, i in zip(rs, ri) if i >= 0] for rs, ri in zip(scores, ids)]

    def search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        cfg = self.config
        depth = max(cfg.candidates, k, cfg.rerank_depth if self.reranker else 0)
        dense = self._dense(queries, depth) if cfg.mode in ("dense", "hybrid") else [[] for _ in queries]
        sparse = [self.bm25.search(q, depth) for q in queries] if cfg.mode in ("bm25", "hybrid") else [[] for _ in queries]
        languages = self.index.manifest["embedder"].get("languages")
        if cfg.mode == "hybrid" and languages:
            # An embedder cannot rank text in a language it never read (all-MiniLM-L6-v2 on
            # Korean is noise that drowns BM25 in the fusion): such queries use BM25 alone.
            dense = [d if query_language(q) in languages else [] for q, d in zip(queries, dense)]
        results = []
        for question, d_hits, s_hits in zip(queries, dense, sparse):
            fused = self._fuse(d_hits, s_hits)
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

    def _fuse(self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]) -> list[Hit]:
        chunks = self.index.chunks
        if not sparse:
            return [Hit(chunks[i], s, 0, {"dense": r}) for r, (i, s) in enumerate(dense, start=1)]
        if not dense:
            return [Hit(chunks[i], s, 0, {"bm25": r}) for r, (i, s) in enumerate(sparse, start=1)]
        scores: dict[int, float] = {}
        sources: dict[int, dict] = {}
        for name, hits in (("dense", dense), ("bm25", sparse)):
            for r, (i, _) in enumerate(hits, start=1):
                scores[i] = scores.get(i, 0.0) + 1.0 / (self.config.rrf_k + r)
                sources.setdefault(i, {})[name] = r
        order = sorted(scores, key=lambda i: (-scores[i], i))
        return [Hit(chunks[i], scores[i], 0, sources[i]) for i in order]

"""Top-k dense search over a loaded index, with the query embedded by the index's own embedder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from retrieval.chunking import Chunk
from retrieval.embed import Embedder, embedder_fingerprint, resolve_embedder
from retrieval.index import LoadedIndex, load_index


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int  # 1-based

    def to_record(self) -> dict:
        """What a results file keeps of a hit: enough to find the clause again, not the whole text."""
        return {"chunk_id": self.chunk.chunk_id, "document_id": self.chunk.document_id,
                "start": self.chunk.start, "end": self.chunk.end, "score": round(self.score, 6),
                "rank": self.rank, "breadcrumbs": self.chunk.metadata.get("breadcrumbs", "")}


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder | None = None):
        self.index = index
        spec = index.manifest["embedder"]
        if embedder is None:
            fingerprint = embedder_fingerprint(resolve_embedder(spec["name"]))
            if fingerprint != spec["fingerprint"]:
                raise HarnessError(
                    f"index was built with embedder {spec['name']!r} ({spec['fingerprint']}) but that name now "
                    f"resolves to different weights ({fingerprint}); rebuild with `harness index --force`", index.path)
            embedder = Embedder(spec["name"])
        if embedder.dim != spec["dim"]:
            raise HarnessError(f"index has {spec['dim']}-d vectors but embedder {embedder.name!r} gives {embedder.dim}-d", index.path)
        self.embedder = embedder

    @classmethod
    def load(cls, path: str | Path) -> "Retriever":
        return cls(load_index(path))

    def search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        vecs = self.embedder.encode(queries)
        scores, ids = self.index.faiss_index.search(vecs, min(k, len(self.index.chunks)))
        return [[Hit(self.index.chunks[i], float(s), r + 1) for r, (s, i) in enumerate(zip(row_s, row_i)) if i >= 0]
                for row_s, row_i in zip(scores, ids)]

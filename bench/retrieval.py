"""Retrieval speed, measured side by side in one run.

    python bench/retrieval.py [--sizes 10000,100000] [--queries 500]

Prints, for synthetic unit vectors of the default embedder's width (384):
- build throughput (vectors/s) of flat and HNSW indexes, and the embedder's own passage
  throughput on real policy chunks (the usual bottleneck of `harness index`);
- query latency p50/p95 (one query at a time) for flat vs HNSW;
- HNSW recall@10 against the exact (flat) result at three efSearch values, and the p50
  speed-up ratio over flat (HNSW is built once with M=32, efConstruction=200).
Synthetic vectors are clustered, like real embeddings, so HNSW recall is not flattered.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.index import make_faiss_index  # noqa: E402

DIM = 384


def synthetic(n: int, rng: np.random.Generator, clusters: int = 200) -> np.ndarray:
    centers = rng.standard_normal((clusters, DIM)).astype("float32")
    x = centers[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, DIM)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x)


def latencies(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    times, ids = [], []
    for q in queries:
        t = time.perf_counter()
        _, i = index.search(q[None, :], k)
        times.append(time.perf_counter() - t)
        ids.append(i[0])
    return np.array(times) * 1000, np.array(ids)


def embedder_throughput(n: int = 64) -> float:
    from harness.config import ChunkConfig
    from retrieval.chunking import chunk_corpus, embed_text
    from retrieval.embed import Embedder

    chunks, _ = chunk_corpus(["eval_sets/corpora/sfip"])
    texts = [embed_text(c, ChunkConfig()) for c in chunks[:n]]
    embedder = Embedder("all-minilm-l6-v2")
    embedder.encode(texts[:8])  # warm-up
    t = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--no-embedder", action="store_true", help="skip the embedder throughput line")
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(1)  # per-query latency, as one request at a time sees it
    rng = np.random.default_rng(0)
    if not args.no_embedder:
        print(f"embedder all-MiniLM-L6-v2 on policy chunks: {embedder_throughput():.1f} passages/s (fp32, CPU)")
    print(f"{'n':>8} {'index':>10} {'build vec/s':>12} {'p50 ms':>8} {'p95 ms':>8} {'recall@' + str(args.k):>10} {'speed-up p50':>13}")
    for n in map(int, args.sizes.split(",")):
        data = synthetic(n, rng)
        queries = synthetic(args.queries, rng)
        t = time.perf_counter()
        flat = make_faiss_index(data, {"type": "flat"})
        flat_build = n / (time.perf_counter() - t)
        flat_ms, exact = latencies(flat, queries, args.k)
        settings = {"type": "hnsw", "m": 32, "ef_construction": 200, "ef_search": 128}
        t = time.perf_counter()
        hnsw = make_faiss_index(data, settings)
        hnsw_build = n / (time.perf_counter() - t)
        p50f, p95f = np.percentile(flat_ms, [50, 95])
        print(f"{n:>8} {'flat':>10} {flat_build:>12.0f} {p50f:>8.3f} {p95f:>8.3f} {1.0:>10.3f} {1.0:>13.2f}")
        for ef in (32, 128, 512):  # the search-time trade-off, on one built graph
            hnsw.hnsw.efSearch = ef
            hnsw_ms, approx = latencies(hnsw, queries, args.k)
            recall = np.mean([len(set(a) & set(e)) / args.k for a, e in zip(approx, exact)])
            p50h, p95h = np.percentile(hnsw_ms, [50, 95])
            name = f"hnsw ef{ef}"
            print(f"{n:>8} {name:>10} {hnsw_build:>12.0f} {p50h:>8.3f} {p95h:>8.3f} {recall:>10.3f} {p50f / p50h:>13.2f}")


if __name__ == "__main__":
    main()

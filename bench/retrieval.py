"""Retrieval speed, measured side by side in one run.

    python bench/retrieval.py [--sizes 10000,100000] [--queries 500]

Prints, for synthetic unit vectors of the default embedder's width (384):
- build throughput (vectors/s) of flat and HNSW indexes, and the embedder's own passage
  throughput on real policy chunks (the usual bottleneck of `harness index`);
- query latency p50/p95 (one query at a time) for flat vs HNSW;
- HNSW recall@10 against the exact (flat) result at three efSearch values, and the p50
  speed-up ratio over flat (HNSW is built once with M=32, efConstruction=200).
Synthetic vectors are clustered, like real embeddings, so HNSW recall is not flattered.
- a whole query, one at a time, as `harness search` runs it: the question embedded by each
  bundled embedder (English questions by all-MiniLM, Korean by multilingual-e5-small, the
  shipped defaults), then exact search over 10,000 vectors of that embedder's width, p50/p95.
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


EN_QUESTIONS = ["How many days after the loss must the proof of loss be sent?",
                "Does the Dwelling Form cover a detached garage?",
                "What is the special limit for jewelry and watches?",
                "Is mold damage covered if I could have avoided it?"]
KO_QUESTIONS = ["손해증명서는 손해 발생일부터 며칠 이내에 제출해야 합니까?",
                "집이 물에 잠겼는데 서류는 언제까지 내야 하죠?",
                "지하실 벽에 핀 곰팡이도 보상받을 수 있나요?",
                "독립된 차고는 주택 보상한도액의 몇 퍼센트까지 보상됩니까?"]


def whole_queries(rounds: int = 50, n: int = 10_000) -> None:
    """Embed one question, then search n vectors exactly: what one `harness search` query costs."""
    from retrieval.embed import Embedder

    rng = np.random.default_rng(1)
    print(f"\nwhole query (embed the question + exact search over {n:,} vectors), one at a time:")
    print(f"{'embedder':>24} {'questions':>10} {'embed p50 ms':>13} {'total p50 ms':>13} {'total p95 ms':>13}")
    for name, questions in (("all-minilm-l6-v2", EN_QUESTIONS), ("multilingual-e5-small", KO_QUESTIONS),
                            ("use-multilingual", KO_QUESTIONS)):
        embedder = Embedder(name)
        index = make_faiss_index(synthetic_dim(n, embedder.dim, rng), {"type": "flat"})
        embedder.encode(questions[:1], kind="query")  # warm-up
        embed_ms, total_ms = [], []
        for i in range(rounds):
            q = questions[i % len(questions)]
            t = time.perf_counter()
            vec = embedder.encode([q], kind="query")
            t_embed = time.perf_counter()
            index.search(vec, 10)
            done = time.perf_counter()
            embed_ms.append((t_embed - t) * 1000)
            total_ms.append((done - t) * 1000)
        lang = "English" if questions is EN_QUESTIONS else "Korean"
        p50t, p95t = np.percentile(total_ms, [50, 95])
        print(f"{name:>24} {lang:>10} {np.percentile(embed_ms, 50):>13.2f} {p50t:>13.2f} {p95t:>13.2f}", flush=True)


def synthetic_dim(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype("float32")
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True))


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
    if not args.no_embedder:
        whole_queries()


if __name__ == "__main__":
    main()

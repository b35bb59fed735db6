"""Retrieval quality on the eval set: chunking x retriever grid on dev, then the chosen
setting once on test.

    python bench/retrieval_quality.py [--questions eval_sets/sfip/questions.jsonl] [--k 5]

Prints markdown tables: (1) chunk size x context header with the hybrid + document-aware
retriever on dev; (2) the four retrievers (dense, BM25, hybrid, hybrid + document-aware) on
dev with the best chunking; (3) the chosen setting on test. Settings are chosen on dev only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import ChunkConfig, IndexConfig, RetrievalConfig  # noqa: E402
from harness.eval_set import load_eval_set  # noqa: E402
from retrieval.index import build_index, load_index  # noqa: E402
from retrieval.metrics import evaluate_hits  # noqa: E402
from retrieval.search import Retriever  # noqa: E402

RETRIEVERS = {
    "dense": RetrievalConfig(mode="dense", doc_aware=False),
    "BM25": RetrievalConfig(mode="bm25", doc_aware=False),
    "hybrid": RetrievalConfig(mode="hybrid", doc_aware=False),
    "hybrid + document-aware": RetrievalConfig(mode="hybrid", doc_aware=True),
}


def score(index_dir: Path, cfg: RetrievalConfig, items, k: int, embedder=None) -> dict:
    retriever = Retriever(load_index(index_dir), cfg, embedder=embedder)
    hits = retriever.search([it.question for it in items], k)
    return evaluate_hits(items, hits, retriever.index.chunks, k), retriever.embedder


def row(name: str, m: dict) -> str:
    return f"| {name} | {m['n']} | {m['hit_at_k']:.3f} | {m['recall_at_k']:.3f} | {m['mrr']:.3f} | {m['ndcg_at_k']:.3f} | {m['top_doc_acc']:.3f} |"


def header(first: str, k: int) -> str:
    return f"| {first} | n | hit@{k} | recall@{k} | MRR | nDCG@{k} | top-doc acc |\n|---|---:|---:|---:|---:|---:|---:|"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default="eval_sets/sfip/questions.jsonl")
    ap.add_argument("--corpus", default="eval_sets/corpora/sfip")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--sizes", default="128,192,256")
    args = ap.parse_args()
    items = load_eval_set(args.questions)
    dev = [it for it in items if it.split == "dev"]
    test = [it for it in items if it.split == "test"]
    work = Path(tempfile.mkdtemp(prefix="retrieval-quality-"))
    embedder = None
    results = {}
    print(f"## Chunking on dev (hybrid + document-aware, k = {args.k})\n")
    print(header("max_tokens / header", args.k))
    for size in map(int, args.sizes.split(",")):
        for ctx in (True, False):
            chunking = ChunkConfig(max_tokens=size, min_tokens=min(48, size // 4), overlap_tokens=min(32, size // 4 - 1),
                                   context_header=ctx)
            out = work / f"idx-{size}-{int(ctx)}"
            t = time.perf_counter()
            build_index(IndexConfig(corpus=(args.corpus,), out=str(out), chunking=chunking))
            m, embedder = score(out, RETRIEVERS["hybrid + document-aware"], dev, args.k, embedder)
            results[(size, ctx)] = (out, m)
            print(row(f"{size} / {'on' if ctx else 'off'} ({time.perf_counter() - t:.0f} s)", m), flush=True)
    best_chunking = max(results, key=lambda key: (results[key][1]["hit_at_k"], results[key][1]["mrr"]))
    index_dir = results[best_chunking][0]
    print(f"\nChosen chunking: max_tokens={best_chunking[0]}, context_header={best_chunking[1]}\n")
    print(f"## Retrievers on dev (k = {args.k})\n")
    print(header("retriever", args.k))
    scores = {}
    for name, cfg in RETRIEVERS.items():
        m, embedder = score(index_dir, cfg, dev, args.k, embedder)
        scores[name] = m
        print(row(name, m), flush=True)
    best = max(scores, key=lambda n: (scores[n]["hit_at_k"], scores[n]["mrr"]))
    print(f"\nChosen retriever: {best}\n")
    print(f"## Test, once, with the chosen settings (k = {args.k})\n")
    print(header("setting", args.k))
    m, _ = score(index_dir, RETRIEVERS[best], test, args.k, embedder)
    print(row(f"{best}, max_tokens={best_chunking[0]}, header={'on' if best_chunking[1] else 'off'}", m))
    print("\nTest by category:\n")
    print(header("category", args.k))
    for c, cm in m["by_category"].items():
        print(row(c, cm))


if __name__ == "__main__":
    main()

"""Korean retrieval: which embedder, which BM25 terms, question keys or not: chosen on the dev splits.

    python bench/retrieval_korean.py            # dev tables (Korean and English)
    python bench/retrieval_korean.py --test     # the chosen defaults once on the test splits

Korean (eval_sets/sfip_ko, dev split; "everyday" = the dev questions asked in everyday words,
ids ko-*-e*): for each candidate Korean embedder (none: BM25 alone, as before; the bundled
multilingual-e5-small; the bundled USE-multilingual) x BM25 terms for Korean (character
bigrams, kiwipiepy morphemes, both) x retriever (dense, BM25, hybrid) x question keys (none, or
the train split's questions indexed as keys of their clauses), hit@5 and MRR.
English (eval_sets/sfip, dev split): all-MiniLM (today) against one multilingual embedder for
every language, with and without question keys, hybrid + document-aware as shipped. Indexes
are built in a temp folder.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.config import IndexConfig, RetrievalConfig  # noqa: E402
from harness.eval_set import load_eval_set  # noqa: E402
from retrieval.index import build_index, load_index  # noqa: E402
from retrieval.metrics import evaluate_hits  # noqa: E402
from retrieval.search import Retriever  # noqa: E402

KO_EMBEDDERS = ("none", "multilingual-e5-small", "use-multilingual")
BM25_TERMS = ("bigrams", "morphemes", "both")
MODES = ("dense", "bm25", "hybrid")


def measure(index_dir: Path, cfg: RetrievalConfig, items, k: int = 5) -> tuple[float, float]:
    retriever = Retriever(load_index(index_dir), cfg)
    hits = retriever.search([it.question for it in items], k)
    m = evaluate_hits(items, hits, retriever.index.chunks, k)
    return m["hit_at_k"], m["mrr"]


KO_SET = ROOT / "eval_sets/sfip_ko/questions.jsonl"
EN_SET = ROOT / "eval_sets/sfip/questions.jsonl"


def is_everyday(item) -> bool:
    """The questions written in everyday words carry ids ko-<batch>-eNNN."""
    return re.fullmatch(r"ko-\w+-e\d+", item.id) is not None


def korean_index(tmp: Path, embedder: str, keys: bool = True) -> Path:
    out = tmp / f"ko-{embedder}-{keys}"
    pairs = () if embedder == "none" else (f"ko={embedder}",)
    build_index(IndexConfig(corpus=(str(ROOT / "eval_sets/corpora/sfip_ko"),), out=str(out), language_embedders=pairs,
                            question_keys=(str(KO_SET),) if keys else ()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test", action="store_true", help="print the shipped defaults on the test splits (once, at the end)")
    ap.add_argument("--questions", default=str(KO_SET))
    args = ap.parse_args()
    answerable = [it for it in load_eval_set(args.questions) if it.answerable]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.test:
            shipped = RetrievalConfig()
            chosen = dict(p.partition("=")[::2] for p in IndexConfig().language_embedders).get("ko", "none")
            test = [it for it in answerable if it.split == "test"]
            everyday = [it for it in test if is_everyday(it)]
            print(f"Korean test split ({len(test)} answerable, {len(everyday)} in everyday words), "
                  f"ko={chosen}, bm25_korean={shipped.bm25_korean}\n")
            print("| index | hit@5 | MRR | everyday hit@5 | everyday MRR |")
            print("|---|---:|---:|---:|---:|")
            before = tmp / "before"
            build_index(IndexConfig(corpus=(str(ROOT / "eval_sets/corpora/sfip_ko"),), out=str(before), language_embedders=()))
            rows = [("before (BM25 bigrams alone, as shipped before)", before, RetrievalConfig(bm25_korean="bigrams")),
                    ("shipped, without question keys", korean_index(tmp, chosen, keys=False), shipped),
                    ("shipped, with the train split as question keys", korean_index(tmp, chosen), shipped)]
            for name, out, cfg in rows:
                hit, mrr = measure(out, cfg, test)
                ehit, emrr = measure(out, cfg, everyday)
                print(f"| {name} | {hit:.3f} | {mrr:.3f} | {ehit:.3f} | {emrr:.3f} |", flush=True)
            en = [it for it in load_eval_set(EN_SET) if it.answerable and it.split == "test"]
            print(f"\nEnglish test split ({len(en)} answerable), hybrid + document-aware:\n")
            print("| index | hit@5 | MRR |")
            print("|---|---:|---:|")
            for keys in (False, True):
                out = tmp / f"en-test-{keys}"
                build_index(replace(IndexConfig(), out=str(out), question_keys=(str(EN_SET),) if keys else ()))
                hit, mrr = measure(out, RetrievalConfig(), en)
                print(f"| all-minilm-l6-v2{', train questions as keys' if keys else ''} | {hit:.3f} | {mrr:.3f} |", flush=True)
            return
        dev = [it for it in answerable if it.split == "dev"]
        everyday = [it for it in dev if is_everyday(it)]
        print(f"Korean dev split: {len(dev)} answerable questions, {len(everyday)} of them in everyday words\n")
        print("| Korean embedder | BM25 terms | retriever | question keys | hit@5 | MRR | everyday hit@5 | everyday MRR |")
        print("|---|---|---|---|---:|---:|---:|---:|")
        for embedder in KO_EMBEDDERS:
            started = time.perf_counter()
            out = korean_index(tmp, embedder)
            built = time.perf_counter() - started
            for terms in BM25_TERMS:
                for mode in MODES:
                    if (mode == "dense" and terms != "bigrams") or (mode != "bm25" and embedder == "none" and mode == "dense"):
                        continue
                    if embedder != "none" and mode == "bm25":
                        continue  # the same for every embedder: printed under "none"
                    for keys in (False, True):
                        cfg = RetrievalConfig(mode=mode, bm25_korean=terms, question_keys=keys)
                        hit, mrr = measure(out, cfg, dev)
                        ehit, emrr = measure(out, cfg, everyday)
                        print(f"| {embedder} | {terms if mode != 'dense' else '–'} | {mode} | {'train' if keys else '–'} "
                              f"| {hit:.3f} | {mrr:.3f} | {ehit:.3f} | {emrr:.3f} |", flush=True)
            print(f"(index with {embedder}: {built:.1f} s)", file=sys.stderr)
        en = [it for it in load_eval_set(EN_SET) if it.answerable and it.split == "dev"]
        print(f"\nEnglish dev split ({len(en)} answerable), hybrid + document-aware:\n")
        print("| embedder for English | question keys | hit@5 | MRR |")
        print("|---|---|---:|---:|")
        for embedder in ("all-minilm-l6-v2", "multilingual-e5-small", "use-multilingual"):
            out = tmp / f"en-{embedder}"
            build_index(replace(IndexConfig(), out=str(out), embedder=embedder, language_embedders=(),
                                question_keys=(str(EN_SET),)))
            for keys in (False, True):
                hit, mrr = measure(out, RetrievalConfig(question_keys=keys), en)
                print(f"| {embedder} | {'train' if keys else '–'} | {hit:.3f} | {mrr:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""Scorer throughput: answers/s for ~100-word answers over ~2,000-character contexts.

    python bench/scoring.py [--n 200] [--judge SPEC ...] [--judge-n 20]

Contexts are 2,000-character slices of the three policy forms, a new one for every answer (the
worst case: in `harness eval` every model answers over the same clauses, encoded once);
answers are ~100 words mixing sentences taken from the context (faithful) and invented ones.
Prints answers/s of the default scorer (token alignment with the bundled MiniLM + the learned
combiner) and of the lexical-only variant, measured side by side in one run, and their ratio. The `harness score` requirement is at least 5 answers/s on this machine.

Each `--judge` (e.g. `llm:hf:smollm2-135m`, `detector:PATH`, `nli:PATH`) is timed on the first
`--judge-n` answers with its cache off, next to the default scorer on the same answers: what a
judge costs per answer and per claim.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.scoring.scorer import ScoreConfig, Scorer  # noqa: E402
from harness.scoring.text import split_sentences  # noqa: E402
from retrieval.chunking import read_document  # noqa: E402

INVENTED = ["The insurer also pays for hotel stays of up to 14 days.", "Claims must be filed by phone within 48 hours.",
            "This limit doubles for buildings near the coast.", "Premiums are refunded in full after any flood."]


def workload(n: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    corpus = Path(__file__).resolve().parents[1] / "eval_sets" / "corpora" / "sfip"
    texts = [read_document(p) for p in sorted(corpus.glob("*.txt"))]
    items = []
    for _ in range(n):
        text = rng.choice(texts)
        start = rng.randrange(0, len(text) - 2000)
        context = text[start:start + 2000]
        sentences = [context[s:e] for s, e in split_sentences(context) if 40 < e - s < 400]
        words: list[str] = []
        while len(words) < 100:
            words.extend((rng.choice(sentences) if rng.random() < 0.75 or not sentences else rng.choice(INVENTED)).split())
        items.append((" ".join(words), [context]))
    return items


def run(scorer: Scorer, items) -> float:
    t = time.perf_counter()
    scorer.prepare(items)
    for answer, contexts in items:
        scorer.score(answer, contexts)
    return len(items) / (time.perf_counter() - t)


def judge_cost(spec: str, items, base_rate: float) -> None:
    from harness.scoring.judges import make_judge

    judge = make_judge(spec)  # uncached: every claim is judged in the timing
    scorer = Scorer(ScoreConfig(use_embeddings=True), judge=judge)
    scorer.prepare(items[:1])
    calls = 0
    inner = judge.judge

    def counted(pairs):
        nonlocal calls
        calls += len(pairs)
        return inner(pairs)

    judge.judge = counted
    rate = run(scorer, items)
    seconds = len(items) / rate
    print(f"judge {spec}: {rate:8.2f} answers/s, {seconds / max(calls, 1) * 1000:.0f} ms per claim "
          f"({calls} claims; the default scorer alone: {base_rate:.1f} answers/s, {base_rate / rate:.0f}x faster)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--judge", action="append", default=[], help="a judge spec to time (repeatable)")
    ap.add_argument("--judge-n", type=int, default=20, help="answers each judge is timed on")
    args = ap.parse_args()
    items = workload(args.n, random.Random(0))
    words = sum(len(a.split()) for a, _ in items) / len(items)
    chars = sum(len(c[0]) for _, c in items) / len(items)
    full = Scorer(ScoreConfig(use_embeddings=True))
    full.prepare(items[:2])  # load the embedder outside the timing
    full.encoder._cache.clear()  # every context below is new to it: each is encoded in the timing
    with_emb = run(full, items)
    lexical = run(Scorer(ScoreConfig(use_embeddings=False)), items)
    print(f"{len(items)} answers, {words:.0f} words each on average, contexts of {chars:.0f} characters")
    print(f"with embeddings: {with_emb:8.1f} answers/s")
    print(f"lexical only:    {lexical:8.1f} answers/s   ({lexical / with_emb:.1f}x the full scorer)")
    for spec in args.judge:
        judge_cost(spec, items[:args.judge_n], with_emb)


if __name__ == "__main__":
    main()

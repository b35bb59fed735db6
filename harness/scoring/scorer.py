"""Combine signals into a claim support value, claims into an answer verdict.

Claim support: a base from content-word overlap and (when enabled) embedding similarity to the
closest context sentence, then capped by hard evidence against it: a number not in the
context caps it at 0.1, a citation to an article not in the context at 0.2, a polarity flip
at 0.25, a name or defined term not in the context at 0.3 + 0.7 x (share of terms found).
The answer's score is its weakest claim's support; below the threshold it is hallucinated,
and the spans of the claims below the threshold are returned. An answer that is a refusal
is "refused" and never hallucinated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.scoring.refusal import RefusalDetector
from harness.scoring.signals import SIGNALS, Context, Signal
from harness.scoring.text import Claim, content_words, is_restatement, split_claims
from harness.scoring.numbers import extract_quantities

# Bump when a change to the scoring rules can change a verdict: cached verdicts carry it.
SCORER_VERSION = 3  # 2: questions and restatements of the question are not claims; 3: refusals in natural words, a refusal may describe the text
DEFAULT_THRESHOLD = 0.827  # chosen by `harness calibrate` on the dev parts of eval_sets/labeled/{perturbations,real_answers}.jsonl
CAPS = {"numbers": 0.1, "citation": 0.2, "negation": 0.25}
JUDGE_CAP = 0.2  # a judge that says "not supported" caps the claim like hard evidence


@dataclass(frozen=True)
class ScoreConfig:
    threshold: float = DEFAULT_THRESHOLD
    use_embeddings: bool = True
    embedder: str = "all-minilm-l6-v2"
    signals: tuple[str, ...] = ("numbers", "terms", "overlap", "negation", "citation")
    judge: str = ""  # '' (off), 'nli:PATH' or 'llm:BACKEND:MODEL'; see harness.scoring.judges


@dataclass
class ClaimScore:
    claim: Claim
    support: float | None  # None: nothing to check (a bare "No." or a refusal sentence)
    signals: dict[str, Signal] = field(default_factory=dict)
    kind: str = "claim"  # "claim", "trivial", "restatement" (of the question) or "refusal"

    def to_dict(self) -> dict:
        return {"text": self.claim.text, "start": self.claim.start, "end": self.claim.end, "kind": self.kind,
                "support": None if self.support is None else round(self.support, 4),
                "signals": {k: v.to_dict() for k, v in self.signals.items()}}


@dataclass
class AnswerScore:
    verdict: str  # "supported", "hallucinated" or "refused"
    score: float | None
    claims: list[ClaimScore]
    threshold: float

    @property
    def hallucinated(self) -> bool:
        return self.verdict == "hallucinated"

    def spans(self, answer: str) -> list[dict]:
        return [{"start": c.claim.start, "end": c.claim.end, "text": answer[c.claim.start:c.claim.end]}
                for c in self.claims if c.support is not None and c.support < self.threshold]

    def to_dict(self, answer: str) -> dict:
        return {"verdict": self.verdict, "hallucinated": self.hallucinated,
                "score": None if self.score is None else round(self.score, 4),
                "spans": self.spans(answer), "claims": [c.to_dict() for c in self.claims]}


def combine(signals: dict[str, Signal]) -> float | None:
    overlap = signals.get("overlap")
    emb = signals.get("embedding")
    if overlap is None or overlap.value is None:
        if signals.get("numbers") is None or signals["numbers"].value is None:
            return None
        base = 1.0
    elif emb is not None and emb.value is not None:
        base = 0.5 * overlap.value + 0.5 * emb.value
    else:
        base = overlap.value
    support = base
    for name, cap in CAPS.items():
        s = signals.get(name)
        if s is not None and s.value is not None and s.value < 1.0:
            support = min(support, cap)
    terms = signals.get("terms")
    if terms is not None and terms.value is not None and terms.value < 1.0:
        support = min(support, 0.3 + 0.7 * terms.value)
    judge = signals.get("judge")
    if judge is not None and judge.value is not None and judge.value < 0.5:
        support = min(support, JUDGE_CAP)
    return support


class Scorer:
    def __init__(self, config: ScoreConfig | None = None, refusal: RefusalDetector | None = None, judge: Any = None):
        self.config = config or ScoreConfig()
        self.refusal = refusal or RefusalDetector()
        self._embedder = None
        self._vectors: dict[str, Any] = {}
        self._contexts: dict[tuple[str, ...], Context] = {}
        self.judge = judge
        if judge is None and self.config.judge:
            from harness.cache import JsonCache
            from harness.models import harness_home
            from harness.scoring.judges import CachedJudge, make_judge
            from harness.io import content_hash

            inner = make_judge(self.config.judge)
            cache = JsonCache(harness_home() / "cache" / f"judge-{content_hash(inner.name)[3:]}.json")
            self.judge = CachedJudge(inner, cache)

    def context(self, passages: Sequence[str]) -> Context:
        """Prepared once per distinct context: prepare() and score() see the same passages, and
        in `harness eval` every model answers over the same retrieved clauses."""
        key = tuple(passages)
        if key not in self._contexts:
            self._contexts[key] = Context(passages)
        return self._contexts[key]

    # -- embeddings, cached by text: contexts repeat across models and questions
    def _embed(self, texts: Sequence[str]):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            if self._embedder is None:
                from retrieval.embed import Embedder

                self._embedder = Embedder(self.config.embedder, dtype="bfloat16")
            for t, v in zip(missing, self._embedder.encode(missing, batch_size=64)):
                self._vectors[t] = v
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1), dtype="float32")

    def prepare(self, items: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Embed every claim and context sentence of many (answer, contexts) in one batch."""
        if not self.config.use_embeddings:
            return
        texts: list[str] = []
        for answer, passages in items:
            ctx = self.context(passages)
            for claim in split_claims(answer):
                texts.append(claim.text)
                texts.extend(ctx.sentences[i] for i in candidate_sentences(claim, ctx))
        self._embed(texts)

    def score(self, answer: str, passages: Sequence[str], context: Context | None = None) -> AnswerScore:
        ctx = context or self.context(passages)
        claims = split_claims(answer)
        scored: list[ClaimScore] = []
        for claim in claims:
            if self.refusal.matches(claim.text):
                scored.append(ClaimScore(claim, None, {}, "refusal"))
                continue
            if not content_words(claim.text) and not extract_quantities(claim.text):
                scored.append(ClaimScore(claim, None, {}, "trivial"))
                continue
            if is_restatement(claim.text):
                scored.append(ClaimScore(claim, None, {}, "restatement"))
                continue
            signals = {name: SIGNALS[name](claim, ctx) for name in self.config.signals if name in SIGNALS}
            if self.config.use_embeddings and ctx.sentences:
                signals["embedding"] = self._embedding_signal(claim, ctx)
            if self.judge is not None:
                evidence = "\n".join(ctx.sentences[i] for i in candidate_sentences(claim, ctx)) or ctx.text
                signals["judge"] = self.judge.judge([(claim.text, evidence)])[0]
            scored.append(ClaimScore(claim, combine(signals), signals))
        substantive = [c for c in scored if c.kind == "claim" and c.support is not None]
        # A refusal may describe what the text does cover ("These excerpts deal with sandbags;
        # they don't mention medical costs"): it is still a refusal when nothing it says is unsupported.
        if any(c.kind == "refusal" for c in scored) and all(c.support >= self.config.threshold for c in substantive):
            return AnswerScore("refused", None, scored, self.config.threshold)
        if not substantive:
            # Nothing checkable (an empty or bare "No." answer): nothing was claimed.
            return AnswerScore("refused" if not answer.strip() else "supported", None, scored, self.config.threshold)
        score = min(c.support for c in substantive)
        verdict = "hallucinated" if score < self.config.threshold else "supported"
        return AnswerScore(verdict, score, scored, self.config.threshold)

    def _embedding_signal(self, claim: Claim, ctx: Context) -> Signal:
        import numpy as np

        candidates = candidate_sentences(claim, ctx)
        vecs = self._embed([claim.text] + [ctx.sentences[i] for i in candidates])
        sims = vecs[1:] @ vecs[0]
        best = int(np.argmax(sims))
        i, cos = candidates[best], float(sims[best])
        # all-MiniLM cosine: paraphrases ~0.7-0.9, unrelated sentences ~0.0-0.3.
        value = min(1.0, max(0.0, (cos - 0.2) / 0.6))
        return Signal(value, f"cosine {cos:.2f} with {ctx.sentences[i][:100]!r}")


EMBEDDING_CANDIDATES = 5


def candidate_sentences(claim: Claim, ctx: Context) -> list[int]:
    """The context sentences worth embedding for a claim: the few that share the most content
    words with it (all of them when the context is short). Embedding every sentence of every
    context is what makes scoring slow."""
    if len(ctx.sentences) <= EMBEDDING_CANDIDATES:
        return list(range(len(ctx.sentences)))
    words = content_words(claim.text)
    shared = [len(words & sw) for sw in ctx.sentence_words]
    return sorted(sorted(range(len(shared)), key=lambda i: (-shared[i], i))[:EMBEDDING_CANDIDATES])

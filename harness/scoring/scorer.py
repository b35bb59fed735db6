"""Claims -> features -> a learned combiner -> claim support -> the answer's verdict and spans.

Each checkable claim (not a refusal, a restatement of the question or a content-free sentence)
gets the signals' values and its word alignment to the context (harness.scoring.features); the
combiner (harness.scoring.combiner, a logistic regression fitted on the labelled sets' training
parts and shipped as data) turns them into P(unsupported); support = 1 - P. The answer's score
is its weakest claim's support; below the threshold (chosen with the combiner, on its fitting
part) it is hallucinated. Spans are word-level: inside each unsupported claim, the words with
no counterpart in the context (low alignment, a missing number or term), else the claim. An
answer that is a refusal is "refused" and never hallucinated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.scoring.refusal import RefusalDetector
from harness.scoring.signals import SIGNALS, Context, Signal
from harness.scoring.text import Claim, content_words, is_restatement, split_claims
from harness.scoring.numbers import extract_quantities

from harness.scoring.alignment import LOW_ALIGNMENT_SPAN, Encoded, TokenEncoder
from harness.scoring.combiner import Combiner, load_combiner
from harness.scoring.evidence import evidence_text, select_evidence
from harness.scoring.features import answer_features, claim_features

# Bump when a change to the scoring rules can change a verdict: cached verdicts carry it (with
# the combiner's own version, a hash of its coefficients).
SCORER_VERSION = 4  # 2: restatements are not claims; 3: refusals in natural words; 4: learned combiner, word spans
JUDGE_CAP = 0.2  # a judge that says "not supported" caps the answer like hard evidence


@dataclass(frozen=True)
class ScoreConfig:
    threshold: float | None = None  # None: the combiner's own, chosen when it was fitted
    use_embeddings: bool = True
    embedder: str = "all-minilm-l6-v2"
    signals: tuple[str, ...] = ("numbers", "terms", "overlap", "negation", "citation")
    judge: str = ""  # '' (off), 'nli:PATH_OR_ID', 'detector:PATH_OR_ID' or 'llm:BACKEND:MODEL'; see harness.scoring.judges
    combiner: str = ""  # a combiner JSON; '' = the shipped harness/scoring/data/combiner.json

    @property
    def variant(self) -> str:
        return "full" if self.use_embeddings else "lexical"


@dataclass
class ClaimScore:
    claim: Claim
    support: float | None  # None: nothing to check (a bare "No." or a refusal sentence)
    signals: dict[str, Signal] = field(default_factory=dict)
    kind: str = "claim"  # "claim", "trivial", "restatement" (of the question) or "refusal"
    features: dict[str, float] = field(default_factory=dict)
    words: list[tuple[int, int, float]] = field(default_factory=list)  # (start, end, alignment) in the answer
    novel: list[tuple[int, int]] = field(default_factory=list)  # words in neither the context nor the question
    flagged: bool = False  # one of the claims that make a hallucinated answer hallucinated

    def to_dict(self) -> dict:
        return {"text": self.claim.text, "start": self.claim.start, "end": self.claim.end, "kind": self.kind,
                "support": None if self.support is None else round(self.support, 4), "flagged": self.flagged,
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
        """Word-level: in each claim below the threshold, the words without a counterpart in the
        context (adjacent ones merged, small gaps of stop words bridged); the whole claim when
        no word stands out."""
        out = []
        for c in self.claims:
            if not c.flagged:
                continue
            for s, e in unsupported_words(c, answer):
                out.append({"start": s, "end": e, "text": answer[s:e]})
        return out

    def to_dict(self, answer: str) -> dict:
        return {"verdict": self.verdict, "hallucinated": self.hallucinated,
                "score": None if self.score is None else round(self.score, 4),
                "spans": self.spans(answer), "claims": [c.to_dict() for c in self.claims]}


def unsupported_words(c: ClaimScore, answer: str) -> list[tuple[int, int]]:
    # A word the context lacks is marked unless its alignment finds a close counterpart (a synonym),
    # and so is every number or term the signals found missing (and what a detector judge marked).
    alignment = {(s, e): a for s, e, a in c.words}
    marks: list[tuple[int, int]] = [(s, e) for s, e in c.novel if alignment.get((s, e), 0.0) < LOW_ALIGNMENT_SPAN]
    for name in ("numbers", "terms", "judge"):
        signal = c.signals.get(name)
        if signal is not None:
            marks += [(c.claim.start + s, c.claim.start + e) for s, e in signal.missing]
    if not marks:
        return [(c.claim.start, c.claim.end)]
    marks.sort()
    merged = [list(marks[0])]
    for s, e in marks[1:]:
        gap = answer[merged[-1][1]:s]
        if s <= merged[-1][1] or (len(gap.split()) <= 2 and not any(ch in gap for ch in ".;:!?")):
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


class Scorer:
    def __init__(self, config: ScoreConfig | None = None, refusal: RefusalDetector | None = None, judge: Any = None,
                 combiner: Combiner | None = None, encoder: TokenEncoder | None = None):
        self.config = config or ScoreConfig()
        self.refusal = refusal or RefusalDetector()
        self.combiner = combiner or load_combiner(self.config.combiner or None)
        self.variant = self.combiner.variant(self.config.variant)
        self.threshold = self.config.threshold if self.config.threshold is not None else self.variant.threshold
        self._encoder = encoder
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

    @property
    def version(self) -> str:
        """What decides a verdict: the rules' version and the combiner's coefficients."""
        return f"{SCORER_VERSION}/{self.combiner.version}"

    def context(self, passages: Sequence[str]) -> Context:
        """Prepared once per distinct context: prepare() and score() see the same passages, and
        in `harness eval` every model answers over the same retrieved clauses."""
        key = tuple(passages)
        if key not in self._contexts:
            self._contexts[key] = Context(passages)
        return self._contexts[key]

    @property
    def encoder(self) -> TokenEncoder:
        if self._encoder is None:
            self._encoder = TokenEncoder(self.config.embedder)
        return self._encoder

    def prepare(self, items: Sequence[tuple[str, Sequence[str]] | tuple[str, Sequence[str], str]]) -> None:
        """Encode every answer, context and question of many answers in one batch."""
        if not self.config.use_embeddings:
            return
        texts: list[str] = []
        for item in items:
            answer, passages = item[0], item[1]
            texts += [answer, self.context(passages).text]
            if len(item) > 2 and item[2]:
                texts.append(item[2])
        self.encoder.encode(texts)

    def analyse(self, answer: str, passages: Sequence[str], question: str = "",
                context: Context | None = None) -> list[ClaimScore]:
        """Every claim with its kind, signals, features and support (None when not checked)."""
        ctx = context or self.context(passages)
        claims = split_claims(answer)
        encoded: Encoded | None = None
        refs: list[Encoded] = []
        ctx_encoded: Encoded | None = None
        if self.config.use_embeddings and answer.strip():
            texts = [answer, ctx.text] + ([question] if question else [])
            encoded, ctx_encoded, *q_encoded = self.encoder.encode(texts)
            refs = [ctx_encoded] + q_encoded
        scored: list[ClaimScore] = []
        checkable = []
        for claim in claims:
            if self.refusal.matches(claim.text):
                scored.append(ClaimScore(claim, None, {}, "refusal"))
            elif not content_words(claim.text) and not extract_quantities(claim.text):
                scored.append(ClaimScore(claim, None, {}, "trivial"))
            elif is_restatement(claim.text):
                scored.append(ClaimScore(claim, None, {}, "restatement"))
            else:
                scored.append(ClaimScore(claim, None, {}, "claim"))
                checkable.append(scored[-1])
        for i, cs in enumerate(checkable):
            signals = {name: SIGNALS[name](cs.claim, ctx) for name in self.config.signals if name in SIGNALS}
            feats = claim_features(cs.claim, i, len(checkable), signals, ctx, question, encoded, refs, ctx_encoded)
            support = 1.0 - self.variant.claim.probability(feats.values)
            cs.signals, cs.features, cs.words, cs.novel, cs.support = signals, feats.values, feats.words, feats.novel, support
        if self.judge is not None and checkable:
            # One call per answer, so a model judge batches its claims.
            full = getattr(self.judge, "full_context", False)
            pairs = [(cs.claim.text, ("" if full else evidence_text(
                ctx.sentences, select_evidence(cs.claim.text, ctx.sentences, ctx.sentence_words))) or ctx.text)
                for cs in checkable]
            for cs, verdict in zip(checkable, self.judge.judge(pairs)):
                cs.signals["judge"] = verdict
                if verdict.value is not None and verdict.value < 0.5:
                    cs.support = min(cs.support, JUDGE_CAP)
        return scored

    def score(self, answer: str, passages: Sequence[str], context: Context | None = None,
              question: str = "") -> AnswerScore:
        scored = self.analyse(answer, passages, question, context)
        threshold = self.threshold
        substantive = [c for c in scored if c.kind == "claim" and c.support is not None]
        refusal = any(c.kind == "refusal" for c in scored)
        if not substantive:
            # Nothing checkable (an empty or bare "No." answer, or only a refusal): nothing was claimed.
            return AnswerScore("refused" if refusal or not answer.strip() else "supported", None, scored, threshold)
        feats = answer_features([1.0 - c.support for c in substantive], [c.features for c in substantive], refusal)
        score = 1.0 - self.variant.answer.probability(feats)
        judged = [c for c in substantive if "judge" in c.signals and c.signals["judge"].value is not None
                  and c.signals["judge"].value < 0.5]
        if judged:
            score = min(score, JUDGE_CAP)
        if score >= threshold:
            # A refusal may describe what the text does cover ("These excerpts deal with sandbags;
            # they don't mention medical costs"): still a refusal when nothing it says is unsupported.
            return AnswerScore("refused" if refusal else "supported", score, scored, threshold)
        weakest = min(substantive, key=lambda c: c.support)
        for c in substantive:
            c.flagged = c is weakest or c.support < self.variant.claim_threshold or c in judged
        return AnswerScore("hallucinated", score, scored, threshold)

"""Stop sequences and tail trimming: where a generated answer really ends.

Small models keep writing after their answer: they switch language ("Este es ..."), start a new
turn by themselves ("Question: ..."), echo the prompt's clause headers, or loop. The raw answer is
kept as generated; `trim` cuts it where the first enabled rule fires and says which rule and where
(`Cut`), so reports can show the effect of trimming next to the untrimmed figures. `suggest_stops`
mines a run's answers for phrases that start such tails, to help choose stop phrases.

Rules (order = tie-break at equal offsets): "phrase" (stop phrases, may cut at offset 0, like the
seed did), then the structural rules "new_turn", "script_switch", "repetition", which never cut at
an offset with nothing but whitespace before it (an answer is never trimmed to nothing by them).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from harness.config import StopConfig
from harness.prompts import REFUSAL

RULES = ("phrase", "new_turn", "script_switch", "repetition")

# Korean: the seed's list, unchanged. English: chosen on the dev split only, by reading the tails
# in results/20261130-233904-dev-base-v1-v2 (64 English items x base/v1/v2). Answers containing
# each phrase, base/v1/v2 (in brackets: where it is the earliest cut of all rules):
#   "\nQuestion:"        1/2/0 (1/2/0)  an invented next question: "...term.\n\nQuestion: How long ..."
#   "\n["                1/1/4 (1/1/2)  the prompt's clause headers echoed: "\n\n[6] Residential
#                                       Condominium ... > III.", "\n\n[85 FR 43976, ...]"; a header
#                                       at offset 0 has no newline before it and is kept.
#   "In Witness Whereof" 0/0/2 (0/0/2)  the policy's closing boilerplate copied after a quoted clause.
# Each was read with the text before and after the cut: they only cut junk there. Not taken:
# "The answer is:" (it also opens genuine answers: "The answer is: 90 days."); "Note:", "User:",
# "###", "<|im_end|>" (never produced there; new_turn covers such turn markers anyway).
# Matching is case-sensitive for every language (str.find): "In Witness Whereof" is how the policy
# writes it, and "the question:" inside a sentence is not a new turn.
DEFAULT_STOP_PHRASES: dict[str, tuple[str, ...]] = {
    "ko": ("이번에 새로 나온", "Este es", "Ich möchte", "이번엔", "이번에"),
    "en": ("\nQuestion:", "\n[", "In Witness Whereof"),
}


@dataclass(frozen=True)
class Cut:
    rule: str  # one of RULES
    offset: int  # character offset in the raw text where the kept answer ends
    match: str  # the phrase, or the first ~40 characters of what was cut off

    def to_dict(self) -> dict:
        return {"rule": self.rule, "offset": self.offset, "match": self.match}


def stop_phrases(language: str, cfg: StopConfig) -> list[str]:
    """Phrases in effect: the language's defaults (when enabled), then cfg.phrases; no repeats, no empties."""
    phrases = list(DEFAULT_STOP_PHRASES.get(language, ())) if cfg.default_phrases else []
    return list(dict.fromkeys(p for p in phrases + list(cfg.phrases) if p))


def _has_content_before(text: str, offset: int) -> bool:
    return bool(text[:offset].strip())


def _tail(text: str, offset: int) -> str:
    return text[offset:].lstrip()[:40]


def _phrase_cut(text: str, phrases: list[str]) -> Cut | None:
    best: tuple[int, int, str] | None = None  # (offset, -len, phrase): earliest, then the longest
    for p in phrases:
        i = text.find(p)
        if i >= 0 and (best is None or (i, -len(p)) < best[:2]):
            best = (i, -len(p), p)
    return Cut("phrase", best[0], best[2]) if best else None


# A new turn: a line starting (after blanks and "**"/"__" emphasis) with a turn label, or a bare
# role line. "Answer:"/"답변:" at the very start are the answer itself; the no-cut-to-nothing rule
# skips them. Chat-template tokens are residue wherever they stand, so they match mid-line too.
_NEW_TURN = re.compile(
    r"(?m)^[ \t]*(?:\*\*|__|\*)?[ \t]*(?:Question:|Q:|User:|Human:|Assistant:|Answer:|###|질문:|답변:"
    r"|(?:user|assistant)[ \t]*$)|<\|im_start\|>|<\|im_end\|>")


def _new_turn_cut(text: str) -> Cut | None:
    for m in _NEW_TURN.finditer(text):
        if _has_content_before(text, m.start()):
            return Cut("new_turn", m.start(), _tail(text, m.start()))
    return None


# Sentences: lines, split after . ! ? (not before a lower-case letter: "a.m. on", "e.g. the";
# not after a section label: "X. What Law Governs", "Coverage A. The"), after 。！？, and after
# Korean endings "다." / "요." even without a space. A list marker ("1.", "a.", "(2)", "-", "①",
# "가.", "##") stays with its sentence but is left out when comparing sentences.
_SPLIT = re.compile(r"(?<=[.!?。！？])\s+(?![a-z])|(?<=[。！？])(?=\S)|(?<=[다요]\.)(?=\S)")
_LABEL = re.compile(r"(?:^|[\s>(])(?:[IVX]{1,4}|[A-Z])\.$")
_MARKER = re.compile(r"(?:[-*•·]|#{1,6}|\(?\d{1,3}[.)]|\(?[A-Za-z][.)]|[①-⑳]|[가-하][.)])\s+")


def sentences(text: str) -> list[tuple[int, str]]:
    """(start offset, sentence without its list marker) for each non-blank sentence."""
    out = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start() + len(line.group()) - len(line.group().lstrip())
        marker = _MARKER.match(text, start, line.end())
        body_start = marker.end() if marker else start
        pieces = [body_start] + [m.end() for m in _SPLIT.finditer(text, body_start, line.end())
                                 if not _LABEL.search(text[max(body_start, m.start() - 8):m.start()])]
        for k, (a, b) in enumerate(zip(pieces, pieces[1:] + [line.end()])):
            if text[a:b].strip():
                out.append((start if k == 0 else a, text[a:b].strip()))
    return out


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return "LATIN" if name.startswith("LATIN") else ("HANGUL" if name.startswith("HANGUL") else "OTHER")


def _scripts(s: str) -> Counter:
    return Counter(_script(c) for c in s if c.isalpha())


# Function words for telling a Latin-script sentence's language; words that are also English
# ("a", "in", "no", "as", "die" ...) are left out of the foreign lists on purpose.
_FUNCTION_WORDS = {
    "en": "the of and to is are for with on that this it by at not from you your we our if under will "
          "does do has have was were which any all be or an",
    "es": "el la los las es un una que del y por para con se su al lo como más pero este esta muy está son hay",
    "de": "der das und ist nicht ein eine ich möchte zu mit den dem von für auf sie es wir auch sind wird oder",
    "fr": "le la les un une des du et est que qui dans pour pas sur avec ce cette sont il elle nous vous je",
    "pt": "o os um uma é não que em do da dos das para com por se mais seu sua ao na",
    "it": "il lo gli le un una è di che non per con del della sono questo questa nel alla anche ma",
}
_WORDS = {lang: frozenset(ws.split()) for lang, ws in _FUNCTION_WORDS.items()}


def _foreign_latin(sentence: str) -> bool:
    words = re.findall(r"[^\W\d_]+", sentence.lower())
    if len(words) < 4:
        return False
    english = sum(w in _WORDS["en"] for w in words)
    foreign = max(sum(w in ws for w in words) for lang, ws in _WORDS.items() if lang != "en")
    return foreign >= 2 and foreign > english


def _switched(sentence: str, language: str) -> bool:
    counts = _scripts(sentence)
    letters = sum(counts.values())
    if language == "ko":
        if counts["OTHER"] * 2 > letters:  # mostly CJK, Cyrillic, ... but not Hangul
            return True
        return counts["HANGUL"] == 0 and len(re.findall(r"[A-Za-zÀ-ɏ]+", sentence)) >= 3
    if letters and (letters - counts["LATIN"]) * 2 > letters:
        return True
    return counts["LATIN"] > 0 and _foreign_latin(sentence)


def _script_cut(text: str, language: str) -> Cut | None:
    for start, sentence in sentences(text):
        if _has_content_before(text, start) and _switched(sentence, language):
            return Cut("script_switch", start, _tail(text, start))
    return None


def _norm(sentence: str) -> str:
    return " ".join(sentence.strip().strip("\"'“”‘’").rstrip(".。!?！？;:,").split()).casefold()


_LOOP_PERIOD = 12  # words; longer loops are repeated sentences


def _first_repeat(units: list[tuple[int, str]]) -> int | None:
    seen: set[str] = set()
    for start, unit in units:
        key = _norm(unit)
        if key in seen:
            return start
        if len(key.split()) >= 3:
            seen.add(key)
    return None


def _repetition_cut(text: str) -> Cut | None:
    # (a) a sentence or a whole line (list marker aside) of >= 3 words said again; the line
    # catches "4. Dwelling. A building ..." repeating line 3 at its start, not after "Dwelling.".
    spans = sentences(text)
    lines = []
    for m in re.finditer(r"[^\n]*\S[^\n]*", text):
        start = m.start() + len(m.group()) - len(m.group().lstrip())
        marker = _MARKER.match(text, start, m.end())
        lines.append((start, text[marker.end() if marker else start:m.end()]))
    offsets = [o for o in (_first_repeat(spans), _first_repeat(lines)) if o is not None]
    # (b) a word 4-gram 3 times in a row with the same words between each pair ("insured and
    # insured and insured and", "The answer is 4. The answer is 4. The answer is 4."): a loop.
    # Merely reused 4-grams do not count: "the cost of the repair, the cost of the cleanup, and
    # the cost of the testing" is a sentence, and loops of whole sentences are (a)'s anyway.
    words = [(m.start(), m.group().casefold()) for m in re.finditer(r"\w+", text)]
    tokens = [w for _, w in words]
    grams: dict[tuple, list[int]] = defaultdict(list)
    for i in range(len(words) - 3):
        grams[tuple(tokens[i:i + 4])].append(i)
    for idx in grams.values():
        for a, b, c in zip(idx, idx[1:], idx[2:]):
            if b - a == c - b <= _LOOP_PERIOD and tokens[a:b] == tokens[b:c]:
                # A loop has no phase: where a sentence starts within the next period, cut
                # there, so that the kept copy ends with its sentence ("... of the NFIP.").
                end = words[c][0]
                starts = [s for s, _ in spans if words[b][0] <= s < end]
                offsets.append(starts[0] if starts else words[b][0])
                break
    offsets = [o for o in offsets if _has_content_before(text, o)]
    return Cut("repetition", min(offsets), _tail(text, min(offsets))) if offsets else None


def find_cuts(text: str, language: str, cfg: StopConfig) -> list[Cut]:
    """The earliest cut of every enabled rule that fires, sorted by (offset, RULES order)."""
    found = [
        _phrase_cut(text, stop_phrases(language, cfg)),
        _new_turn_cut(text) if cfg.new_turn else None,
        _script_cut(text, language) if cfg.script_switch else None,
        _repetition_cut(text) if cfg.repetition else None,
    ]
    return sorted((c for c in found if c), key=lambda c: (c.offset, RULES.index(c.rule)))


def trim(text: str, language: str, cfg: StopConfig) -> tuple[str, Cut | None]:
    """(the answer before the earliest cut, stripped; that Cut), or (text.strip(), None)."""
    cuts = find_cuts(text, language, cfg)
    if not cuts:
        return text.strip(), None
    return text[:cuts[0].offset].strip(), cuts[0]


_STRUCTURAL = StopConfig(default_phrases=False, phrases=())
_TAIL_KINDS = ("new_turn", "script_switch", "repetition", "after_refusal", "paragraph")


def _tails(text: str, language: str) -> list[tuple[str, int]]:
    """(kind, offset) of every place where junk after the answer may start."""
    out = [(c.rule, c.offset) for c in find_cuts(text, language, _STRUCTURAL)]
    refusal = REFUSAL.get(language, REFUSAL["en"])
    lead = len(text) - len(text.lstrip())
    if text.startswith(refusal, lead) and text[lead + len(refusal):].strip():
        out.append(("after_refusal", lead + len(refusal)))
    body = text.rstrip()
    blank = body.find("\n\n", lead)
    if blank >= 0 and body[blank:].strip():
        out.append(("paragraph", blank))
    return out


def _lead_phrases(tail: str) -> list[str]:
    words = tail.split()
    phrases = (" ".join(words[:n]).strip(".,;:!?\"'()[]{}*#-—") for n in (1, 2, 3) if len(words) >= n)
    return list(dict.fromkeys(p for p in phrases if p))


def suggest_stops(records: Iterable[Mapping], min_count: int = 2, top: int = 20) -> list[dict]:
    """Phrases that often start a tail in these answers: candidates for StopConfig.phrases.

    A tail starts where a structural rule fires, after a leading exact refusal sentence, or after
    the first blank line. Each tail's first 1-3 words are candidates; `count` is the number of
    records with a tail starting so, `in_answers` the number whose kept part (before the earliest
    tail) contains the phrase anywhere: a phrase with in_answers > 0 would also cut good text.
    A longer candidate with the same count and in_answers as its one-word-shorter prefix adds
    nothing (it cuts exactly those tails and no fewer answers) and is dropped.
    """
    kept_parts: list[str] = []
    hits: dict[str, dict] = defaultdict(lambda: {"records": set(), "kinds": Counter(), "examples": []})
    for n, rec in enumerate(records):
        text, language = rec.get("raw_answer") or "", rec.get("language", "en")
        tails = _tails(text, language)
        kept_parts.append(text[:min((o for _, o in tails), default=len(text))])
        for kind, offset in tails:
            tail = text[offset:].strip()
            for phrase in _lead_phrases(tail):
                h = hits[phrase]
                h["kinds"][kind] += 1
                if n not in h["records"]:
                    h["records"].add(n)
                    if len(h["examples"]) < 3:
                        h["examples"].append({"item_id": rec.get("item_id"), "model": rec.get("model"),
                                              "tail": tail[:80]})
    rows = {}
    for phrase, h in hits.items():
        if len(h["records"]) >= min_count:
            kind = max(_TAIL_KINDS, key=lambda k: (h["kinds"][k], -_TAIL_KINDS.index(k)))
            rows[phrase] = {"phrase": phrase, "kind": kind, "count": len(h["records"]),
                            "in_answers": sum(phrase in kept for kept in kept_parts),
                            "examples": h["examples"]}
    for phrase in sorted((p for p in rows if " " in p), key=lambda p: -len(p.split())):  # 3 words, then 2
        shorter = rows.get(phrase.rsplit(" ", 1)[0].strip(".,;:!?\"'()[]{}*#-—"))
        row = rows[phrase]
        if shorter and (shorter["count"], shorter["in_answers"]) == (row["count"], row["in_answers"]):
            del rows[phrase]
    ranked = sorted(rows.values(), key=lambda r: (-r["count"], len(r["phrase"].split()), len(r["phrase"]), r["phrase"]))
    return ranked[:top]

"""Refusal phrase families, English and Korean. Configurable: pass your own patterns."""

from __future__ import annotations

import re
from typing import Sequence

REFUSAL_PATTERNS_EN = (
    r"\bthe (?:policy|clauses?|provided (?:clauses?|context|text)|context|documents?) (?:does|do) not (?:say|state|mention|specify|address|cover this|contain|include|provide)\b",
    r"\b(?:is|are) not (?:mentioned|stated|specified|addressed|covered|found|included) in the (?:policy|clauses?|provided|context|documents?)\b",
    r"\b(?:there is )?no (?:information|mention|provision|clause|answer) (?:about|on|regarding|for|in)\b",
    r"\bi (?:cannot|can't|can not|am unable to|do not|don't) (?:find|answer|determine|know|say)\b",
    r"\bnot (?:enough|sufficient) information\b",
    r"\bunable to (?:find|determine|answer)\b",
    # The text, as the answer calls it, declines: "these excerpts don't mention ...", "the clauses
    # shown do not address ...". "The policy does not cover X" is an answer (an exclusion), so
    # cover/include only count after a word for the excerpt, never after "policy".
    r"\b(?:excerpts?|passages?|clauses?|sections?|provisions?|text|documents?|materials?|context|information|sources?"
    r"|snippets?|articles?)\b"
    r"[^.;!?]{0,40}?\b(?:do|does|did)(?:\s*not|n't|n’t)\s+(?:(?:actually|really|specifically|explicitly|directly)\s+)?"
    r"(?:mention|address|say|state|specify|discuss|cover|include"
    r"|contain|provide|give|explain|describe|deal with|speak to|answer|tell|list)\b",
    # "... never say how many", "none of the passages gives ...", "that figure isn't in the passages",
    # "the ratio can't be answered from them"
    r"\b(?:excerpts?|passages?|clauses?|text|documents?|sources?|snippets?|context)\b[^.;!?]{0,60}?\bnever\s+"
    r"(?:say|state|mention|give|specify|address|explain|list|provide|cover)s?\b",
    r"\bnone of (?:the|these|those) (?:excerpts|passages|clauses|sections|documents|sources|snippets|provisions)\b"
    r"[^.;!?]{0,20}?\b(?:gives?|states?|says?|mentions?|provides?|lists?|includes?|addresses?|covers?|specif(?:y|ies))\b",
    r"\b(?:is|are)(?:\s*not|n't|n’t) (?:(?:mentioned|stated|given|listed|found|included|specified|covered) )?in "
    r"(?:the|these|those) (?:excerpts|passages|clauses|documents|sources|snippets|text|context|provided)\b",
    r"\bcan(?:not|'t|’t| not) be (?:answered|determined|found) (?:from|in|with)\b",
    # Verbs only text can do (mention, address, ...) make "the policy doesn't ..." a refusal. Bare
    # pronouns ("they don't mention") are left out: on the real answers they cost more than they caught.
    r"\bpolicy\b[^.;!?]{0,20}?\b(?:do|does)(?:\s*not|n't|n’t)\s+(?:mention|address|say|state|specify|discuss|explain"
    r"|describe|speak to|tell)\b",
    r"\b(?:nothing|no part of (?:the|these|this)\b[^.;!?]{0,30}?)\s+(?:here|in (?:the|these|this|those|what)\b[^.;!?]{0,40}?)"
    r"\s*(?:about|on|regarding|concerning|covers|addresses|mentions|says|speaks to|deals with|describes|explains)\b",
    r"\bthere(?:'s|’s| is) nothing (?:here |in [^.;!?]{0,40}?)?(?:about|on|regarding|concerning)\b",
    r"\bsays? nothing (?:about|on|regarding|concerning)\b",
    r"\bgives? no (?:guidance|information|figures?|details?|answer|amount)\b",
    r"\b(?:can(?:'|’)t|cannot|can not|unable to|not able to) (?:answer|say|tell|determine|help|recommend|confirm)\b"
    r"[^.;!?]{0,60}?\b(?:from|based on|with|in) (?:the|these|this|those|what)\b",
)
REFUSAL_PATTERNS_KO = (
    r"약관에\s*해당\s*내용이\s*없",
    r"해당\s*내용이\s*(?:없|나와\s*있지\s*않)",
    r"(?:명시|언급|규정)(?:되어|돼)\s*있지\s*않",
    r"알\s*수\s*없",
    r"(?:답변|확인)(?:할|하기)\s*(?:수\s*없|어렵)",
    r"정보가\s*(?:없|부족)",
    r"(?:언급|설명|기재|안내)(?:이|은|는)?\s*없",
    r"다루(?:지\s*않|고\s*있지\s*않)",
    # "... 규정이 보이지 않습니다", "... 내용은 나와 있지 않습니다", "이 발췌문만으로는 답하기 어렵습니다"
    r"(?:규정|내용|언급|정보|조항|설명)[이가은는]?\s*(?:보이지|나와\s*있지|포함되어\s*있지|들어\s*있지|찾을\s*수\s*없|찾아볼\s*수\s*없)",
    r"(?:답하기|판단하기|알기|확인하기)\s*어렵",
)


class RefusalDetector:
    def __init__(self, patterns: Sequence[str] = REFUSAL_PATTERNS_EN + REFUSAL_PATTERNS_KO):
        self.patterns = [re.compile(p, re.I) for p in patterns]

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)

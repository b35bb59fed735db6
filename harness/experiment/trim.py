"""Stage: cut each raw answer where a stop rule fires (harness.trimming); the raw answer stays in
the record, so the report can score both and rules can be changed without regenerating."""

from __future__ import annotations

from harness.config import StopConfig
from harness.prompts import is_exact_refusal
from harness.trimming import trim


def trim_records(records: list[dict], stops: StopConfig) -> None:
    """Set answer, stop_fired ({rule, offset, match} or None) and refused_exact in place."""
    for rec in records:
        if rec["error"]:
            rec.update(answer="", stop_fired=None, refused_exact=False)
            continue
        answer, cut = trim(rec["raw_answer"], rec["language"], stops)
        rec.update(answer=answer, stop_fired=cut.to_dict() if cut else None,
                   refused_exact=is_exact_refusal(answer, rec["language"]))

"""Which labelled answers may be learned from, and which are held out.

Every labelled answer falls in one part, by its own "part" field or by a hash of its group (the
question id), so answers to one question never straddle parts: "dev" (h < dev_fraction) fits
the combiner and chooses its threshold; "heldout" is what `harness calibrate` reports on, and
nothing is ever fitted, trained or chosen on it.
"""

from __future__ import annotations

import hashlib

DEV_FRACTION = 0.5


def group_hash(record: dict) -> float:
    key = str(record.get("group", record["id"]))
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def part_of(record: dict, dev_fraction: float = DEV_FRACTION) -> str:
    """'dev' or 'heldout'."""
    if record.get("part") in ("dev", "heldout"):
        return record["part"]
    return "dev" if group_hash(record) < dev_fraction else "heldout"

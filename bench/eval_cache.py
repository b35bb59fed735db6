"""First run vs cached rerun of the same `harness eval`, side by side in one run.

    python bench/eval_cache.py                                   # real model: base on 8 starter questions
    python bench/eval_cache.py --models base v1 v2 --limit 0     # the whole starter set, 3 models
    python bench/eval_cache.py --backend scripted --models base v1 v2 \\
        --eval-set eval_sets/sfip/questions.jsonl --limit 0      # 260 questions x 3 models, no model

Both runs are the `harness eval` command in a fresh process with a fresh results folder and
cache (so the first run really generates), the second the identical command. Prints wall
times, the ratio, and each run's "N generated, M from cache" line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    m = re.search(r"^\d+ generated, \d+ from cache$", done.stderr, re.M)
    return wall, m.group(0) if m else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["base"])
    ap.add_argument("--backend", default="hf")
    ap.add_argument("--eval-set", default="eval_sets/sfip/starter.jsonl")
    ap.add_argument("--limit", type=int, default=8, help="questions (0 = all)")
    ap.add_argument("--decoding", nargs="+", default=["greedy"])
    ap.add_argument("--max-new-tokens", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        cmd = [sys.executable, "-m", "harness.cli", "eval", "--backend", args.backend, "--models", *args.models,
               "--decoding", *args.decoding, "--eval-set", args.eval_set, "--limit", str(args.limit),
               "--max-new-tokens", str(args.max_new_tokens), "--results-dir", str(Path(tmp) / "results")]
        first, first_line = timed(cmd)
        second, second_line = timed(cmd)
    n_models = len(args.models)
    print(f"harness eval, backend {args.backend}, {n_models} model(s), {args.eval_set} limit {args.limit or 'all'}, "
          f"decoding {' '.join(args.decoding)}, max_new_tokens {args.max_new_tokens}")
    print(f"{'run':<16} {'wall s':>8}  cache")
    print(f"{'first run':<16} {first:>8.1f}  {first_line}")
    print(f"{'cached rerun':<16} {second:>8.1f}  {second_line}")
    print(f"rerun is {first / second:.1f}x faster")


if __name__ == "__main__":
    main()

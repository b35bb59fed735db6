"""What each training mode costs on this machine: seconds per optimizer step and peak memory.

    python bench/train_modes.py [--steps 2] [--data training/data/rag.jsonl]

Each mode runs `harness train`'s code path in a fresh process (peak RSS is per process) on the
same 8-example steps: bf16 or fp32 LoRA, with and without gradient checkpointing. 4-bit and
8-bit (bitsandbytes) need CUDA; on a GPU machine pass --quant to add them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, logging, os, sys, tempfile
os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.disable(logging.WARNING)
sys.path.insert(0, {root!r})
import training.train as tt
from training.config import TrainConfig
from training.data import load_examples
examples, _ = load_examples({data!r})
cfg = TrainConfig(name="bench", max_steps={steps}, batch_size=1, grad_accum=8, eval_fraction=0.0, seed=0,
                  dtype={dtype!r}, gradient_checkpointing={gc}, quant={quant!r}, adapters_dir={out!r})
model, tok, _, device = tt.load_for_training(cfg)
rows, _ = tt.tokenize_all(examples[:8 * {steps}], tok, cfg.max_length)
trainer, wall = tt.run_trainer(cfg, model, tok, rows, [], __import__("pathlib").Path({out!r}), device, resume=False)
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
print("RESULT " + json.dumps({{"s_per_step": wall / {steps}, "peak_mb": tt.peak_memory_mb(device),
                              "tokens": sum(len(r["input_ids"]) for r in rows), "final_loss": losses[-1]}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "training" / "data" / "rag.jsonl")
    parser.add_argument("--quant", action="store_true", help="Also run 4bit and 8bit (CUDA only).")
    args = parser.parse_args()
    modes = [("bfloat16", False, "none"), ("bfloat16", True, "none"), ("float32", False, "none"), ("float32", True, "none")]
    if args.quant:
        modes += [("bfloat16", True, "4bit"), ("bfloat16", True, "8bit")]
    rows = []
    for dtype, gc, quant in modes:
        with tempfile.TemporaryDirectory() as out:
            code = CHILD.format(root=str(ROOT), data=str(args.data), steps=args.steps, dtype=dtype, gc=gc, quant=quant, out=out)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{dtype} gc={gc} {quant}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(line[7:])
        rows.append((dtype, gc, quant, r))
    print(f"\n{args.steps} steps of 8 examples from {args.data}\n")
    print("| weights | LoRA | gradient checkpointing | s / step | tokens / s | peak memory MB | final loss |")
    print("|---|---|---|---:|---:|---:|---:|")
    for dtype, gc, quant, r in rows:
        weights = {"none": dtype, "4bit": "NF4 4-bit", "8bit": "int8"}[quant]
        tps = r["tokens"] / (r["s_per_step"] * args.steps)
        print(f"| {weights} | fp32 | {'on' if gc else 'off'} | {r['s_per_step']:.1f} | {tps:.0f} | {r['peak_mb']:.0f} | "
              f"{r['final_loss']:.3f} |")


if __name__ == "__main__":
    main()

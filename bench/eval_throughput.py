"""Generation throughput on the starter prompts, every path side by side in one run.

    python bench/eval_throughput.py                       # the 29 starter prompts, 128 new tokens
    python bench/eval_throughput.py --limit 8 --paths seed hf-fp32 llamacpp

The same prompts (what `harness eval` sends: retrieved clauses + question, the bundled
SmolLM2-135M's chat template), greedy, max_new_tokens 128, through:

  seed        the seed's loop: a transformers pipeline() per question, float32 (the reference)
  hf-bf16     `harness eval`'s hf backend as it was when issue 12 was filed: bf16, batch 8
  hf-fp32-generate  float32 on CPU (batch-invariant), batch 8 by token count, transformers' generate()
  hf-fp32     the same, finished rows leaving the batch (greedy): `harness eval` before prompts were read alone
  hf          `harness eval` now: each prompt read alone (bf16 autocast where the CPU has bf16),
              answers decoded in float32 as a batch of 8 from which finished rows leave
  llamacpp    the llamacpp backend, in process, one prompt at a time (the bundled Q4_1 GGUF)
  openai-cN   the openai backend against llama-cpp-python's server on 127.0.0.1, N requests at once
  slots-cN    the openai backend against llama.cpp's own `llama-server --parallel N` (N slots, N
              requests at once), when a llama-server binary is given (--llama-server) or on PATH

Prints total seconds, answers/s, prompt and generated tokens/s, the speed ratio to the seed's
loop, and the share of answers identical to the seed loop's (and to the llamacpp backend's,
for the server paths). Each path runs alone; nothing else should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.backends.base import BackendOptions, GenRequest  # noqa: E402
from harness.config import DecodingConfig  # noqa: E402
from harness.models import ModelSpec, resolve_base_model  # noqa: E402

PATHS = ("seed", "hf-bf16", "hf-fp32-generate", "hf-fp32", "hf", "llamacpp", "openai-c1", "openai-c4", "slots-c1", "slots-c4")
DEFAULT_PATHS = PATHS[:8]


def starter_requests(limit: int, max_new_tokens: int) -> list[GenRequest]:
    from harness.config import EvalConfig
    from harness.experiment.retrieve import load_questions, retrieve
    from retrieval.search import Retriever

    cfg = EvalConfig(eval_set=str(ROOT / "eval_sets" / "sfip" / "starter.jsonl"), index=str(ROOT / "indexes" / "sfip"),
                     limit=limit)
    questions, _ = retrieve(load_questions(cfg), Retriever.load(cfg.index, cfg.retrieval), cfg.k)
    decoding = DecodingConfig(max_new_tokens=max_new_tokens)
    return [GenRequest(q.item.id, q.messages, q.item.language, decoding) for q in questions]


def run_seed(requests: list[GenRequest]):
    import torch
    from transformers import pipeline

    pipe = pipeline("text-generation", model=resolve_base_model("smollm2-135m"), dtype=torch.float32, device="cpu")
    started = time.perf_counter()
    out = []
    for r in requests:
        result = pipe(r.messages, max_new_tokens=r.decoding.max_new_tokens, do_sample=False, return_full_text=False)
        text = result[0]["generated_text"]
        out.append((text.strip(), None, len(pipe.tokenizer(text)["input_ids"])))
    return out, time.perf_counter() - started


def run_hf(requests: list[GenRequest], dtype: str, by_tokens: bool, shrinking: bool, batch: int = 8,
           today: bool = False):
    from harness.backends.hf import HFBackend

    options = BackendOptions(dtype=dtype, device="cpu", prefill_dtype="auto" if today else "same")
    backend = HFBackend(ModelSpec("base", "smollm2-135m"), options)
    backend.shrinking = shrinking
    if not today:
        backend.prefill_alone = False  # the earlier paths read a batch's prompts as one padded batch
    started = time.perf_counter()
    if by_tokens:
        order = sorted(range(len(requests)), key=lambda i: backend.prompt_length(requests[i].messages))
    else:
        order = sorted(range(len(requests)), key=lambda i: len(requests[i].messages[-1]["content"]))
    got = {}
    for at in range(0, len(order), batch):
        idx = order[at:at + batch]
        for i, g in zip(idx, backend.generate([requests[i] for i in idx])):
            got[i] = (g.text.strip(), g.prompt_tokens, g.completion_tokens)
    seconds = time.perf_counter() - started
    backend.close()
    return [got[i] for i in range(len(requests))], seconds


def run_llamacpp(requests: list[GenRequest]):
    from harness.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(ModelSpec("base", "smollm2-135m"))
    started = time.perf_counter()
    out = [(g.text.strip(), g.prompt_tokens, g.completion_tokens) for g in backend.generate(requests)]
    seconds = time.perf_counter() - started
    backend.close()
    return out, seconds


def timed_openai(requests: list[GenRequest], url: str, concurrency: int):
    from harness.backends.openai import OpenAIBackend

    backend = OpenAIBackend(ModelSpec("base", "smollm2-135m"), BackendOptions(api_base=url, concurrency=concurrency,
                                                                           request_timeout=600))
    started = time.perf_counter()
    gens = backend.generate(requests)
    seconds = time.perf_counter() - started
    return [(g.text.strip(), g.prompt_tokens, g.completion_tokens) for g in gens], seconds


def run_openai(requests: list[GenRequest], concurrency: int):
    from tests.servers.llamacpp import llama_server

    with llama_server() as url:
        return timed_openai(requests, url, concurrency)


def run_slots(requests: list[GenRequest], slots: int, binary: str):
    from tests.servers.llamacpp import llama_cpp_slots_server

    with llama_cpp_slots_server(binary, slots) as url:
        return timed_openai(requests, url, slots)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=0, help="first N starter prompts (0 = all 29)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--paths", nargs="+", default=None, choices=PATHS,
                    help="default: every path, the slots-* ones only when a llama-server binary is found")
    ap.add_argument("--llama-server", default=None, help="llama.cpp's llama-server binary (default: on PATH)")
    args = ap.parse_args()
    import shutil

    server_bin = args.llama_server or shutil.which("llama-server")
    if args.paths is None:
        args.paths = list(PATHS) if server_bin else list(DEFAULT_PATHS)
    requests = starter_requests(args.limit, args.max_new_tokens)
    rows, answers = [], {}
    for path in args.paths:
        # Each path times its generation only: model loading and server start-up are left out.
        if path == "seed":
            out, seconds = run_seed(requests)
        elif path == "hf":
            out, seconds = run_hf(requests, "float32", by_tokens=True, shrinking=True, today=True)
        elif path.startswith("hf-"):
            out, seconds = run_hf(requests, "bfloat16" if path == "hf-bf16" else "float32",
                                  by_tokens=path != "hf-bf16", shrinking=path == "hf-fp32")
        elif path == "llamacpp":
            out, seconds = run_llamacpp(requests)
        elif path.startswith("slots-"):
            if not server_bin:
                sys.exit("slots-* paths need llama.cpp's llama-server: --llama-server PATH")
            out, seconds = run_slots(requests, int(path.split("-c")[1]), server_bin)
        else:
            out, seconds = run_openai(requests, int(path.split("-c")[1]))
        answers[path] = [o[0] for o in out]
        prompt = sum(o[1] or 0 for o in out)
        generated = sum(o[2] or 0 for o in out)
        rows.append((path, seconds, prompt, generated))
        print(f"... {path}: {seconds:.1f} s", file=sys.stderr, flush=True)
    n = len(requests)
    seed_s = next((s for p, s, _, _ in rows if p == "seed"), None)
    print(f"\n{n} starter prompts, greedy, max_new_tokens {args.max_new_tokens}, bundled SmolLM2-135M\n")
    print("| path | total s | answers/s | prompt tok/s | generated tok/s | speed vs seed loop | same answer as seed loop "
          "| same as llamacpp |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path, seconds, prompt, generated in rows:
        same_seed = _share(answers[path], answers.get("seed"))
        same_cpp = _share(answers[path], answers.get("llamacpp")) if path != "llamacpp" else "–"
        ratio = f"{seed_s / seconds:.2f}x" if seed_s else "–"
        print(f"| {path} | {seconds:.1f} | {n / seconds:.3f} | {prompt / seconds if prompt else 0:.0f} "
              f"| {generated / seconds:.1f} | {ratio} | {same_seed} | {same_cpp} |")


def _share(a: list[str], b: list[str] | None) -> str:
    if b is None:
        return "–"
    return f"{sum(x == y for x, y in zip(a, b))}/{len(a)}"


if __name__ == "__main__":
    main()

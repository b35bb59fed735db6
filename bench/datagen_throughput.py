"""`harness data generate` throughput: --workers 1 against --workers N, side by side in one run.

    python bench/datagen_throughput.py                      # the delayed stdlib server only
    python bench/datagen_throughput.py --llamacpp           # also llama-cpp-python's server, bundled GGUF

1. A local chat-completions server that answers after a fixed delay with at most 4 answers in
   progress at once (tests/servers/fake_generator.py), as a remote GPU server does: the same
   chunks (the bundled corpus's first --chunks) with 1 worker and with 4.
2. With --llamacpp: llama-cpp-python's OpenAI-compatible server on the bundled GGUF (the real
   model writing real replies; 2 cores, so expect little), 1 worker against 2, on fewer chunks.
Prints chunks/s for each and the ratio, measured in this one run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.config import GenerateConfig  # noqa: E402
from training.generate import run_generate  # noqa: E402


def chunk_file(tmp: Path, n: int) -> Path:
    import json

    from retrieval.chunking import chunk_corpus

    chunks, _ = chunk_corpus([str(ROOT / "eval_sets/corpora/sfip")])
    path = tmp / "chunks.jsonl"
    path.write_text("".join(json.dumps(c.to_dict()) + "\n" for c in chunks[:n]), encoding="utf-8")
    return path


def timed(chunks: Path, url: str, workers: int, out: Path, generator: str = "openai:gen", **kw) -> tuple[float, object]:
    shutil.rmtree(out, ignore_errors=True)
    cfg = GenerateConfig(chunks=str(chunks), generator=generator, api_base=url, out=str(out), workers=workers,
                         cache=False, **kw)  # every reply asked of the server: a cached one costs nothing
    started = time.perf_counter()
    result = run_generate(cfg)
    return time.perf_counter() - started, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=48)
    ap.add_argument("--delay", type=float, default=0.5, help="server seconds per answer")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--llamacpp", action="store_true")
    ap.add_argument("--llamacpp-chunks", type=int, default=6)
    args = ap.parse_args()
    from tests.servers.fake_generator import FakeGenerator

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        chunks = chunk_file(tmp, args.chunks)
        print(f"delayed server: {args.chunks} chunks, {args.delay:g} s per answer, 4 answers at once at most\n")
        print("| server | workers | seconds | chunks/s | pairs | ratio to 1 worker |")
        print("|---|---:|---:|---:|---:|---:|")
        with FakeGenerator(delay=args.delay, parallel=4) as server:
            one, r1 = timed(chunks, server.url, 1, tmp / "w1")
            many, rn = timed(chunks, server.url, args.workers, tmp / "wn")
        for w, s, r in ((1, one, r1), (args.workers, many, rn)):
            print(f"| delayed stdlib | {w} | {s:.1f} | {r.done / s:.2f} | {r.pairs} | {one / s:.2f}x |", flush=True)
        if args.llamacpp:
            from tests.servers.llamacpp import llama_server

            small = chunk_file(tmp, args.llamacpp_chunks)
            with llama_server() as url:
                one, r1 = timed(small, url, 1, tmp / "l1", generator="openai:smollm2", max_new_tokens=256)
                two, r2 = timed(small, url, 2, tmp / "l2", generator="openai:smollm2", max_new_tokens=256)
            for w, s, r in ((1, one, r1), (2, two, r2)):
                print(f"| llama-cpp-python server, bundled GGUF | {w} | {s:.1f} | {r.done / s:.2f} | {r.pairs} "
                      f"| {one / s:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

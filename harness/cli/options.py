"""Click helpers: options built from config-field help, and options that take several values."""

from __future__ import annotations

from typing import Any, Callable

import click

from harness.config import field_help


def config_option(cls: type, field: str, *decls: str, **kwargs: Any) -> Callable:
    """A click option whose help is the config field's help; default None means "not given",
    so the merge in load_config() can tell a flag the user passed from a default."""
    kwargs.setdefault("default", None)
    return click.option(*decls, help=field_help(cls, field), show_default=False, **kwargs)


class GreedyCommand(click.Command):
    """Lets `--models base v1 v2` work: values after a greedy option, up to the next option,
    all belong to it (click itself takes one value per occurrence)."""

    greedy_options: tuple[str, ...] = ()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        greedy = set(getattr(self, "greedy_options", ()))
        rewritten: list[str] = []
        current = None
        for arg in args:
            if arg == "--":
                current = None
                rewritten.append(arg)
                continue
            if arg.startswith("-") and len(arg) > 1 and not _is_number(arg):
                name, eq, value = arg.partition("=")
                current = name if name in greedy else None
                rewritten.append(arg)
                if eq:
                    current = None
                continue
            if current is not None and rewritten and rewritten[-1] != current:
                rewritten.append(current)
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def greedy(*options: str) -> type[GreedyCommand]:
    """A command class whose listed options take every value up to the next option."""
    return type("Greedy", (GreedyCommand,), {"greedy_options": options})


def _set_encoding(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from harness.encoding import check_name, set_current
    from harness.errors import HarnessError

    try:
        # Always set (None = back to $HARNESS_ENCODING / utf-8), so one command's setting never
        # leaks into the next one run in the same process.
        set_current(check_name(value) if value else None)
    except HarnessError as e:
        raise click.BadParameter(e.message, ctx=ctx, param=param) from None


def encoding_option(f: Callable) -> Callable:
    """`--encoding` for commands that read the user's files (eval sets, answers, training data,
    configs, models.json); the harness's own files are always UTF-8."""
    from harness.encoding import ENCODING_HELP

    return click.option("--encoding", metavar="NAME", default=None, expose_value=False, is_eager=True,
                        callback=_set_encoding, help=ENCODING_HELP)(f)

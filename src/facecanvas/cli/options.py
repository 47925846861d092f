"""Command-line flags made from an ``Options`` dataclass's schema, and the options back from parsed flags.

Flags default to "not given", so the dataclass's own defaults and checks apply: the CLI only maps.
Numbers are parsed by the options themselves, so a bad value is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from ..ops.base import Options


def add_options(group, cls: type[Options], *, skip: Iterable[str] = (), help: dict[str, str] | None = None) -> None:
    skip, help = set(skip), help or {}
    for info in cls.schema():
        if not info.cli or info.name in skip:
            continue
        text = help.get(info.name, info.help)
        if info.default not in (None, False, "") and info.type is not bool:
            text += f" (default {info.default:g})" if isinstance(info.default, float) else f" (default {info.default})"
        kwargs = {"dest": info.name, "default": None, "help": text.replace("%", "%%")}
        if info.type is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = info.metavar or {int: "N", float: "X"}.get(info.type, "VALUE") if not info.choices else None
            if info.choices:
                kwargs["choices"] = info.choices
        group.add_argument(info.flag, **{k: v for k, v in kwargs.items() if v is not None or k == "default"})


def from_args(cls: type[Options], args: argparse.Namespace, **extra):
    """The options given on the command line (plus ``extra``), checked."""
    given = {i.name: getattr(args, i.name) for i in cls.schema()
             if i.cli and getattr(args, i.name, None) not in (None, False)}
    return cls.from_dict({**given, **extra})

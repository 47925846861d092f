"""The contract every face operation follows, in the spirit of FaceFusion's processors, with no global state.

An operation is

* a **name** and an **options dataclass** (a subclass of ``Options``): each field says its type, default,
  range or choices and a help text, and the options check themselves when made, so a CLI, a web form and a
  config file can all be generated from the same class (``Options.schema()``);
* a **build step** ``Operation(options)`` that loads its models once (the expensive part);
* the **frame call** ``op(frame, faces) -> frame`` (BGR uint8; ``op.apply`` gives an ``OpResult`` with the
  faces edited and any warnings);
* an optional ``reset()`` between tracks or scenes (video caches are dropped).

An operation is named by a plain-data ``OpSpec`` (name + options as JSON), so a worker process or another
machine can build the same operation from it (``ops.build(spec)``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

import numpy as np

from ..analysis.face import Face
from ..errors import InputError


def option(default: Any, help: str, *, min: float | None = None, max: float | None = None,
           choices: tuple | None = None, flag: str | None = None, cli: bool = True, metavar: str | None = None) -> Any:
    """A field of an ``Options`` dataclass. ``min``/``max`` bound numbers (inclusive), ``choices`` lists the
    allowed values; ``flag`` is the name users see (default ``--field-name``); ``cli=False`` keeps it out
    of generated command lines; ``metavar`` names the value in help texts (PHOTO, LIST, ...)."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "flag": flag, "cli": cli, "metavar": metavar}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class OptionInfo:
    """One option as a form or a parser needs it."""

    name: str
    type: type  # int, float, bool, str (the base type of an Optional)
    optional: bool  # None is allowed
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    flag: str = ""
    cli: bool = True
    metavar: str | None = None

    def parse(self, value: Any) -> Any:
        """A value from text (a CLI flag, a form field, JSON) as this option's type; checked later."""
        if value is None or (self.optional and value == ""):
            return None
        if self.type is bool and isinstance(value, str):
            low = value.strip().lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise InputError(f"{self.flag} {value!r}: expected true or false")
            return low in ("1", "true", "yes", "on")
        if self.type in (int, float) and not isinstance(value, bool):
            try:
                num = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{self.flag} {value!r}: expected a number") from None
            if not math.isfinite(num):
                raise InputError(f"{self.flag} {value!r}: expected a finite number")
            if self.type is int:
                if num != int(num):
                    raise InputError(f"{self.flag} {value!r}: expected a whole number")
                return int(num)
            return num
        if self.type is str:
            return str(value)
        return value


def _base_type(hint) -> tuple[type, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else object), True
    if typing.get_origin(hint) in (tuple, list):
        return tuple, False
    return (hint if isinstance(hint, type) else object), False


@dataclass(frozen=True)
class Options:
    """Base of every operation's options: frozen, self-checking, JSON-able."""

    def __post_init__(self):
        for info in self.schema():
            value = getattr(self, info.name)
            if value is None:
                if not info.optional:
                    raise InputError(f"{info.flag}: a value is required")
                continue
            if info.type in (int, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                    raise InputError(f"{info.flag} {value!r}: expected a number")
                if info.type is int and value != int(value):
                    raise InputError(f"{info.flag} {value!r}: expected a whole number")
                lo, hi = info.min, info.max
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    rng = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else
                           f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
                    raise InputError(f"{info.flag} {value:g}: must be {rng}")
            if info.choices is not None and value not in info.choices:
                raise InputError(f"{info.flag} {value!r}: choose one of {', '.join(map(str, info.choices))}")
        self.check()

    def check(self) -> None:
        """Checks across fields, or that need more than a range; raise InputError."""

    @classmethod
    def schema(cls) -> list[OptionInfo]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            typ, optional = _base_type(hints[f.name])
            m = f.metadata
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out.append(OptionInfo(f.name, typ, optional, default, m.get("help", ""), m.get("min"), m.get("max"),
                                  m.get("choices"), m.get("flag") or "--" + f.name.replace("_", "-"),
                                  m.get("cli", True), m.get("metavar")))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None = None, **overrides: Any):
        """Options from plain data (JSON, a form, parsed flags): unknown keys are refused, text is parsed."""
        data = {**(data or {}), **overrides}
        infos = {i.name: i for i in cls.schema()}
        unknown = sorted(set(data) - set(infos))
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(infos)}")
        return cls(**{k: infos[k].parse(v) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

    def named_files(self) -> list[Path]:
        """Existing files that text options name (a source photo, a donor, a model, an effect file; a
        list split at commas or the path separator): inputs too, so no output may replace them."""
        out: list[Path] = []
        for info in self.schema():
            value = getattr(self, info.name)
            if info.type is not str or not isinstance(value, str) or not value.strip():
                continue
            for cand in (value, *re.split("[," + re.escape(os.pathsep) + "]", value)):
                p = Path(cand.strip())
                if cand.strip() and os.path.lexists(p) and p not in out:
                    out.append(p)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class OpResult:
    """What one call of an operation did to a frame."""

    image: np.ndarray  # HxWx3 uint8 BGR
    faces: int = 0  # faces edited
    skipped: list[str] = field(default_factory=list)  # faces left as they were, with the reason
    details: dict[str, Any] = field(default_factory=dict)  # op-specific figures for reports
    notes: list[str] = field(default_factory=list)  # about faces that were edited (glasses kept over the eyes)
    # Made only when asked for: a full-frame mask costs milliseconds a frame that video never needs.
    mask_of: Callable[[], np.ndarray] | None = None

    @property
    def warnings(self) -> list[str]:
        """What a user is told: the faces left alone, then the notes on edited ones."""
        return [*self.skipped, *self.notes]

    @property
    def mask(self) -> np.ndarray | None:
        """HxW uint8, 255 where pixels were replaced, when the op knows it."""
        return self.mask_of() if self.mask_of is not None else None


class Operation:
    """Base class of operations: subclasses set ``name``, ``Options`` and ``summary`` and implement
    ``apply``; ``__init__`` (the build step) loads what the op needs, once."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type[Options]] = Options

    def __init__(self, options: Options | None = None):
        self.options = options if options is not None else self.Options()

    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        raise NotImplementedError

    def __call__(self, frame: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.apply(frame, faces).image

    def reset(self) -> None:
        """Forget per-track state (a new video, a scene cut)."""

    def describe(self, result: OpResult) -> str:
        """A few words on what one call did, for progress lines."""
        n = result.faces
        return f"{n} face{'s' * (n != 1)}" + (f", {len(result.skipped)} left unchanged" if result.skipped else "")

    @property
    def spec(self) -> "OpSpec":
        return OpSpec(self.name, self.options.to_dict())

    def close(self) -> None:
        """Release models early (optional; garbage collection does it too)."""


@dataclass(frozen=True)
class OpSpec:
    """An operation named by plain data: build it anywhere with ``ops.build(spec)``."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"op": self.name, "options": self.options}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "OpSpec":
        try:
            data = json.loads(text)
            return cls(str(data["op"]), dict(data.get("options") or {}))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"not an operation spec ({type(e).__name__}: {e}); "
                             'expected {"op": NAME, "options": {...}}') from None

"""Forms from ``Options.schema()``: one description per option that the page renders, and the way back
from submitted form fields (and uploaded files) to an options dict. No per-operation code: any operation
in the registry, built-in or passed as ``Registry(extra=[...])``, gets its form from its options class.

Widgets, from the option alone:

* a number with both ``min`` and ``max`` -> ``range`` (a slider with its number beside it); otherwise
  ``number`` (with whatever bound it has);
* ``bool`` -> ``checkbox``; ``choices`` -> ``select``; ``str`` -> ``text``;
* a file: metavar PHOTO (or a name in ``FILE_NAMES``: donor, source, match, reference) -> an image
  upload; metavar ONNX -> an ``.onnx`` upload; the value sent to the operation is the path of the stored
  upload (generated name, never the user's);
* ``dict`` -> ``text`` of ``key=value, key=value`` pairs (numbers parsed);
* a few option *names* have a known value list (``SUGGEST``): ``parts`` -> checkboxes of the face parts,
  ``effect`` -> the built-in effects plus an effect-file upload (.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError
from ..ops.base import Operation, OptionInfo, Options

FILE_NAMES = frozenset({"donor", "source", "match", "reference"})
FILE_METAVARS = {"PHOTO": "image/*", "ONNX": ".onnx"}


def _parts() -> list[str]:
    from ..masks import PARTS

    return list(PARTS)


def _effects() -> list[str]:
    from ..effects.spec import builtin_names

    return list(builtin_names())


# option name -> (widget, values, file types accepted as an alternative)
SUGGEST: dict[str, tuple[str, Callable[[], list[str]], str | None]] = {
    "parts": ("multi", _parts, None),
    "effect": ("suggest", _effects, ".toml"),
}


def _num(v: Any) -> Any:
    return None if v is None else (int(v) if float(v).is_integer() else float(v))


def widget(info: OptionInfo) -> dict[str, Any]:
    """The page's description of one option (JSON-able)."""
    d: dict[str, Any] = {"name": info.name, "label": info.name.replace("_", " "), "help": info.help,
                         "optional": info.optional, "flag": info.flag, "type": info.type.__name__}
    default = info.default
    if isinstance(default, (tuple, list)):
        default = ",".join(map(str, default))
    elif isinstance(default, dict):
        default = ", ".join(f"{k}={v}" for k, v in default.items())
    d["default"] = default
    meta = (info.metavar or "").upper()
    if info.name in SUGGEST and info.type is str:
        kind, values, accept = SUGGEST[info.name]
        d.update(widget=kind, values=values(), accept=accept)
    elif info.type is str and (meta in FILE_METAVARS or info.name in FILE_NAMES):
        d.update(widget="file", accept=FILE_METAVARS.get(meta, "image/*"))
    elif info.choices is not None:
        d.update(widget="select", values=[str(c) for c in info.choices])
    elif info.type is bool:
        d.update(widget="checkbox")
    elif info.type in (int, float):
        d.update(widget="range" if info.min is not None and info.max is not None else "number",
                 min=_num(info.min), max=_num(info.max), step=1 if info.type is int else 0.01)
    else:
        d.update(widget="text")
    return d


def op_form(cls: type[Operation]) -> dict[str, Any]:
    return {"name": cls.name, "summary": cls.summary, "fields": [widget(i) for i in cls.Options.schema()]}


def _pairs(text: str, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.replace(";", ",").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} {item!r}: expected key=value")
        value = value.strip()
        try:
            num = float(value)
            out[key.strip()] = int(num) if num.is_integer() and "." not in value else num
        except ValueError:
            out[key.strip()] = {"true": True, "false": False}.get(value.lower(), value)
    return out


def parse_fields(options_cls: type[Options], fields: dict[str, str], files: dict[str, str],
                 prefix: str = "") -> dict[str, Any]:
    """Submitted form values -> an options dict for ``Options.from_dict`` (which checks them).

    ``fields``: field name -> text, as the page sends it (``prefix + option name``); a checkbox sends
    ``true``/``false``; an empty optional field means the default (None). ``files``: field name -> the path
    of the stored upload, which takes the place of the option's text."""
    out: dict[str, Any] = {}
    for info in options_cls.schema():
        key = prefix + info.name
        if key in files:
            out[info.name] = files[key]
            continue
        if key not in fields:
            continue
        raw = fields[key]
        if info.type is dict:
            out[info.name] = _pairs(raw, info.flag)
        elif raw.strip() == "" and (info.optional or info.type is not str):
            continue  # the default
        else:
            out[info.name] = raw
    return out

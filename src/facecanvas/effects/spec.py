"""Effect files: small declarative TOML that says which parts to erase, and what to paste back where.

A built-in effect and a user's effect are the same kind of file. Every problem is reported as one
``InputError`` that names the file, the field and what is wrong, e.g.
``comic.toml: paste[1].scale: must be a number > 0 and <= 4, got -1``.

Format (every field but ``paste.part`` / ``sticker.image`` / ``sticker.anchor`` is optional)::

    name = "comic"                          # default: the file's stem
    description = "one line for `facecanvas effects`"
    erase = ["brows", "eyes", "nose", "mouth"]   # parts erased first (default: all four; [] = none)
    max_yaw = 35                            # faces turned further are left as they are, with a warning
    donor = "other.jpg"                     # default donor photo for `source = "donor"` (relative path)

    [params]                                # tunable from the CLI (--set k=v) or Python (k=v)
    mouth_scale = 1.5

    [[paste]]                               # painted in file order, later ones on top
    part = "mouth"                          # or a list: each part is moved about its own centre
    source = "self"                         # "self" or "donor" (the donor photo's face: part transplant)
    anchor = "mouth"                        # where the part's centre goes (default: its own place)
    scale = "$mouth_scale"                  # "$name" takes a [params] value
    offset = [0.0, 0.06]                    # interocular units in the upright face, x right, y down
    spread = 0.0                            # move away from the face's midline (interocular units)
    rotate = 0.0                            # degrees, counter-clockwise as seen
    blend = "poisson"                       # poisson (seamless), mixed (keep the target's texture), alpha
    opacity = 1.0
    shading = 1.0                           # poisson: the share of the shading difference to the blank face
                                            # around it the part takes; the blank bends to meet it for the rest

    [[sticker]]                             # any RGBA picture, following the head (drawn after parts)
    image = "star.png"                      # relative to this file
    anchor = "forehead"                     # a part, a named point or a mesh landmark index (0-477)
    width = 0.8                             # interocular units
    offset = [0.0, 0.0]
    rotate = 0.0
    blend = "alpha"                         # alpha, multiply, poisson, mixed
    opacity = 1.0
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..masks import PARTS
from ..media.names import display_path
from ..media.safe_open import read_input
from .geometry import ANCHORS, PASTE_PARTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
PASTE_BLENDS = ("poisson", "mixed", "alpha")
STICKER_BLENDS = ("alpha", "multiply", "poisson", "mixed")
SOURCES = ("self", "donor")
_TOP_FIELDS = ("name", "description", "erase", "max_yaw", "donor", "params", "paste", "sticker")
_PASTE_FIELDS = ("part", "source", "anchor", "scale", "offset", "spread", "rotate", "blend", "opacity", "shading")
_STICKER_FIELDS = ("image", "anchor", "width", "offset", "rotate", "blend", "opacity")
MAX_STRENGTH = 2.0


@dataclass(frozen=True)
class Paste:
    """One part moved onto the blank face (all numbers already scaled by the strength)."""

    part: str
    source: str = "self"
    anchor: str | int | None = None
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)
    spread: float = 0.0
    rotate: float = 0.0
    blend: str = "poisson"
    opacity: float = 1.0
    shading: float = 1.0  # poisson: share of the shading difference to the blank face the part takes on


@dataclass(frozen=True)
class Sticker:
    image: Path
    anchor: str | int
    width: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0
    blend: str = "alpha"
    opacity: float = 1.0


@dataclass(frozen=True)
class Resolved:
    """An effect with its parameters filled in and its strength applied."""

    name: str
    erase: tuple[str, ...]
    max_yaw: float
    strength: float
    pastes: tuple[Paste, ...]
    stickers: tuple[Sticker, ...]
    donor: Path | None

    @property
    def needs_donor(self) -> bool:
        return any(p.source == "donor" for p in self.pastes)


@dataclass(frozen=True)
class EffectSpec:
    """An effect file as written (parameter references not yet filled in)."""

    name: str
    description: str
    origin: str  # the file, for messages
    erase: tuple[str, ...]
    max_yaw: float
    donor: Path | None
    params: dict[str, Any]
    pastes: tuple[dict, ...]
    stickers: tuple[dict, ...]
    base_dir: Path | None = None
    text: str = field(default="", repr=False)

    def resolve(self, strength: float = 1.0, **overrides: Any) -> Resolved:
        return resolve(self, strength, overrides)


class _Fail:
    """Builds the one-line errors: ``FILE: FIELD: what is wrong``."""

    def __init__(self, origin: str):
        self.origin = origin

    def __call__(self, where: str, what: str) -> InputError:
        return InputError(f"{self.origin}: {where}: {what}" if where else f"{self.origin}: {what}")


# ----------------------------------------------------------------------------------------- loading

def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def find_effect(name_or_path: str | Path) -> Path:
    """A built-in name (``comic``) or the path of a user's ``.toml`` file."""
    text = str(name_or_path)
    builtin = BUILTIN_DIR / f"{text}.toml"
    if "/" not in text and "\\" not in text and not text.endswith(".toml") and builtin.is_file():
        return builtin
    p = Path(text)
    if p.suffix.lower() == ".toml" or p.exists():
        if not p.exists():
            raise InputError(f"{display_path(p)}: effect file not found")
        return p  # read_input says what is wrong with a folder, a pipe or a device
    raise InputError(f"unknown effect {text!r}: built-in effects are {', '.join(builtin_names())}, "
                     "or give the path of an effect .toml file")


MAX_EFFECT_BYTES = 1 << 20  # an effect file is a page of TOML; 1 MB is far past any real one


def load_effect(name_or_path: str | Path) -> EffectSpec:
    """Load and check a built-in effect or a user's effect file."""
    path = find_effect(name_or_path)
    data = read_input(path, max_bytes=MAX_EFFECT_BYTES, what="an effect file")  # regular files, bounded
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{display_path(path)}: cannot read effect file ({e})") from e
    try:
        data = tomllib.loads(text)
        spec = parse_effect(data, origin=str(path), base_dir=path.parent, default_name=path.stem)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})") from e
    except RecursionError:  # tomllib (and any repr of the value) recurse once per nesting level
        raise InputError(f"{path}: not a usable effect file: arrays or tables are nested too deeply") from None
    return EffectSpec(**{**spec.__dict__, "text": text})


def parse_effect(data: dict, origin: str = "<effect>", base_dir: Path | None = None,
                 default_name: str = "effect") -> EffectSpec:
    """Check a parsed effect table (from TOML, or built in Python) and return it as an EffectSpec."""
    fail = _Fail(origin)
    if not isinstance(data, dict):
        raise fail("", "an effect must be a table")
    _no_unknown(data, _TOP_FIELDS, "", fail)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise fail("name", f"must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be a string, got {description!r}")
    erase = data.get("erase", list(PARTS))
    if not isinstance(erase, list) or not all(isinstance(p, str) for p in erase):
        raise fail("erase", f"must be a list of part names ({', '.join(PARTS)}), got {erase!r}")
    bad = [p for p in erase if p not in PARTS]
    if bad:
        raise fail("erase", f"unknown part {bad[0]!r}; choose from {', '.join(PARTS)}")
    max_yaw = _number(data.get("max_yaw", 35.0), "max_yaw", fail, lo=0.0, hi=90.0)
    donor = data.get("donor")
    if donor is not None:
        if not isinstance(donor, str) or not donor:
            raise fail("donor", f"must be a file path, got {donor!r}")
        donor = (base_dir / donor) if base_dir is not None and not Path(donor).is_absolute() else Path(donor)
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise fail("params", "must be a table of name = value")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise fail(f"params.{k}", f"must be a number or a string, got {v!r}")
        if k == "strength":
            raise fail("params.strength", "'strength' is reserved: every effect has it")
    pastes = _table_list(data, "paste", fail)
    stickers = _table_list(data, "sticker", fail)
    for i, p in enumerate(pastes):
        _no_unknown(p, _PASTE_FIELDS, f"paste[{i}]", fail)
        if "part" not in p:
            raise fail(f"paste[{i}]", f"'part' is missing (one of {', '.join(PASTE_PARTS)})")
    for i, s in enumerate(stickers):
        _no_unknown(s, _STICKER_FIELDS, f"sticker[{i}]", fail)
        for need in ("image", "anchor"):
            if need not in s:
                raise fail(f"sticker[{i}]", f"'{need}' is missing")
    spec = EffectSpec(name.strip(), description.strip(), origin, tuple(erase), max_yaw, donor,
                      dict(params), tuple(pastes), tuple(stickers), base_dir)
    resolve(spec, 1.0, {})  # every field checked with the default parameters, files included
    return spec


def _table_list(data: dict, key: str, fail: _Fail) -> list[dict]:
    items = data.get(key, [])
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        raise fail(key, f"must be a list of tables ([[{key}]] in TOML)")
    return items


def _no_unknown(table: dict, known: tuple[str, ...], where: str, fail: _Fail) -> None:
    for k in table:
        if k not in known:
            at = f"{where}.{k}" if where else k
            raise fail(at, f"unknown field; known fields: {', '.join(known)}")


# ----------------------------------------------------------------------------------------- resolving

def _number(v: Any, where: str, fail: _Fail, lo: float, hi: float, lo_open: bool = False,
            note: str = "") -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise fail(where, f"must be a number, got {v!r}{note}")
    if v < lo or v > hi or (lo_open and v == lo):
        rng = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise fail(where, f"must be a number {rng} and <= {hi:g}, got {v:g}{note}")
    return float(v)


def coerce_overrides(spec: EffectSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Check overrides against the declared parameters; CLI strings become numbers where needed."""
    out = {}
    for k, v in overrides.items():
        if k not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            raise InputError(f"{spec.origin}: unknown parameter {k!r} for effect {spec.name!r} "
                             f"(its parameters: {known})")
        default = spec.params[k]
        if isinstance(default, (int, float)) and isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise InputError(f"{spec.origin}: params.{k}: must be a number, got {v!r}") from None
        out[k] = v
    return out


def resolve(spec: EffectSpec, strength: float = 1.0, overrides: dict[str, Any] | None = None) -> Resolved:
    """Fill in parameters, check every value, and scale the geometry by ``strength`` (0 = unchanged)."""
    fail = _Fail(spec.origin)
    strength = _number(strength, "strength", fail, 0.0, MAX_STRENGTH)
    params = {**spec.params, **coerce_overrides(spec, overrides or {})}
    t = strength

    def val(table: dict, key: str, where: str, default: Any) -> tuple[Any, str]:
        v = table.get(key, default)
        if isinstance(v, str) and v.startswith("$"):
            name = v[1:]
            if name not in params:
                raise fail(where, f"refers to ${name}, which is not in [params]")
            return params[name], f" (from parameter {name})"
        return v, ""

    def num(table, key, where, default, lo, hi, lo_open=False):
        v, note = val(table, key, where, default)
        return _number(v, where, fail, lo, hi, lo_open, note)

    def pair(table, key, where):
        v, note = val(table, key, where, [0.0, 0.0])
        if not isinstance(v, list) or len(v) != 2:
            raise fail(where, f"must be [x, y] (interocular units), got {v!r}{note}")
        out = []
        for i, x in enumerate(v):
            x, inner = val({"x": x}, "x", f"{where}[{i}]", None)
            out.append(_number(x, f"{where}[{i}]", fail, -3.0, 3.0, note=inner or note))
        return tuple(out)

    def choice(table, key, where, default, options):
        v, note = val(table, key, where, default)
        if v not in options:
            raise fail(where, f"must be one of {', '.join(map(str, options))}, got {v!r}{note}")
        return v

    def anchor(table, key, where, default):
        v, note = val(table, key, where, default)
        if v is None:
            return None
        if isinstance(v, bool) or not (isinstance(v, str) and v in ANCHORS or
                                       isinstance(v, int) and 0 <= v < 478):
            raise fail(where, f"unknown anchor {v!r}{note}; use a mesh landmark index 0-477 or one of "
                       f"{', '.join(ANCHORS)}")
        return v

    pastes = []
    for i, p in enumerate(spec.pastes):
        w = f"paste[{i}]"
        parts, note = val(p, "part", f"{w}.part", None)
        parts = parts if isinstance(parts, list) else [parts]
        for part in parts:
            if not isinstance(part, str) or part not in PASTE_PARTS:
                raise fail(f"{w}.part", f"unknown part {part!r}{note}; choose from {', '.join(PASTE_PARTS)}")
        if not parts:
            raise fail(f"{w}.part", "is an empty list")
        source = choice(p, "source", f"{w}.source", "self", SOURCES)
        scale = num(p, "scale", f"{w}.scale", 1.0, 0.0, 4.0, lo_open=True)
        off = pair(p, "offset", f"{w}.offset")
        spread = num(p, "spread", f"{w}.spread", 0.0, -2.0, 2.0)
        rot = num(p, "rotate", f"{w}.rotate", 0.0, -360.0, 360.0)
        blend = choice(p, "blend", f"{w}.blend", "poisson", PASTE_BLENDS)
        opacity = num(p, "opacity", f"{w}.opacity", 1.0, 0.0, 1.0)
        shading = num(p, "shading", f"{w}.shading", 1.0, 0.0, 1.0)
        anc = anchor(p, "anchor", f"{w}.anchor", None)
        if anc is not None and len(parts) > 1:
            raise fail(f"{w}.anchor", "a list of parts moves each about its own centre; give one part "
                       "per [[paste]] to send it to an anchor")
        for part in parts:
            pastes.append(Paste(part, source, anc, 1.0 + t * (scale - 1.0), (t * off[0], t * off[1]),
                                t * spread, t * rot, blend,
                                opacity * (min(t, 1.0) if source == "donor" else 1.0), shading))
    stickers = []
    for i, s in enumerate(spec.stickers):
        w = f"sticker[{i}]"
        image, note = val(s, "image", f"{w}.image", None)
        if not isinstance(image, str) or not image:
            raise fail(f"{w}.image", f"must be the path of an image file, got {image!r}{note}")
        path = Path(image)
        if not path.is_absolute() and spec.base_dir is not None:
            path = spec.base_dir / path
        if not path.is_file():
            raise fail(f"{w}.image", f"sticker image not found: {path}")
        stickers.append(Sticker(path, anchor(s, "anchor", f"{w}.anchor", None),
                                num(s, "width", f"{w}.width", 1.0, 0.0, 10.0, lo_open=True),
                                pair(s, "offset", f"{w}.offset"),
                                num(s, "rotate", f"{w}.rotate", 0.0, -360.0, 360.0),
                                choice(s, "blend", f"{w}.blend", "alpha", STICKER_BLENDS),
                                num(s, "opacity", f"{w}.opacity", 1.0, 0.0, 1.0) * min(t, 1.0)))
    return Resolved(spec.name, spec.erase, spec.max_yaw, strength, tuple(pastes), tuple(stickers), spec.donor)


def list_effects() -> list[tuple[str, str]]:
    """(name, description) of every built-in effect."""
    return [(s.name, s.description) for s in (load_effect(n) for n in builtin_names())]

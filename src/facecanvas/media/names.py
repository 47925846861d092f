"""File names as users see them, and the hidden names the writers use beside an output.

- ``display_path(p)``: a path as one printable line: bytes that are not UTF-8 (the surrogate escapes
  Python gives them) show as ``\\xNN``, newlines, tabs and other control characters as escapes. So a
  name can never make a print fail (UnicodeEncodeError) or split a one-line message.
- ``one_line(text)``: the same for a whole message (which may already contain raw names).
- ``sibling(p, prefix, tag)``: a hidden temporary name in ``p``'s folder that stays within the file
  system's 255-byte name limit however long ``p``'s own name is (up to that limit).
- ``is_video_path(p)``: a video file by its name (``INPUT_VIDEO_EXTS``; ``VIDEO_EXTS`` are those written).
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path

# Video containers by name (here, not in video_io: the CLI checks names before PyAV and numpy are loaded).
VIDEO_EXTS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")  # what we write
INPUT_VIDEO_EXTS = VIDEO_EXTS + (".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".3gp", ".wmv", ".flv", ".ogv")
NAME_MAX = 255  # bytes in one path component on Linux, macOS and Windows file systems

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # os.fsdecode's surrogateescape for a byte that is not UTF-8
        return f"\\x{o - 0xDC00:02x}"
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    cat = unicodedata.category(ch)
    # Controls, line/paragraph separators, bidi overrides and other format characters (the zero-width
    # joiner of emoji sequences aside), unassigned and private-use code points.
    if cat in ("Cc", "Cs", "Cn", "Co", "Zl", "Zp") or (cat == "Cf" and ch != "\u200d"):
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"
    return ch


def one_line(text: object) -> str:
    """``text`` as one printable line: control characters and undecodable bytes escaped."""
    s = os.fsdecode(text) if isinstance(text, bytes) else str(text)
    if s.isprintable() and s.isascii():
        return s
    return "".join(_escape_char(c) for c in s)


def display_path(path: str | os.PathLike | bytes) -> str:
    """A path for messages and progress lines: always printable, always one line."""
    return one_line(os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path))


def name_bytes(name: str) -> int:
    return len(os.fsencode(name))


def _fit(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose file-system encoding has at most ``budget`` bytes."""
    if name_bytes(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if name_bytes(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def sibling(path: Path, tag: str, keep_suffix: bool = False) -> Path:
    """A hidden, random name beside ``path``: ``.NAME.1a2b3c4d.TAG`` (or ``...TAG.EXT`` with
    ``keep_suffix``, so a muxer can still tell the format), shortened to fit in 255 bytes."""
    suffix = path.suffix if keep_suffix else ""
    stem = path.stem if keep_suffix else path.name
    tail = f".{secrets.token_hex(4)}.{tag}{suffix}"
    budget = NAME_MAX - 1 - name_bytes(tail)  # 1 for the leading dot
    return path.with_name(f".{_fit(stem, budget)}{tail}")


def fitting_name(path: Path, insert: str) -> Path:
    """``a.mp4`` -> ``a{insert}.mp4``, the stem shortened when the name would pass 255 bytes."""
    budget = NAME_MAX - name_bytes(insert + path.suffix)
    return path.with_name(f"{_fit(path.stem, budget)}{insert}{path.suffix}")


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in INPUT_VIDEO_EXTS

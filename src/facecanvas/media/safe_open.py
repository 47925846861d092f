"""One way to open an input file: regular files only, never blocking, with a size bound.

``read_input(path, max_bytes)`` follows symlinks to what they name, refuses anything that is not a
regular file (a named pipe would block forever, ``/dev/zero`` or ``/dev/urandom`` would be read
without end), opens with ``O_NONBLOCK`` (so a file swapped for a pipe between the check and the open
cannot block either), checks the opened file again, and reads at most ``max_bytes``. Every problem is
a one-line InputError that names the file. ``check_input(path)`` does the same checks without reading,
for inputs that a library opens itself (videos through FFmpeg).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError
from .names import display_path

__all__ = ["read_input", "check_input", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: far above any 80 MP photo, far below "all of memory"

_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0")


def _fail(path: Path, reason: str) -> InputError:
    return InputError(f"cannot read {display_path(path)}: {reason}")


def _check_mode(path: Path, st: os.stat_result, what: str) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise _fail(path, f"is a directory, not {what}")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _fail(path, f"is {kind}, not a regular file (only regular files are read)")


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)  # follows symlinks: what counts is the file they name
    except FileNotFoundError:
        if os.path.lexists(path):
            raise _fail(path, "no such file (a broken symbolic link)") from None
        raise _fail(path, "no such file") from None
    except (OSError, ValueError) as e:  # ValueError: an embedded NUL byte
        raise _fail(path, getattr(e, "strerror", None) or str(e)) from None


def check_input(path: str | os.PathLike, what: str = "a file", max_bytes: int | None = None) -> int:
    """Raise InputError unless ``path`` is a readable, non-empty regular file; returns its size."""
    p = Path(path)
    st = _stat(p)
    _check_mode(p, st, what)
    if st.st_size == 0:
        raise _fail(p, "file is empty (0 bytes)")
    if max_bytes is not None and st.st_size > max_bytes:
        raise _fail(p, f"file is too large ({_mb(st.st_size)} MB > {_mb(max_bytes)} MB limit)")
    if not os.access(p, os.R_OK):
        raise _fail(p, "Permission denied")
    return st.st_size


def read_input(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, what: str = "a file") -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` of them, or a one-line InputError."""
    p = Path(path)
    _check_mode(p, _stat(p), what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as e:
        raise _fail(p, getattr(e, "strerror", None) or str(e)) from None
    try:
        st = os.fstat(fd)
        _check_mode(p, st, what)  # the file opened is the file checked, even if it was swapped meanwhile
        if st.st_size > max_bytes:
            raise _fail(p, f"file is too large ({_mb(st.st_size)} MB > {_mb(max_bytes)} MB limit)")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 24, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise _fail(p, f"file is too large (over the {_mb(max_bytes)} MB limit)")
    except OSError as e:
        raise _fail(p, e.strerror or str(e)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data:
        raise _fail(p, "file is empty (0 bytes)")
    return data

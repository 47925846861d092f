"""Checks for outputs, made before anything is written.

``check_outputs(paths, overwrite=..., protected=...)`` looks at every output of one job (the photo and
its ``_mask.png``, say) and raises one OutputError (exit 4) naming the first that cannot be written:
unknown extension, an input file (``protected``), a folder, an existing file without ``overwrite``, the
same path twice, a name past 255 bytes, or a folder that cannot be created or written. A command calls
it for a job before writing the job's first file, so a job writes all of its files or none.

The writers (``image_io.save_image``, ``video_io.VideoWriter``) run the same checks on their own file.
``write_atomic(p, data)`` is the one way bytes reach a final name: a hidden sibling, fsync, rename.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import OutputError
from .names import NAME_MAX, VIDEO_EXTS, display_path, name_bytes, one_line, sibling

__all__ = ["check_outputs", "check_output", "same_file", "writable_exts", "write_atomic"]


def writable_exts() -> tuple[str, ...]:
    from .image_io import _WRITE_EXTS

    return _WRITE_EXTS + VIDEO_EXTS


def same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():  # also catches symlinks pointing at the input
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive file systems
    except (OSError, ValueError):
        return False


def _fail(p: Path, reason: str) -> OutputError:
    return OutputError(one_line(f"cannot write {display_path(p)}: {reason}"))


def _check_folder(p: Path) -> None:
    """The nearest existing folder above ``p`` must be a folder we may create files in."""
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if os.path.lexists(probe) and not os.path.isdir(probe):
        raise _fail(p, f"{display_path(probe)} is a file, not a folder")
    if os.path.isdir(probe) and not os.access(probe, os.W_OK | os.X_OK):
        what = "folder is not writable" if probe == parent else f"cannot create a folder in {display_path(probe)}"
        raise _fail(p, f"{what} (permission denied)")


def check_output(p: str | os.PathLike, *, overwrite: bool = False, protected: Iterable[os.PathLike] = (),
                 exts: tuple[str, ...] | None = None, kind: str = "") -> Path:
    """One output; see ``check_outputs``. ``exts``: the extensions allowed (default: every one we write)."""
    p = Path(p)
    exts = exts or writable_exts()
    ext = p.suffix.lower()
    if ext not in exts:
        raise _fail(p, f"unknown {kind + ' ' if kind else ''}extension {ext or '(none)'!r} "
                       f"(use one of {', '.join(exts)})")
    if name_bytes(p.name) > NAME_MAX:
        raise _fail(p, f"the file name is longer than {NAME_MAX} bytes")
    if any(same_file(p, Path(q)) for q in protected):
        raise _fail(p, "it is an input file; outputs never overwrite inputs")
    if os.path.isdir(p):
        raise _fail(p, "is a directory")
    if os.path.lexists(p) and not overwrite:
        raise _fail(p, "file already exists (use --overwrite to replace it)")
    _check_folder(p)
    return p


def check_outputs(paths: Iterable[str | os.PathLike], *, overwrite: bool = False,
                  protected: Iterable[os.PathLike] = ()) -> list[Path]:
    """Check every output of one job before any is written; raise OutputError for the first bad one.

    ``protected``: the input files (never written, even with ``overwrite``). Returns the paths.
    """
    protected = [Path(q) for q in protected]
    done: list[Path] = []
    for p in map(Path, paths):
        if any(same_file(p, q) or p == q for q in done):
            raise _fail(p, "the same file would be written twice by one job")
        check_output(p, overwrite=overwrite, protected=protected)
        done.append(p)
    return done


def write_atomic(p: Path, data: bytes) -> Path:
    """Write ``data`` to ``p`` (already checked) so readers see the old file or the new one, never half:
    a hidden sibling in the same folder (within the 255-byte name limit), fsync, then an atomic rename.
    (A file created by someone else between the check and the rename would still be replaced.)"""
    p = Path(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _fail(p, f"cannot create folder ({e.strerror or e})") from e
    tmp = sibling(p, "tmp")
    created = False
    try:
        # os.open with 0o666 lets the umask decide permissions (mkstemp would force 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        created = True
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        if created:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass  # the real error below matters more than a leftover we cannot remove
        if isinstance(e, OSError):
            raise _fail(p, e.strerror or str(e)) from e
        raise
    return p

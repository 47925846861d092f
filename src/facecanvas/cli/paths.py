"""Expand inputs (files, folders, globs) and plan where each output goes."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import InputError, OutputError
from ..media.image_io import IMAGE_EXTS
from ..media.names import display_path
from ..media.names import VIDEO_EXTS



def _names_a_folder(output: str) -> bool:
    """``-o out/`` (a trailing separator) or an existing folder: always a folder, whatever its name."""
    return output.endswith(("/", os.sep)) or os.path.isdir(output)  # isdir: False for a 256-byte name


def _unwritable_suffix(output: str, exts: tuple[str, ...], kind: str) -> OutputError | None:
    """``-o out.xyz`` / ``-o out.gif`` / a video to ``-o out.png``: an extension we cannot write is an
    error, never silently a folder of that name."""
    suffix = Path(output).suffix
    if not suffix or _names_a_folder(output) or suffix.lower() in exts:
        return None
    other = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"} | set(VIDEO_EXTS)
    hint = f"; a {kind} cannot be written as {suffix}" if suffix.lower() in other else ""
    return OutputError(f"{display_path(output)}: cannot write {suffix!r} files{hint} (use one of "
                       f"{', '.join(exts)}, or end the name with / for a folder)")


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, folders as their images (sorted, not recursive), globs expanded."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        # os.path.isdir/exists, not Path's: those raise for a name past 255 bytes (ENAMETOOLONG).
        if os.path.isdir(p):
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS and os.path.isfile(q))
            if not found:
                raise InputError(f"{display_path(item)}: folder has no images ({', '.join(IMAGE_EXTS)})")
            out += found
        elif any(c in item for c in "*?[") and not os.path.lexists(p):
            found = sorted(Path(m) for m in glob.glob(item) if Path(m).suffix.lower() in IMAGE_EXTS)
            if not found:
                raise InputError(f"{display_path(item)}: pattern matches no images")
            out += found
        else:
            out.append(p)  # a missing file is reported by the loader, per file, so a batch goes on
    return list(dict.fromkeys(out))


def plan_outputs(inputs: list[Path], output: str, suffix: str = "") -> list[Path]:
    """One output path per input.

    A single input with ``-o name.ext`` writes that file; otherwise ``-o`` is a folder and each result
    keeps its input's name (plus ``suffix``). Two inputs with the same name are refused, not overwritten.
    """
    out = Path(output)
    bad = _unwritable_suffix(output, IMAGE_EXTS, "photo")
    if bad is not None:
        raise bad
    as_file = out.suffix.lower() in IMAGE_EXTS and not _names_a_folder(output)
    if as_file and len(inputs) == 1:
        return [out]
    if as_file:
        raise OutputError(f"{display_path(output)}: several inputs need an output folder, not a file name")
    plans = [out / f"{p.stem}{suffix}{p.suffix.lower() or '.png'}" for p in inputs]
    dupes = {str(p) for p in plans if plans.count(p) > 1}
    if dupes:
        raise OutputError(f"several inputs would write the same output: "
                          f"{', '.join(display_path(d) for d in sorted(dupes))}")
    return plans


def plan_video_outputs(inputs: list[Path], output: str) -> list[Path]:
    """One output video per input: ``-o name.mp4`` for one input, else a folder keeping the names
    (inputs in a container we do not write become ``.mp4``). An extension we cannot write is refused."""
    out = Path(output)
    bad = _unwritable_suffix(output, VIDEO_EXTS, "video")
    if bad is not None:
        raise bad
    as_file = out.suffix.lower() in VIDEO_EXTS and not _names_a_folder(output)
    if len(inputs) == 1 and as_file:
        return [out]
    if as_file:
        raise OutputError(f"{display_path(output)}: several inputs need an output folder, not a file name")
    # In a folder, each output keeps its input's name; inputs we cannot write as such become .mp4.
    plans = [out / (p.name if p.suffix.lower() in VIDEO_EXTS else p.stem + ".mp4") for p in inputs]
    dupes = {str(p) for p in plans if plans.count(p) > 1}
    if dupes:
        raise OutputError(f"several inputs would write the same output: "
                          f"{', '.join(display_path(d) for d in sorted(dupes))}")
    return plans


def sidecar(path: Path, tag: str, ext: str = ".png") -> Path:
    """``out/a.jpg`` -> ``out/a_mask.png``."""
    return path.with_name(f"{path.stem}_{tag}{ext}")


"""Expand inputs (files, folders, globs) and plan where each output goes."""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import InputError, OutputError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, folders as their images (sorted, not recursive), globs expanded."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS and q.is_file())
            if not found:
                raise InputError(f"{item}: folder has no images ({', '.join(IMAGE_EXTS)})")
            out += found
        elif any(c in item for c in "*?[") and not p.exists():
            found = sorted(Path(m) for m in glob.glob(item) if Path(m).suffix.lower() in IMAGE_EXTS)
            if not found:
                raise InputError(f"{item}: pattern matches no images")
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
    as_file = len(inputs) == 1 and out.suffix.lower() in IMAGE_EXTS and not out.is_dir()
    if as_file:
        return [out]
    if out.suffix.lower() in IMAGE_EXTS and not out.is_dir():
        raise OutputError(f"{output}: several inputs need an output folder, not a file name")
    plans = [out / f"{p.stem}{suffix}{p.suffix.lower() or '.png'}" for p in inputs]
    dupes = {str(p) for p in plans if plans.count(p) > 1}
    if dupes:
        raise OutputError(f"several inputs would write the same output: {', '.join(sorted(dupes))}")
    return plans


def sidecar(path: Path, tag: str, ext: str = ".png") -> Path:
    """``out/a.jpg`` -> ``out/a_mask.png``."""
    return path.with_name(f"{path.stem}_{tag}{ext}")

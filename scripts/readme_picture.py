"""Shared by the README-picture scripts: run the real command line on a photo, write the JPEG."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run_cli(command: str, photo: np.ndarray, *args: str) -> np.ndarray | None:
    """``facecanvas COMMAND photo.png -o out.png ARGS`` on a temporary copy of ``photo`` (BGR); the output
    image, or None (the command's stderr is printed either way)."""
    from facecanvas.media.image_io import load_image

    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "astronaut.png", Path(d) / "out.png"
        cv2.imwrite(str(inp), photo)
        r = subprocess.run([sys.executable, "-m", "facecanvas.cli.main", command, str(inp), "-o", str(out), *args],
                           capture_output=True, text=True, cwd=REPO)
        print(r.stderr.strip(), file=sys.stderr)
        return load_image(out).bgr if r.returncode == 0 else None


def write_jpeg(path: str | Path, pic: np.ndarray, quality: int) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), pic, [cv2.IMWRITE_JPEG_QUALITY, quality])
    kb = Path(path).stat().st_size // 1024
    print(f"wrote {path} ({pic.shape[1]}x{pic.shape[0]}, {kb} KB)", file=sys.stderr)

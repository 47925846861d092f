"""``facecanvas demo``: the eraser on the bundled public-domain astronaut photo."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from ..eraser import erase
from ..media.image_io import save_image
from .common import add_overwrite

HELP = "erase the bundled astronaut photo (NASA, public domain) and write before/after pictures"


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help=HELP, description=HELP + ".\n\nexample:\n  facecanvas demo -o demo_out",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="demo_out", help="output folder (default: %(default)s)")
    add_overwrite(p)
    p.set_defaults(run=run)


def before_after(before: np.ndarray, after: np.ndarray, labels=("before", "after")) -> np.ndarray:
    """Side-by-side picture with labels."""
    tiles = []
    for img, text in zip((before, after), labels):
        t = img.copy()
        cv2.putText(t, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(t, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(t)
    gap = np.full((before.shape[0], 6, 3), 255, np.uint8)
    return np.hstack([tiles[0], gap, tiles[1]])


def run(args: argparse.Namespace) -> int:
    from skimage.data import astronaut

    src = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    result = erase(src)
    out = Path(args.output)
    y0, y1, x0, x1 = 0, 300, 100, 380  # the head, for a close-up
    files = {
        "astronaut.png": src,
        "astronaut_blank.png": result.image,
        "astronaut_mask.png": result.mask,
        "astronaut_before_after.png": before_after(src, result.image),
        "astronaut_closeup.png": cv2.resize(before_after(src[y0:y1, x0:x1], result.image[y0:y1, x0:x1]),
                                            None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC),
    }
    for name, img in files.items():
        save_image(out / name, img, overwrite=args.overwrite)
    print(f"erased {len(result.faces)} face(s); wrote {', '.join(str(out / n) for n in files)}")
    return 0

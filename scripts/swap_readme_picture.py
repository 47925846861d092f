"""The README's face-swap picture, made by the tool from two licence-clean photos.

    .venv/bin/python scripts/swap_readme_picture.py [-o docs/images/swap_public_domain.jpg]

- source: Grace Hopper (official U.S. Navy portrait, public domain), shipped with matplotlib as
  ``mpl-data/sample_data/grace_hopper.jpg``;
- target: the astronaut Eileen Collins (NASA, public domain), ``skimage.data.astronaut()``, the photo
  ``facecanvas demo`` uses.

It runs the command line itself, ``facecanvas swap astronaut.png --source grace_hopper.jpg -o out.png``
(the defaults), then writes the two heads and the result side by side (JPEG). No shared (research) data
is used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from readme_picture import REPO, run_cli, write_jpeg  # scripts/readme_picture.py
HEIGHT = 330


def _label(img: np.ndarray, text: str) -> np.ndarray:
    t = img.copy()
    for colour, width in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(t, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, width, cv2.LINE_AA)
    return t


def _tile(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = img[y0:y1, x0:x1]
    return cv2.resize(crop, (round(crop.shape[1] * HEIGHT / crop.shape[0]), HEIGHT), interpolation=cv2.INTER_CUBIC)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default=str(REPO / "docs" / "images" / "swap_public_domain.jpg"))
    p.add_argument("--quality", type=int, default=88)
    a = p.parse_args()
    import matplotlib
    from skimage.data import astronaut

    from facecanvas.media.image_io import load_image

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    target = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    swapped = run_cli("swap", target, "--source", str(hopper))
    if swapped is None:
        return 1
    head = (130, 20, 330, 265)  # the astronaut's head
    tiles = [_label(_tile(load_image(hopper).bgr, (40, 40, 360, 430)), "source"),
             _label(_tile(target, head), "target"), _label(_tile(swapped, head), "swap")]
    gap = np.full((HEIGHT, 6, 3), 255, np.uint8)
    write_jpeg(a.output, np.hstack([tiles[0], gap, tiles[1], gap, tiles[2]]), a.quality)
    return 0


if __name__ == "__main__":
    sys.exit(main())

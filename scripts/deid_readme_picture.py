"""The README's de-identification picture, made by the tool from a licence-clean photo.

    .venv/bin/python scripts/deid_readme_picture.py [-o docs/images/deid_astronaut.jpg] [--key readme]

The photo is scikit-image's astronaut (Eileen Collins, NASA, public domain; ``skimage.data.astronaut()``,
the photo ``facecanvas demo`` uses). It runs the command line itself, ``facecanvas deid astronaut.png -o
anon.png --key KEY`` (its defaults: a synthetic identity, SFace verification), then writes the head,
before | after, side by side (2x, JPEG). No shared (research) data is used.
"""

from __future__ import annotations

import argparse
import sys

import cv2

from readme_picture import REPO, run_cli, write_jpeg  # scripts/readme_picture.py


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default=str(REPO / "docs" / "images" / "deid_astronaut.jpg"))
    p.add_argument("--key", default="readme")
    p.add_argument("--quality", type=int, default=88)
    a = p.parse_args()
    from skimage.data import astronaut

    from facecanvas.cli.demo_cmd import before_after

    src = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    anon = run_cli("deid", src, "--key", a.key)
    if anon is None:
        return 1
    y0, y1, x0, x1 = 0, 300, 100, 380  # the head, as `facecanvas demo`'s close-up
    pic = before_after(src[y0:y1, x0:x1], anon[y0:y1, x0:x1], labels=("before", "after (deid)"))
    write_jpeg(a.output, cv2.resize(pic, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), a.quality)
    return 0


if __name__ == "__main__":
    sys.exit(main())

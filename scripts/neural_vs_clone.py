#!/usr/bin/env python
"""The README's clone-vs-neural picture: the public-domain astronaut (skimage) erased by both fills.

    .venv/bin/python scripts/neural_vs_clone.py -o docs/images/astronaut_clone_vs_neural.jpg
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="docs/images/astronaut_clone_vs_neural.jpg")
    a = ap.parse_args()
    from skimage.data import astronaut

    from facecanvas import FaceAnalyzer, erase
    from facecanvas.inpaint import get_fill

    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    with FaceAnalyzer() as analyzer:
        faces = analyzer.detect(img)
    panels = [("original", img), ("clone (default)", erase(img, faces=faces).image),
              ("neural (compact model)", erase(img, faces=faces, method=get_fill("neural")).image)]
    tiles = []
    for name, picture in panels:
        tile = cv2.resize(picture[40:280, 130:330], None, fx=1.5, fy=1.5, interpolation=cv2.INTER_AREA)
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(tile, name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.65, colour, width, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(a.output, np.hstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

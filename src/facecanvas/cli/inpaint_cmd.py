"""``facecanvas inpaint``: fill any mask with the eraser's fill."""

from __future__ import annotations

import argparse

import cv2

from ..errors import InputError
from ..inpaint import METHODS, inpaint
from ..media.image_io import load_image, save_result
from .common import add_overwrite

HELP = "fill the white pixels of a mask with the eraser's fill (no face detection)"
DESCRIPTION = """\
Fill an arbitrary hole: MASK is an image of the same size where white (> 127) marks the pixels to
replace. Uses the same fill as `facecanvas erase` (smooth shading + cloned grain from the rest of
the image), so the eraser can be scored on external data.

examples:
  facecanvas inpaint face.png --mask hole.png -o filled.png
  facecanvas inpaint face.png --mask hole.png -o filled_ns.png --method ns
"""


def add_parser(sub) -> None:
    p = sub.add_parser("inpaint", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="image file")
    p.add_argument("--mask", required=True, help="mask image, white = fill")
    p.add_argument("-o", "--output", required=True, help="output image file")
    p.add_argument("--method", choices=METHODS, default="clone", help="fill method (default: clone)")
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    img = load_image(args.image)
    mask_img = load_image(args.mask)
    if mask_img.bgr.shape[:2] != img.bgr.shape[:2]:
        h, w = img.bgr.shape[:2]
        mh, mw = mask_img.bgr.shape[:2]
        raise InputError(f"{args.mask}: mask is {mw}x{mh} but the image is {w}x{h}")
    hole = cv2.cvtColor(mask_img.bgr, cv2.COLOR_BGR2GRAY) > 127
    if hole.all():
        raise InputError(f"{args.mask}: the mask covers the whole image; nothing to fill from")
    out = inpaint(img.bgr, hole, args.method)
    save_result(args.output, out, img, overwrite=args.overwrite, protected=[img.path, mask_img.path],
                operation="inpaint")
    print(f"{args.image} -> {args.output} ({int(hole.sum())} pixels filled)")
    return 0

"""``facecanvas gallery``: one picture with the original, the blank face and every effect, labelled."""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from ..effects import builtin_names
from ..errors import InputError, NoFaceError
from ..media.image_io import load_image, save_image
from ..ops.effect import EffectOperation, EffectOptions
from ..ops.erase import EraseOperation
from .common import add_analysis_options, add_overwrite, info, make_analyzer, warn

HELP = "render the original, the blank face and every effect side by side, with labels"
DESCRIPTION = """\
Render one sheet: the original photo, its blank face (every part erased) and each effect, labelled.
Tiles show the largest face (use --full for the whole photo); every face in the photo gets each effect.
The transplant effect is included when --donor is given; your own effect files with --effect.

examples:
  facecanvas gallery photo.jpg -o sheet.png
  facecanvas gallery photo.jpg -o sheet.jpg --effects comic,small-face --tile 320
  facecanvas gallery photo.jpg -o sheet.png --donor friend.jpg --effect my_sticker.toml
  facecanvas demo -o demo_out && facecanvas gallery demo_out/astronaut.png -o gallery.jpg
"""
LABEL_H = 28


def add_parser(sub) -> None:
    p = sub.add_parser("gallery", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="PHOTO", help="the photo")
    p.add_argument("-o", "--output", required=True, metavar="SHEET", help="image file to write (.png, .jpg, ...)")
    p.add_argument("--effects", default=None, metavar="LIST",
                   help="comma-separated built-in effects (default: all; transplant needs --donor)")
    p.add_argument("--effect", action="append", default=[], metavar="FILE", dest="extra",
                   help="also show a user effect file; repeatable")
    p.add_argument("--donor", metavar="PHOTO", help="donor photo for the transplant effect")
    p.add_argument("--tile", type=int, default=256, metavar="PX", help="tile side (default %(default)s)")
    p.add_argument("--cols", type=int, default=4, metavar="N", help="tiles per row (default %(default)s)")
    p.add_argument("--full", action="store_true", help="show the whole photo in each tile, not the face")
    add_overwrite(p)
    add_analysis_options(p)
    p.set_defaults(run=run)


def label_tile(image: np.ndarray, text: str, tile: int) -> np.ndarray:
    """``image`` resized to ``tile`` wide with a dark label strip underneath."""
    h, w = image.shape[:2]
    size = (tile, max(1, round(h * tile / w)))
    interp = cv2.INTER_AREA if w > tile else cv2.INTER_CUBIC
    body = cv2.resize(image, size, interpolation=interp)
    strip = np.full((LABEL_H, tile, 3), 24, np.uint8)
    cv2.putText(strip, text, (8, LABEL_H - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (240, 240, 240), 1, cv2.LINE_AA)
    return np.vstack([body, strip])


def grid(tiles: list[np.ndarray], cols: int, gap: int = 6) -> np.ndarray:
    th = max(t.shape[0] for t in tiles)
    tw = tiles[0].shape[1]
    rows = (len(tiles) + cols - 1) // cols
    cols = min(cols, len(tiles))
    sheet = np.full((rows * (th + gap) + gap, cols * (tw + gap) + gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + t.shape[0], x:x + tw] = t
    return sheet


def face_box(box: np.ndarray, shape: tuple[int, ...], zoom: float = 2.0) -> tuple[int, int, int, int]:
    """A square around the face (``zoom`` x its size, a little above centre), kept inside the photo."""
    x0, y0, x1, y1 = box
    h, w = shape[:2]
    side = int(min(round(zoom * max(x1 - x0, y1 - y0)), h, w))
    left = int(round((x0 + x1) / 2 - side / 2))
    top = int(round((y0 + y1) / 2 - 0.55 * side))
    left, top = min(max(left, 0), w - side), min(max(top, 0), h - side)
    return left, top, left + side, top + side


def run(args: argparse.Namespace) -> int:
    if not 64 <= args.tile <= 2048:
        raise InputError(f"--tile {args.tile}: must be between 64 and 2048")
    if args.cols < 1:
        raise InputError(f"--cols {args.cols}: must be at least 1")
    names = builtin_names() if args.effects is None else [n.strip() for n in args.effects.split(",") if n.strip()]
    if args.effects is None and not args.donor:
        names = [n for n in names if n != "transplant"]
    img = load_image(args.input)
    with make_analyzer(args) as analyzer:
        faces = analyzer.detect(img.bgr)
        if not faces:
            raise NoFaceError(f"{args.input}: no face found")
        effects = [EffectOperation(EffectOptions(effect=n, donor=args.donor), analyzer=analyzer)
                   for n in names + args.extra]
        panels = [("original", img.bgr), ("blank face", EraseOperation()(img.bgr, faces))]
        for op in effects:
            result = op.apply(img.bgr, faces)
            for w in result.skipped:
                warn(f"{args.input}: {op.effect.name}: {w}")
            panels.append((op.effect.name, result.image))
    if args.full:
        tiles = [label_tile(p, name, args.tile) for name, p in panels]
    else:
        x0, y0, x1, y1 = face_box(faces[0].box, img.bgr.shape)
        tiles = [label_tile(p[y0:y1, x0:x1], name, args.tile) for name, p in panels]
    sheet = grid(tiles, args.cols)
    save_image(args.output, sheet, overwrite=args.overwrite, protected=[img.path] if img.path else (),
               operation="gallery")
    info(f"{args.input} -> {args.output} ({len(panels)} panels, {len(faces)} face{'s' * (len(faces) != 1)})")
    return 0

"""``facecanvas faces``: what the analysis finds in a photo."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from ..analysis import Analysis
from ..errors import NoFaceError
from ..media.image_io import check_outputs, load_image, save_image
from .common import add_analysis_options, add_overwrite, make_analyzer

HELP = "list the faces in a photo: box, score, landmarks, head pose; optional overlay"
DESCRIPTION = """\
Detect every face, fit 478 landmarks to each (MediaPipe face mesh with refined eyes and lips) and
estimate the head pose. Prints one line per face, largest first:

  face 0: box 178,63 268x114  score 0.93  landmarks 478  yaw -1.2 pitch -9.9 roll 3.5

--embed adds each face's identity embedding (SFace, 128 numbers, unit length, on ArcFace's 112x112
alignment): a line "embedding sface 128: 0.012 -0.046 ..." under the face, or a list under "embedding"
in --json. The cosine similarity (dot product) of two faces' embeddings is what `facecanvas verify`
compares (same person at 0.363 and above).

yaw > 0: the face turns to the image's right; pitch > 0: chin up; roll > 0: tilted clockwise.
Faces that are detected but get no landmarks (tiny, cut off by the border, turned away) are
listed as skipped and left untouched by every operation.

examples:
  facecanvas faces group.jpg
  facecanvas faces group.jpg --overlay faces.png --json
  facecanvas faces photo.jpg --parse classes.png       # skin, hair, glasses, ... as colours
  facecanvas faces me.jpg --embed --json
"""


def add_parser(sub) -> None:
    p = sub.add_parser("faces", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo", help="image file")
    p.add_argument("--overlay", metavar="PNG", help="write the photo with boxes, landmarks and face numbers")
    p.add_argument("--parse", metavar="PNG",
                   help="write the photo with each face's parsed classes (skin, brows, eyes, nose, lips, inner mouth, "
                        "hair, glasses, ears, neck, hat, other) as a colour overlay (the face parser, "
                        "docs/PARSER_MODEL_CARD.md)")
    p.add_argument("--json", action="store_true", help="print JSON (with all landmarks) instead of text")
    p.add_argument("--embed", action="store_true",
                   help="also print each face's 128-number identity embedding (SFace; see facecanvas verify)")
    add_overwrite(p)
    add_analysis_options(p)
    p.set_defaults(run=run)


def draw_overlay(bgr: np.ndarray, analysis: Analysis) -> np.ndarray:
    out = bgr.copy()
    thick = max(1, round(max(bgr.shape[:2]) / 800))
    for i, f in enumerate(analysis.faces):
        x0, y0, x1, y1 = np.round(f.box).astype(int)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), thick)
        r = max(1, round(f.detection.size / 150))
        for x, y in np.round(f.landmarks[:, :2]).astype(int):
            cv2.circle(out, (x, y), r, (0, 200, 255), -1)
        cv2.putText(out, str(i), (x0, max(0, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, (0, 255, 0), thick)
    for d in analysis.skipped:
        x0, y0, x1, y1 = np.round(d.box).astype(int)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 0, 255), thick)
    return out


def parse_overlay(bgr: np.ndarray, analysis: Analysis) -> np.ndarray:
    """Each face's label map, brought back from its canonical crop, over the photo (largest face on top)."""
    from ..masks.face_parser import BACKGROUND, PALETTE, FaceParser

    parser = FaceParser()
    h, w = bgr.shape[:2]
    labels = np.full((h, w), BACKGROUND, np.uint8)
    for f in reversed(analysis.faces):
        crop_labels, t = parser.parse_face(bgr, f, 256)
        back = cv2.warpAffine(crop_labels, t.inverse, (w, h), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND)
        labels = np.where(back != BACKGROUND, back, labels)
    out = bgr.copy()
    shown = labels != BACKGROUND
    out[shown] = (0.5 * bgr[shown] + 0.5 * PALETTE[labels[shown]]).astype(np.uint8)
    return out


def embeddings(bgr: np.ndarray, analysis: Analysis) -> list[list[float]]:
    """Each face's unit embedding (the default embedder, SFace), rounded for printing."""
    from ..analysis.identity import default_embedder

    embedder = default_embedder()
    return [np.round(embedder.embed(bgr, f).astype(np.float64), 5).tolist() for f in analysis.faces]


def run(args: argparse.Namespace) -> int:
    # Both images, or neither: checked before the photo is read.
    check_outputs([p for p in (args.parse, args.overlay) if p], overwrite=args.overwrite, protected=[Path(args.photo)])
    img = load_image(args.photo)
    with make_analyzer(args) as analyzer:
        analysis = analyzer.analyze(img.bgr)
    embeds = embeddings(img.bgr, analysis) if args.embed and analysis.faces else None
    if args.parse and analysis.faces:
        save_image(args.parse, parse_overlay(img.bgr, analysis), overwrite=args.overwrite,
                   protected=[img.path] if img.path else (), operation="parse")
    if args.overlay:
        save_image(args.overlay, draw_overlay(img.bgr, analysis), overwrite=args.overwrite,
                   protected=[img.path] if img.path else (), operation="overlay")
    if args.json:
        print(json.dumps({
            "file": str(args.photo), "width": img.bgr.shape[1], "height": img.bgr.shape[0],
            "faces": [{"box": [round(float(v), 1) for v in f.box], "score": round(f.score, 3),
                       "yaw": round(f.pose.yaw, 1), "pitch": round(f.pose.pitch, 1), "roll": round(f.pose.roll, 1),
                       "landmarks": np.round(f.landmarks, 1).tolist(),
                       **({"embedding": embeds[i]} if embeds else {})} for i, f in enumerate(analysis.faces)],
            "skipped": [{"box": [round(float(v), 1) for v in d.box], "score": round(d.score, 3)}
                        for d in analysis.skipped]}))
    else:
        print(f"{args.photo}: {img.bgr.shape[1]}x{img.bgr.shape[0]}, {len(analysis.faces)} face(s)"
              + (f", {len(analysis.skipped)} skipped (no landmarks: too small, cut off or turned away)" if analysis.skipped else ""))
        for i, f in enumerate(analysis.faces):
            x0, y0, x1, y1 = f.box
            print(f"face {i}: box {x0:.0f},{y0:.0f} {x1 - x0:.0f}x{y1 - y0:.0f}  score {f.score:.2f}  "
                  f"landmarks {len(f.landmarks)}  yaw {f.pose.yaw:.1f} pitch {f.pose.pitch:.1f} roll {f.pose.roll:.1f}")
            if embeds:
                print(f"  embedding sface {len(embeds[i])}: " + " ".join(f"{v:.3f}" for v in embeds[i]))
        for d in analysis.skipped:
            x0, y0, x1, y1 = d.box
            print(f"skipped: box {x0:.0f},{y0:.0f} {x1 - x0:.0f}x{y1 - y0:.0f}  score {d.score:.2f}")
    if not analysis.faces:
        raise NoFaceError(f"{args.photo}: no face found")
    return 0

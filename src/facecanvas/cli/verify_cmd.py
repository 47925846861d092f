"""``facecanvas verify``: are these photos of the same person (SFace embeddings)."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import FacecanvasError, InputError, NoFaceError
from ..media.image_io import load_image
from ..media.names import display_path
from .common import add_analysis_options, make_analyzer
from .paths import expand_inputs

HELP = "say whether photos show the same person: face similarity and a verdict for each pair"
DESCRIPTION = """\
Compare the largest face of each photo with the others: every pair once, or with --against each
photo with one reference (the reference itself is skipped). Prints one line per pair: the cosine
similarity of the two faces' embeddings (SFace, OpenCV zoo: 128 numbers computed on ArcFace's
112x112 five-point alignment) and the verdict:

  a.jpg  b.jpg  similarity 0.512  same person
  a.jpg  c.jpg  similarity 0.087  different people

"same person" means similarity >= the threshold, 0.363 by default (SFace's published one; on 360
aligned Glint crops it accepts 0.7% of impostor pairs and 94% of genuine ones, see
benchmarks/bench_verify.py). Raise it to accept fewer strangers (0.415 accepts 0.1% of them there),
lower it to miss fewer matches.

How each photo is read:
  - an image of exactly 112x112 is taken as an ArcFace-aligned crop (the crops of face recognition
    data sets) and embedded as it is, without detection; --detect overrides that;
  - any other photo: the largest face is detected (YuNet + the 478-point mesh) and aligned from its
    five points. When the face fills the photo (a tight crop) or none is found, the photo is enlarged
    and framed with a grey border (50% per side) and detected again: the detector and the mesh need
    some context around a face;
  - --aligned takes every photo as an aligned crop (other sizes are resized to 112x112).

exit codes: 0 all pairs compared (whatever the verdicts), 2 a bad input (unreadable, not an image),
3 no face found in a photo. A photo that fails is reported and its pairs are left out; the others are
still compared.

examples:
  facecanvas verify me.jpg passport.jpg
  facecanvas verify a.jpg b.jpg c.jpg                  # all three pairs
  facecanvas verify crowd/ --against me.jpg --json     # each photo of a folder against me.jpg
  facecanvas verify crop1.png crop2.png --threshold 0.415
"""


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PHOTO", help="image files, folders or glob patterns")
    p.add_argument("--against", metavar="REF", help="compare each photo with this one instead of all pairs")
    p.add_argument("--threshold", type=float, default=None, metavar="SIM",
                   help="similarity at or above which two faces are the same person (default: the "
                        "embedder's own, 0.363 for SFace)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--aligned", dest="aligned", action="store_const", const=True, default=None,
                      help="take every photo as an ArcFace-aligned crop: embed it directly, no detection")
    mode.add_argument("--detect", dest="aligned", action="store_const", const=False,
                      help="always detect the face, also in 112x112 images")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object per pair: {"a", "b", "similarity", "same"}')
    add_analysis_options(p)
    p.set_defaults(run=run)


class _Embeddings:
    """Embeds photos with one embedder and one analyzer (loaded on first need: aligned crops need none)."""

    def __init__(self, args: argparse.Namespace):
        from ..analysis.identity import default_embedder

        self.args = args
        self.embedder = default_embedder()
        self._analyzer = None

    def analyzer(self):
        if self._analyzer is None:
            self._analyzer = make_analyzer(self.args)
        return self._analyzer

    def __call__(self, path) -> np.ndarray:
        from ..analysis.identity import ALIGNED_SIZE, embed_largest_face

        bgr = load_image(path).bgr
        aligned = self.args.aligned
        if aligned is None:
            aligned = bgr.shape[:2] == (ALIGNED_SIZE, ALIGNED_SIZE)
        vec, _ = embed_largest_face(bgr, None if aligned else self.analyzer(), self.embedder, aligned=aligned)
        if vec is None:
            raise NoFaceError(f"{display_path(path)}: no face found")
        return vec

    def close(self) -> None:
        if self._analyzer is not None:
            self._analyzer.close()


def run(args: argparse.Namespace) -> int:
    if args.threshold is not None and not -1.0 <= args.threshold <= 1.0:
        raise InputError(f"--threshold {args.threshold}: a cosine similarity is between -1 and 1")
    inputs = expand_inputs(args.inputs)
    if args.against is None and len(inputs) < 2:
        raise InputError("verify needs two photos or more (or one with --against REF)")
    embed = _Embeddings(args)
    threshold = embed.embedder.threshold if args.threshold is None else args.threshold
    failures: list[FacecanvasError] = []
    try:
        reference = embed(args.against) if args.against is not None else None
        vectors = {}
        for path in inputs:
            try:
                vectors[path] = embed(path)
            except FacecanvasError as e:
                failures.append(e)
                print(f"facecanvas: error: {e}", file=sys.stderr)
    finally:
        embed.close()
    if reference is not None:
        ref_path = Path(args.against).resolve()
        pairs = [(args.against, reference, p, v) for p, v in vectors.items() if Path(p).resolve() != ref_path]
    else:
        pairs = [(p, u, q, v) for (p, u), (q, v) in itertools.combinations(vectors.items(), 2)]
    for a, u, b, v in pairs:
        sim = float(np.clip(u @ v, -1.0, 1.0))
        same = sim >= threshold
        if args.json:
            print(json.dumps({"a": display_path(a), "b": display_path(b), "similarity": round(sim, 4),
                              "same": bool(same)}))
        else:
            print(f"{display_path(a)}  {display_path(b)}  similarity {sim:.3f}  "
                  f"{'same person' if same else 'different people'}")
    # The most serious failure decides the exit code: bad input > anything else > no face.
    for kind in (InputError, FacecanvasError):
        for e in failures:
            if isinstance(e, kind) and not isinstance(e, NoFaceError):
                return e.exit_code
    return NoFaceError.exit_code if failures else 0

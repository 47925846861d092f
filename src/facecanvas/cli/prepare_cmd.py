"""``facecanvas prepare``: write the neural eraser's training data set once."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..errors import InputError, OutputError

HELP = "build the neural eraser's training pairs (blank faces + facial-part mask bank) from face photos"
DESCRIPTION = """\
Synthesises FaceEraser's training data (Hua et al. 2021, 3.2) from folders of aligned face photos
(DIR/images/*.jpg, with CelebAMask-HQ parsing masks in DIR/masks/ where available):

  blank faces   the forehead above the brows, cropped to 256x128, flipped vertically and stitched
                into 256x256; faces with glasses, hats or hair over the forehead are skipped (parsing
                masks where present, landmarks and a colour check otherwise)
  mask bank     every face's landmarks joined into brow, eye, nose and mouth regions and dilated, in
                the canonical 256 alignment; real eyeglasses masks from the parsing masks

The first --holdout images of the FIRST --data folder are held out (the validation split); they are
the very faces `facecanvas eval erase --limit N` scores, and the fixed validation pairs are the
eval's own pairs. Augmentation (flips, colour and light jitter, random part subsets, glasses) happens
when training draws a batch; contact_sheet.png in the output shows samples as training sees them.

The output holds images derived from the input data: keep it out of version control.

examples:
  facecanvas prepare --data ../shared/data/faces/celebamaskhq/train -o out/dataset
  facecanvas prepare --data ../shared/data/faces/celebamaskhq/train --data ../shared/data/faces/celebahq512 \\
      -o out/dataset --holdout 300
"""


def add_parser(sub) -> None:
    p = sub.add_parser("prepare", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="folder of aligned faces (images/ and optional masks/); repeat for more folders")
    p.add_argument("-o", "--output", required=True, metavar="DATASET", help="output folder (must not exist)")
    p.add_argument("--holdout", type=int, default=300, metavar="N",
                   help="hold out the first N images of the first --data folder (default %(default)s)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="read at most N images per folder")
    p.add_argument("--seed", type=int, default=0, help="pairing seed of the held-out pairs (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing prepared data set")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.dataset import prepare_dataset
    from ..train.data import contact_sheet

    for d in args.data:
        if not Path(d).is_dir():
            raise InputError(f"{d}: not a folder")
    if args.holdout < 0:
        raise InputError(f"--holdout: must not be negative, got {args.holdout}")
    out = Path(args.output)
    if out.exists():
        if not args.overwrite:
            raise OutputError(f"cannot write {out}: it exists (use --overwrite to replace a prepared data set)")
        if not (out / "manifest.json").is_file():
            raise OutputError(f"cannot write {out}: it exists and is not a prepared data set; not replacing it")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        report = prepare_dataset(args.data, partial, args.holdout, args.seed, args.limit)
        if report.counts["train"]["blanks"] == 0 or report.counts["train"]["parts"] == 0:
            raise InputError(f"{args.data[0]}: no training blank faces or masks found "
                             f"(skip reasons: {report.skipped})")
        contact_sheet(partial, partial / "contact_sheet.png")
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    report.out = out
    print(report.summary())
    print(f"samples: {out / 'contact_sheet.png'}")
    return 0

"""``facecanvas eval erase``: the FaceEraser blank-face benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..inpaint.fills import ready_methods

HELP = "evaluate against baselines: erase (blank faces), look (real-face quality), swap and deid (identity, pose, expression)"
DESCRIPTION = """\
Builds synthetic blank faces as in FaceEraser 3.2: the forehead above the brows of aligned faces is
cropped to 256x128, flipped vertically and stitched into 256x256 (foreheads covered by hair, hats or
glasses are skipped using the parsing masks in DIR/masks when present). Each is masked with the
facial-part masks of ANOTHER face in the aligned frame, then filled by every method on the same pairs.

Prints PSNR and MAE over the whole image (as the paper's Table 1), PSNR inside the hole, and a
texture ratio (fine-detail energy inside the hole relative to the truth's; 1.0 = same grain) and the
texture gap, the median over faces of |log(texture ratio)| (0 = the truth's grain).

Methods: clone, telea, ns (classical), neural (the shipped FaceEraser ONNX model), refine (the clone
fill + the shipped shading refiner, when one is shipped) and LABEL=MODEL.onnx for any model written by
`facecanvas export` (a FaceEraser or a refiner), so trained variants can be set side by side.

examples:
  facecanvas eval erase --data ../shared/data/faces/celebamaskhq/train --limit 300
  facecanvas eval erase --data ../shared/data/faces/celebamaskhq/train --limit 300 \
      --methods clone,ns,neural,edge_ae=out/edge_ae.onnx,refine=out/refiner.onnx
"""


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=["erase", "look", "swap", "deid"],
                   help="what to evaluate (look: erase and every effect on real held-out faces, eval/look_eval.py)")
    p.add_argument("--data", required=True, help="folder with images/ (and optional masks/) of aligned faces")
    p.add_argument("--limit", type=int, default=300, help="read at most this many faces (default %(default)s)")
    p.add_argument("--methods", default=None,
                   help="comma-separated: erase: clone, telea, ns, neural, refine, LABEL=MODEL.onnx (default: "
                        f"{','.join(ready_methods())}); swap: none, naive, mesh, aei (aei:model=PATH.onnx: a trained model); deid: none, blur, "
                        "pixelate, deid, net:model=PATH.onnx (the learned network) (default: all of the task's)")
    p.add_argument("--seed", type=int, default=0, help="pairing seed (default %(default)s)")
    p.add_argument("--samples", metavar="PNG", help="also write a grid of a few pairs and their fills")
    p.add_argument("--parser", default="auto", choices=("auto", "none", "oracle"),
                   help="look: the eraser's face parser (auto: the shipped one; none: landmark masks alone; "
                        "oracle: the data's own labels)")
    p.add_argument("--split", default="test", choices=("dev", "test"),
                   help="swap and deid: the people to report on (dev: 0-5, where parameters are chosen, "
                        "without dlib; test: 6-11, with dlib as the independent recognizer); look: dev, the 80 "
                        "faces after the parser's held-out 150, where choices are made; test, those 150")
    p.add_argument("--video-frames", type=int, default=120, metavar="N",
                   help="deid: frames of each shared talking-head clip in the video part "
                        "(0: no video part; default %(default)s)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.erase_eval import check_methods, run_erase_eval, write_samples

    data = Path(args.data)
    if not data.is_dir():
        raise InputError(f"{data}: not a folder")
    if args.task == "swap":  # eval/swap_eval.py: --data is the shared data root
        from ..eval.swap_eval import run_cli as run_swap_cli

        return run_swap_cli(args)
    if args.task == "deid":  # eval/deid_eval.py: --data is the shared data root
        from ..eval.deid_eval import run_cli as run_deid_cli

        return run_deid_cli(args)
    if args.task == "look":
        from ..eval.look_eval import run_look_eval

        print(run_look_eval(data, limit=args.limit, parser=args.parser, split=args.split).to_table())
        return 0
    methods = tuple(m.strip() for m in (args.methods or ",".join(ready_methods())).split(",") if m.strip())
    try:
        check_methods(methods)
    except ValueError as e:
        raise InputError(f"--methods: {e}") from None
    report = run_erase_eval(data, methods=methods, limit=args.limit, seed=args.seed)
    print(report.to_table())
    if args.samples:
        write_samples(args.samples, data, methods=methods, seed=args.seed)
    return 0

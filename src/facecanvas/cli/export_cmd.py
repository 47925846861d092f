"""``facecanvas export``: a trained checkpoint to ONNX for `erase --method neural` (needs the training extra)."""

from __future__ import annotations

import argparse

HELP = "export a trained neural eraser checkpoint to ONNX (needs the training extra)"
DESCRIPTION = """\
Writes the generators of a `facecanvas train` checkpoint (checkpoint.pt or weights/step_N.pt) as one
ONNX graph: (image, mask, edges) -> filled image, with dynamic height and width. Inference runs it
with onnxruntime only (no torch). The export is checked against PyTorch on a few inputs and the
largest difference is printed; more than 1e-4 is an error, and then nothing is written.

Needs torch and onnx: pip install -e .[train]

examples:
  facecanvas export out/train/compact/checkpoint.pt -o out/faceeraser.onnx
  facecanvas export out/train/compact/weights/step_006000.pt -o src/facecanvas/models/faceeraser_compact.onnx --overwrite
"""

def add_parser(sub) -> None:
    p = sub.add_parser("export", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint.pt or weights/step_N.pt from `facecanvas train`")
    p.add_argument("-o", "--output", required=True, metavar="ONNX", help="output .onnx file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .torch_check import require_torch

    require_torch()
    from ..train.export import export_checkpoint

    path, err, step = export_checkpoint(args.checkpoint, args.output, args.overwrite)
    size_mb = path.stat().st_size / 1e6
    print(f"{args.checkpoint} (step {step}) -> {path} ({size_mb:.2f} MB); max |onnx - torch| = {err:.2e}")
    return 0

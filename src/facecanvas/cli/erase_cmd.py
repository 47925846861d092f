"""``facecanvas erase``: blank faces for photos and videos."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from ..eraser import erase, erase_op
from ..errors import FacecanvasError, InputError, NoFaceError
from ..inpaint import METHODS
from ..masks import PARTS, parse_parts
from ..media.image_io import load_image, save_image, save_result
from .common import add_analysis_options, add_overwrite, finish_batch, make_analyzer
from .paths import expand_inputs, plan_outputs, sidecar
from .video_common import add_video_options, is_video_input, run_video

HELP = "remove brows, eyes, nose and mouth from every face, leaving blank skin"
DESCRIPTION = """\
Erase facial parts from every face in each photo and fill them with the face's own skin
(FaceEraser's "blank face"): smooth shading matched to the surrounding skin, plus real skin grain
cloned from the forehead and cheeks, pasted back without a visible edge.

Pixels outside the (dilated) part masks are never changed. Grayscale, RGBA (alpha kept), 16-bit and
EXIF-rotated photos are handled; the output keeps the input's format unless -o names another.

exit codes: 0 all done, 2 a bad input (unreadable, empty, truncated, too large), 3 no face found,
4 an output could not be written. A batch goes on past bad files and prints a summary.

examples:
  facecanvas erase photo.jpg -o blank.jpg
  facecanvas erase photos/ -o out/ --parts brows,eyes --save-mask
  facecanvas erase "shots/*.png" -o out/ --method ns      # OpenCV Navier-Stokes, for comparison
  facecanvas erase photo.jpg -o neural.jpg --method neural  # the learned eraser (ONNX, 256 px crop)
  facecanvas erase clip.mp4 -o blank.mp4                  # video: every frame, audio kept
  facecanvas erase clip.mp4 -o blank.mp4 --largest --crf 18
"""


def add_parser(sub) -> None:
    p = sub.add_parser("erase", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PHOTO", help="image files, folders or glob patterns; or video files")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input) or folder (several inputs; names are kept)")
    p.add_argument("--parts", default="all", metavar="LIST",
                   help=f"comma-separated parts to erase: {','.join(PARTS)} (default: all)")
    p.add_argument("--method", choices=METHODS, default="clone",
                   help="fill method: clone (default: shading + cloned skin grain), telea or ns (OpenCV), "
                        "neural (the learned FaceEraser model; see docs/MODEL_CARD.md: it does not beat clone yet)")
    p.add_argument("--save-mask", action="store_true", help="also write OUT_mask.png (white = replaced)")
    add_overwrite(p)
    add_analysis_options(p)
    add_video_options(p)
    p.set_defaults(run=run)


def load_model(method: str):
    """The neural eraser's model, loaded once per run; None for the classical methods."""
    if method != "neural":
        return None
    from ..inpaint.neural import NeuralEraser

    return NeuralEraser()


def run(args: argparse.Namespace) -> int:
    try:
        parts = parse_parts(args.parts)
    except ValueError as e:
        raise InputError(f"--parts: {e}") from None
    model = load_model(args.method)
    if is_video_input(args.inputs):
        return run_video(args, erase_op(parts, args.method, model))
    inputs = expand_inputs(args.inputs)
    outputs = plan_outputs(inputs, args.output)
    failures: dict[type, list[str]] = {}
    written = 0
    with make_analyzer(args) as analyzer:
        bar = tqdm(list(zip(inputs, outputs)), unit="photo", disable=len(inputs) < 2, file=sys.stderr)
        for src, dst in bar:
            try:
                img = load_image(src)
                result = erase(img.bgr, parts, analyzer=analyzer, method=args.method, model=model)
                if not result.faces:
                    raise NoFaceError(f"{src}: no face found")
                save_result(dst, result.image, img, overwrite=args.overwrite, protected=inputs)
                if args.save_mask:
                    save_image(sidecar(dst, "mask"), result.mask, overwrite=args.overwrite, protected=inputs)
                written += 1
                bar.write(f"{src} -> {dst} ({len(result.faces)} face{'s' * (len(result.faces) != 1)})",
                          file=sys.stderr)
            except FacecanvasError as e:
                failures.setdefault(type(e), []).append(str(e))
                bar.write(f"facecanvas: error: {e}", file=sys.stderr)
    return finish_batch(failures, written, len(inputs))

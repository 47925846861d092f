"""``facecanvas erase``: blank faces for photos and videos."""

from __future__ import annotations

import argparse

from ..ops.erase import EraseOperation, EraseOptions
from .common import add_analysis_options, add_inputs_output, add_overwrite, add_save_mask
from .options import add_options, from_args
from .photo_common import run_photos_cmd
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
  facecanvas erase photo.jpg -o r.jpg --method refine --model refiner.onnx  # clone + learned shading fix
  facecanvas erase clip.mp4 -o blank.mp4                  # video: every frame, audio kept
  facecanvas erase clip.mp4 -o blank.mp4 --largest --crf 18
"""


def add_parser(sub) -> None:
    p = sub.add_parser("erase", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs_output(p, "PHOTO", "image files, folders or glob patterns; or video files")
    add_options(p, EraseOptions)
    add_save_mask(p)
    add_overwrite(p)
    add_analysis_options(p)
    add_video_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = from_args(EraseOptions, args)
    video = is_video_input(args.inputs)
    op = EraseOperation(options, video=video)  # a learned fill loads its model here, once per run
    if video:
        return run_video(args, op)
    return run_photos_cmd(args, op, save_mask=args.save_mask)

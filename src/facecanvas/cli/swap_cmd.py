"""``facecanvas swap``: one person's face (the source photo) on the faces of photos and videos."""

from __future__ import annotations

import argparse

import numpy as np

from ..ops.base import Operation, OpResult
from ..ops.swap import SwapOperation, SwapOptions
from .common import add_analysis_options, add_inputs_output, add_overwrite, add_save_mask, make_analyzer
from .options import add_options, from_args
from .photo_common import run_photos_cmd
from .video_common import add_video_options, is_video_input, run_video

HELP = "put one person's face (a source photo) on the faces of photos and videos"
DESCRIPTION = """\
Put the identity of the person in --source on every target face, keeping the target's head pose,
expression, gaze, lighting, background and whatever is in front of the face (hands, hair, glasses,
a microphone). No training and no GPU: the source face's texture is laid over the target's
478-point face mesh piece by piece (so it follows the target's pose and expression), the source's
face shape is blended in (--shape), colours are matched to the target's skin in LAB, the target's own
eyes (between the lids) and open mouth (teeth, tongue) are kept, and the result is blended into the
face without a seam. Pixels outside the face oval are never changed (except the optional
--watermark). Every output carries the mark "edited by facecanvas VERSION: swap" in its metadata.

Several --source photos of one person: the best one (large, frontal, sharp) gives the texture.
Each source photo must show exactly one face.

Which faces: all (default), --largest, or --match PERSON.jpg (only faces of that person, by SFace).

exit codes: 0 all done, 2 a bad input (unreadable photo or source, a source with several faces, bad
option), 3 no face found (in a target photo, or in the source), 4 an output could not be written.
A batch goes on past bad target files and prints a summary; a video frame without a face passes through
unchanged.

what is weak (see docs and `facecanvas eval swap`):
  * the source's texture includes its lighting: a strongly side-lit source keeps some of its shadows
    (the LAB transfer matches colour statistics, not the direction of the light);
  * targets turned far from the source's view (profiles) stretch the far cheek; a frontal source works best;
  * beards, glasses and heavy make-up of the target tend to be kept as occluders, and a hand of the
    face's own skin tone in front of the face may be swapped over unless the face parser model is installed;
  * the face outline (jaw, chin) stays the target's: people with very different face shapes are
    recognised less easily.

Use it only with the consent of the people shown; --watermark adds a visible mark.

examples:
  facecanvas swap target.jpg --source anna.jpg -o swapped.jpg
  facecanvas swap photos/ --source anna.jpg anna2.jpg -o out/ --largest
  facecanvas swap group.jpg --source anna.jpg --match bob.jpg -o out.jpg   # only Bob's face
  facecanvas swap clip.mp4 --source anna.jpg -o swapped.mp4                # video: audio kept
  facecanvas swap target.jpg --source anna.jpg -o naive.jpg --method naive  # the baseline paste
"""


def add_parser(sub) -> None:
    p = sub.add_parser("swap", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs_output(p, "TARGET", "target images, folders or glob patterns; or video files")
    p.add_argument("--source", "-s", required=True, nargs="+", metavar="FACE",
                   help="photo(s) of the person to put on the faces (one face each; several photos of the "
                        "same person: the best is used)")
    add_options(p, SwapOptions, skip=("source",))
    add_save_mask(p, "swapped")
    add_overwrite(p)
    add_analysis_options(p)
    add_video_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = from_args(SwapOptions, args, source=",".join(args.source))
    video = is_video_input(args.inputs)
    with make_analyzer(args) as analyzer:
        # The source photos are read and prepared once (texture, mesh, colour), before any target.
        op = SwapOperation(options, video=video, source=list(args.source), analyzer=analyzer)
        if video:
            return run_video(args, op)
        return run_photos_cmd(args, PhotoSelection.from_args(op, args), save_mask=args.save_mask,
                              analyzer=analyzer)


class PhotoSelection(Operation):
    """The photo side of --largest and --match (video and live select faces in their tracker)."""

    name = "swap"

    def __init__(self, op: Operation, largest: bool = False, matcher=None, match_name: str = ""):
        super().__init__(op.options)
        self.op, self.largest, self.matcher, self.match_name = op, largest, matcher, match_name

    @classmethod
    def from_args(cls, op: Operation, args: argparse.Namespace) -> Operation:
        largest = bool(getattr(args, "largest", False))
        match = getattr(args, "match", None)
        if not largest and not match:
            return op
        matcher = None
        if match:
            from ..pipeline import make_identity

            threshold = getattr(args, "match_threshold", None)
            ident = make_identity(match) if threshold is None else make_identity(match, threshold)
            matcher = ident.matcher
        return cls(op, largest, matcher, str(match or ""))

    def apply(self, frame: np.ndarray, faces) -> OpResult:
        chosen = list(faces)
        if self.matcher is not None:
            chosen = [f for f in chosen if self.matcher.similarity(frame, f) >= self.matcher.threshold]
        if self.largest and chosen:
            chosen = [max(chosen, key=lambda f: f.detection.size)]
        if not chosen:
            return OpResult(frame.copy(), 0, [f"no face matches --match {self.match_name}; left unchanged"])
        r = self.op.apply(frame, chosen)
        left = len(faces) - len(chosen)
        if left:
            r.details["not_selected"] = left
        return r

    def describe(self, result: OpResult) -> str:
        return self.op.describe(result)

    def reset(self) -> None:
        self.op.reset()


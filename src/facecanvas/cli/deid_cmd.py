"""``facecanvas deid``: every face of photos and videos replaced by a synthetic identity, verified."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError, OutputError
from ..media.names import display_path
from ..media.outputs import check_output, write_atomic
from ..ops.deid import DeidOperation, DeidOptions
from .common import add_analysis_options, add_inputs_output, add_overwrite, add_save_mask, make_analyzer
from .options import add_options, from_args
from .photo_common import run_photos_cmd
from .swap_cmd import PhotoSelection
from .video_common import add_video_options, is_video_input, run_video

HELP = "de-identify faces: each person gets a synthetic face (keyed pseudonyms), checked with a recognizer"
DESCRIPTION = """\
Replace every face with a face that belongs to nobody, keeping head pose, expression, gaze, lighting,
background and whatever is in front of the face. No training and no GPU.

How: a synthetic identity is drawn at random from a texture model of a few hundred faces (the mean
face plus a random mix of its principal components: no real person's face is used), and the face
swap lays it over the person's 478-point face mesh, matches colours to their skin and blends it in.
Changing the shape of a face alone does not de-identify it (recognizers still match it): the skin
texture carries identity, so that is what is replaced.

Verification: the package's face recognizer (SFace) compares every output face of a photo with its
input, and in a video every 2nd frame of each face's track (--verify-every N; the track keeps what
passed in between: the new face, or the fallback). A face it still recognises (similarity at least
--verify-threshold, 0.363 by default) is escalated: another synthetic identity, further from the
average face, at full strength, then the --fallback (blank: the eraser's featureless face; blur: a
strong blur; if even that is recognised, a heavier blur). A video track keeps one new identity: a
frame its identity fails on gets another for that frame alone, and the track moves only after several
such frames. The end summary says how many faces and frames were verified and how
many needed the fallback; --report writes the per-face / per-track figures.

Pseudonyms (--key SECRET): the same person gets the same new face in every file and run with the same
key, and another key gives other faces; without --key every run draws new faces. Within one run
the same person always gets the same face (tracks and photos are matched by SFace). Across files of
different runs the face comes from a keyed hash of a coarse 3-bit code of the person's SFace embedding,
which is weak: measured on held-out people, two photos of one person got the same face 32 % of the
time, two strangers 16 % (an identical file always gets the same face). To keep people consistent,
process their files in one run. Keep the key secret: with it, anyone can test whether a given person's photo
maps to a given synthetic face.

Which faces: all (default); --except ME.jpg leaves that person untouched (pixel for pixel); for video
also --largest, --match P.jpg (only that person).

exit codes: 0 all done, 2 a bad input or option, 3 no face found (in a photo, or in the --except photo),
4 an output could not be written. A batch goes on past bad files; a video frame without a face passes
through unchanged. Every output carries the mark "edited by facecanvas VERSION: deid" in its metadata.

what is weak (see docs/DEID_TEXTURE_MODEL.md and `facecanvas eval deid`):
  * the synthetic faces are smooth (a PCA of a few hundred faces): a close look shows a made face;
  * the face outline, hair, ears, eyes (between the lids) and the mouth interior are the person's own:
    people who know the person may still recognise them from those, and so may a recognizer other
    than SFace (the evaluation measures one, dlib's);
  * a face the detector misses is not edited: check the output.

examples:
  facecanvas deid photo.jpg -o anon.jpg
  facecanvas deid photos/ -o out/ --key "$SECRET" --report report.json
  facecanvas deid group.jpg -o out.jpg --except me.jpg          # everyone but me
  facecanvas deid clip.mp4 -o anon.mp4 --key "$SECRET"          # video: audio kept
"""


def add_parser(sub) -> None:
    p = sub.add_parser("deid", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs_output(p, "INPUT", "images, folders or glob patterns; or video files")
    add_options(p, DeidOptions)
    p.add_argument("--no-verify", action="store_true",
                   help="skip the recognizer check (faster; nothing is escalated or counted as verified)")
    p.add_argument("--report", metavar="JSON", help="write the per-face / per-track verification figures here")
    add_save_mask(p)
    add_overwrite(p)
    add_analysis_options(p)
    add_video_options(p)
    p.set_defaults(run=run)


class DeidSelection(PhotoSelection):
    name = "deid"


def run(args: argparse.Namespace) -> int:
    options = from_args(DeidOptions, args, **({"verify": False} if args.no_verify else {}))
    if args.report:  # checked with the other outputs, before anything is read or written
        if Path(args.report).suffix.lower() != ".json":
            raise InputError(f"--report {args.report}: expected a .json file name")
        if not Path(args.report).parent.is_dir():
            raise OutputError(f"cannot write {display_path(args.report)}: folder {display_path(Path(args.report).parent)} "
                              "does not exist")
        check_output(args.report, overwrite=args.overwrite, protected=[*map(Path, args.inputs), *options.named_files()],
                     exts=(".json",), kind="report")
    video = is_video_input(args.inputs)
    with make_analyzer(args) as analyzer:
        op = DeidOperation(options, video=video, analyzer=analyzer)
        if video:
            code = run_video(args, op)
        else:
            code = run_photos_cmd(args, DeidSelection.from_args(op, args), save_mask=args.save_mask,
                                  analyzer=analyzer)
    rep = op.report()
    if rep["faces"] or rep["untouched_faces"]:
        line = (f"deid: {rep['faces']} face{'s' * (rep['faces'] != 1)} / {rep['frames']} frame"
                f"{'s' * (rep['frames'] != 1)} edited")
        if options.verify:
            line += (f"; verified de-identified (SFace < {options.verify_threshold:g}): {rep['faces_all_verified']} "
                     f"faces, {rep['verified_frames']} of {rep['checked_frames']} checked frames; escalated: {rep['escalated_frames']} frames; "
                     f"needed the fallback ({options.fallback}): {rep['faces_with_fallback']} faces, "
                     f"{rep['fallback_frames']} frames")
        else:
            line += " (not verified: --no-verify)"
        if rep["untouched_faces"]:
            line += f"; left untouched (--except): {rep['untouched_faces']}"
        print(line, file=sys.stderr)
    if args.report:
        write_atomic(Path(args.report), (json.dumps(rep, indent=2) + "\n").encode())
    return code

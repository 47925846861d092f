"""Video for any photo command: its flags, input dispatch and the run, through the batch module.

A command that has an operation gets video files with three lines:

    add_video_options(p)                                    # in add_parser
    if is_video_input(args.inputs):                         # first thing in run
        return run_video(args, op)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..batch import run_videos, summarize
from ..errors import InputError
from ..media.names import VIDEO_EXTS, is_video_path
from ..media.video_io import EncodeOptions
from ..ops.base import Operation
from ..pipeline import VIDEO_DETECT_SIZE, AnalysisOptions, TrackingOptions
from ..video import VideoInterrupted
from .common import warn
from .options import add_options, from_args
from .paths import plan_video_outputs

VIDEO_EPILOG = f"""\
video ({", ".join(VIDEO_EXTS)}):
  Every frame is processed; faces are tracked with an ID, landmarks are smoothed, and a face missed
  for a few frames is held. Audio is copied untouched; frame rate, frame count, duration, rotation
  and size are kept. The output (H.264 mp4 by default; 4:4:4 for odd frame sizes) appears only when
  complete; on Ctrl-C the frames done so far are saved as OUT.partial.mp4, and the message says so.
  The detector works at {VIDEO_DETECT_SIZE} px for video unless --detect-size is given."""

_ANALYSIS = {i.name for i in AnalysisOptions.schema()}


def add_selection_options(p: argparse.ArgumentParser) -> None:
    add_options(p.add_argument_group("which faces (video and live)"), TrackingOptions, skip=_ANALYSIS)


def tracking_options(args: argparse.Namespace) -> TrackingOptions:
    return from_args(TrackingOptions, args)


def add_video_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("video output")
    g.add_argument("--codec", default=None, metavar="NAME",
                   help="video codec: libx264 (default; .webm: libvpx-vp9), libx265, libvpx-vp9, mpeg4, ffv1 "
                        "(lossless), libx264rgb (lossless RGB)")
    g.add_argument("--crf", type=int, default=20, metavar="Q",
                   help="quality, lower = better and larger (default %(default)s; 18 is visually lossless)")
    g.add_argument("--preset", default="veryfast",
                   choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"),
                   help="encoder speed/size trade-off for x264/x265 (default %(default)s)")
    g.add_argument("--no-audio", action="store_true", help="drop the audio instead of copying it")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_selection_options(p)
    p.epilog = (p.epilog + "\n\n" if p.epilog else "") + VIDEO_EPILOG


def is_video_input(inputs: list[str]) -> bool:
    """True when the inputs are video files; a mix of photos and videos is refused."""
    videos = [i for i in inputs if is_video_path(i)]
    if videos and len(videos) != len(inputs):
        raise InputError(f"{videos[0]}: photos and videos cannot be mixed in one run; run them separately")
    return bool(videos)


def run_video(args: argparse.Namespace, op: Operation) -> int:
    """Process each video with ``op``; returns the exit code (a batch goes on past bad files)."""
    tracking = tracking_options(args)  # checked before anything is read or written
    srcs = [Path(i) for i in args.inputs]
    dsts = plan_video_outputs(srcs, args.output)
    if getattr(args, "save_mask", False):
        warn("--save-mask is for photos; no mask video is written")
    encode = EncodeOptions(args.codec, args.crf, args.preset, audio=not args.no_audio)
    try:
        results = run_videos(list(zip(srcs, dsts)), op, tracking, encode=encode, overwrite=args.overwrite,
                             protected=[*srcs, *op.options.named_files(), *tracking.named_files()],
                             progress=not args.no_progress and sys.stderr.isatty(),
                             track_child=getattr(args, "track_child", None))
    except VideoInterrupted as e:
        print(f"facecanvas: {e.message(e.dst)}", file=sys.stderr)
        return 130
    return summarize(results)

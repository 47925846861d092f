"""Video for any photo command: options, input dispatch and the run loop, around ``process_video``.

A command that has a ``FrameOp`` gets video files with three lines:

    add_video_options(p)                                    # in add_parser
    if is_video_input(args.inputs):                         # first thing in run
        return run_video(args, op)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FacecanvasError, InputError, NoFaceError, OutputError
from ..media.video_io import VIDEO_EXTS, EncodeOptions, is_video_path
from ..video import FrameOp, FrameProcessor, VideoInterrupted, process_video
from .common import info, warn

PHOTO_DETECT_SIZE = 1600  # common.py's --detect-size default
VIDEO_DETECT_SIZE = 960  # for video, unless --detect-size is given: the detector then costs ~3 ms/frame

VIDEO_EPILOG = f"""\
video ({", ".join(VIDEO_EXTS)}):
  Every frame is processed; faces are tracked with an ID, landmarks are smoothed, and a face missed
  for a few frames is held. Audio is copied untouched; frame rate, frame count, duration, rotation
  and size are kept. The output (H.264 mp4 by default; 4:4:4 for odd frame sizes) appears only when
  complete; on Ctrl-C the frames done so far are saved as OUT.partial.mp4, and the message says so.
  The detector works at 960 px for video unless --detect-size is given."""


def add_selection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("which faces (video and live)")
    g.add_argument("--largest", action="store_true", help="only the largest face in each frame")
    g.add_argument("--match", metavar="PHOTO",
                   help="only faces of the person in PHOTO (its largest face), by SFace face recognition")
    g.add_argument("--match-threshold", type=float, default=0.363, metavar="SIM",
                   help="cosine similarity needed for --match (default %(default)s, SFace's own)")
    g.add_argument("--detect-every", type=int, default=10, metavar="N",
                   help="run the full face detector every N frames; faces are tracked in between (default %(default)s)")


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


def plan_video_outputs(inputs: list[Path], output: str) -> list[Path]:
    out = Path(output)
    as_file = out.suffix.lower() in VIDEO_EXTS and not out.is_dir()
    if len(inputs) == 1 and as_file:
        return [out]
    if as_file:
        raise OutputError(f"{output}: several inputs need an output folder, not a file name")
    # In a folder, each output keeps its input's name; inputs we cannot write as such become .mp4.
    plans = [out / (p.name if p.suffix.lower() in VIDEO_EXTS else p.stem + ".mp4") for p in inputs]
    dupes = {str(p) for p in plans if plans.count(p) > 1}
    if dupes:
        raise OutputError(f"several inputs would write the same output: {', '.join(sorted(dupes))}")
    return plans


def make_processor(args: argparse.Namespace, op: FrameOp, live: bool = False) -> FrameProcessor:
    """Tracker + face selection from the parsed options (shared by video files and live)."""
    from ..analysis.detect import create_detector
    from ..analysis.track import FaceTracker, TrackerConfig

    size = getattr(args, "detect_size", PHOTO_DETECT_SIZE)
    detector = create_detector(getattr(args, "detector", "auto"),
                               VIDEO_DETECT_SIZE if size == PHOTO_DETECT_SIZE else size)
    if args.detect_every < 1:
        raise InputError("--detect-every must be at least 1")
    # Files: detect on every faceless frame, so an entering face is edited from its first frame.
    # Live: the detector runs beside the stream (async), paced so it never stalls a shown frame.
    config = TrackerConfig(detect_every=args.detect_every,
                           detect_every_empty=max(1, args.detect_every // 5) if live else 1,
                           max_faces=getattr(args, "max_faces", None), async_detect=live)
    identity = None
    if args.match:
        identity = make_identity(args.match, args.match_threshold)
    return FrameProcessor(op, FaceTracker(detector, config), largest=args.largest, identity=identity)


def make_identity(photo: str, threshold: float):
    from ..analysis import FaceAnalyzer
    from ..analysis.identity import FaceMatcher, TrackIdentity
    from ..media.image_io import load_image

    ref = load_image(photo)
    with FaceAnalyzer() as analyzer:
        faces = analyzer.detect(ref.bgr)
    return TrackIdentity(FaceMatcher(ref.bgr, faces, threshold, name=str(photo)))


def run_video(args: argparse.Namespace, op: FrameOp, inputs: list[str] | None = None,
              output: str | None = None) -> int:
    """Process each video with ``op``; returns the exit code (a batch goes on past bad files)."""
    srcs = [Path(i) for i in (inputs if inputs is not None else args.inputs)]
    dsts = plan_video_outputs(srcs, output if output is not None else args.output)
    if getattr(args, "save_mask", False):
        warn("--save-mask is for photos; no mask video is written")
    encode = EncodeOptions(args.codec, args.crf, args.preset, audio=not args.no_audio)
    failures: list[FacecanvasError] = []
    for src, dst in zip(srcs, dsts):
        processor = make_processor(args, op)
        try:
            report = process_video(src, dst, processor, encode=encode, overwrite=args.overwrite,
                                   progress=not args.no_progress and sys.stderr.isatty(), protected=tuple(srcs))
            info(report.summary())
            if not report.timings.frames_with_faces:
                warn(f"{src}: no face found in any frame; the video was copied unchanged")
        except VideoInterrupted as e:
            print(f"facecanvas: {e.message(dst)}", file=sys.stderr)
            return 130
        except FacecanvasError as e:
            failures.append(e)
            print(f"facecanvas: error: {e}", file=sys.stderr)
        finally:
            processor.tracker.close()
    if len(srcs) > 1:
        info(f"done: {len(srcs) - len(failures)} written, {len(failures)} failed of {len(srcs)}")
    if not failures:
        return 0
    for kind in (InputError, OutputError, NoFaceError, FacecanvasError):
        if any(isinstance(e, kind) for e in failures):
            return kind.exit_code
    return 1

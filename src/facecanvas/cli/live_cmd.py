"""``facecanvas live``: a camera (or a file played as one), processed and shown with low delay."""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..ops.base import Operation
from ..ops.erase import EraseOperation, EraseOptions
from ..ops.passthrough import PassthroughOperation
from ..pipeline import LiveOptions, make_processor
from ..video import run_live
from .common import add_analysis_options, info
from .options import add_options, from_args
from .video_common import add_selection_options, tracking_options

HELP = "process a camera live and show it in the browser (or send it to a virtual camera)"
DESCRIPTION = """\
Read a camera (or play a video file as if it were one), apply an operation to every face, and show
the result on a local web page at http://127.0.0.1:PORT/ (any browser; nothing leaves this machine).
Faces are tracked with IDs and their landmarks smoothed, exactly as for video files. When the
processing is slower than the camera, frames are dropped rather than delayed: what you see is
always the newest frame. At the end it prints the frames shown, dropped, and the added latency
(median and 95th percentile, from a frame's arrival to its hand-over to the page).

The operation: --effect NAME (an AR effect, see `facecanvas effect --help`), --erase (the blank
face), --swap PHOTO (that person's face on every face, see `facecanvas swap --help`), --deid (a new
synthetic identity per person, verified, see `facecanvas deid --help`), or
--passthrough (no edit; with --show-tracks it shows what the tracker sees).

examples:
  facecanvas live --camera 0 --effect comic          # then open http://127.0.0.1:8765/
  facecanvas live --camera 0 --erase --largest --virtual-cam
  facecanvas live --camera 0 --swap friend.jpg
  facecanvas live --camera 0 --deid --key my-secret
  facecanvas live --source clip.mp4 --erase --duration 10   # a file as a camera: real-time pacing
  facecanvas live --source clip.mp4 --passthrough --show-tracks --loop
"""


def add_parser(sub) -> None:
    p = sub.add_parser("live", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=None, metavar="N", help="camera index (/dev/videoN; default 0)")
    src.add_argument("--source", metavar="FILE", help="play a video file as if it were a camera (real time)")
    op = p.add_mutually_exclusive_group()
    op.add_argument("--effect", metavar="NAME", help="apply this AR effect to every face")
    op.add_argument("--erase", action="store_true", help="erase facial parts to a blank face (the default)")
    op.add_argument("--passthrough", action="store_true", help="no edit (preview the tracking with --show-tracks)")
    op.add_argument("--swap", metavar="PHOTO", help="put the face of the person in PHOTO on every face (face swap)")
    op.add_argument("--deid", action="store_true",
                    help="de-identify every face: a new, synthetic identity per person (see `facecanvas deid --help`)")
    p.add_argument("--key", metavar="SECRET", help="with --deid: the same person gets the same new face in every run")
    add_options(p.add_argument_group("with --erase"), EraseOptions,
                help={i.name: "with --erase: " + i.help for i in EraseOptions.schema()})
    add_options(p, LiveOptions, skip=("duration", "width", "height"))
    p.add_argument("--no-server", action="store_true", help="no web page (e.g. with --virtual-cam only)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument("--virtual-cam", action="store_true",
                   help="also send the stream to a virtual camera (needs pyvirtualcam and a driver)")
    p.add_argument("--show-tracks", action="store_true", help="draw face boxes and track IDs")
    add_options(p, LiveOptions, skip=("port",))
    p.add_argument("--loop", action="store_true", help="with --source: start again at the end")
    add_analysis_options(p)
    add_selection_options(p)
    p.set_defaults(run=run)


def make_op(args: argparse.Namespace) -> tuple[Operation, str]:
    if args.passthrough:
        return PassthroughOperation(), "passthrough"
    if args.swap:
        from ..ops.swap import SwapOperation, SwapOptions

        return SwapOperation(SwapOptions(source=args.swap), video=True), f"swap from {args.swap}"
    if args.deid:
        from ..ops.deid import DeidOperation, DeidOptions

        # Live checks a track every 5th frame (two SFace embeddings a face each time) and keeps the identity
        # that passed in between.
        return DeidOperation(DeidOptions(key=args.key, verify_every=5), video=True), "deid"
    if args.effect:
        from ..ops.effect import EffectOperation, EffectOptions

        return EffectOperation(EffectOptions(effect=args.effect), video=True), f"effect {args.effect}"
    return EraseOperation(from_args(EraseOptions, args), video=True), "erase"


def open_source(args: argparse.Namespace, live: LiveOptions):
    from ..media.camera import CameraSource, FileSource

    if args.source:
        return FileSource(args.source, loop=args.loop)
    return CameraSource(0 if args.camera is None else args.camera, live.width, live.height)


def run(args: argparse.Namespace) -> int:
    live, tracking = from_args(LiveOptions, args), tracking_options(args)  # checked before anything opens
    op, name = make_op(args)
    source = open_source(args, live)
    processor = make_processor(op, tracking, live=True)
    sinks, closers = [], []
    try:
        if not args.no_server:
            from ..media.live_server import LiveServer

            server = LiveServer(live.port).start()
            closers.append(server.close)
            sinks.append(server.publish)
            info(f"live: {source.name} ({source.size[0]}x{source.size[1]}, {source.fps:.0f} fps), {name}; "
                 f"open {server.url} (Ctrl-C to stop)")
            if args.open:
                import webbrowser

                webbrowser.open(server.url)
        if args.virtual_cam:
            from ..media.camera import VirtualCamera

            cam = VirtualCamera(source.size[0], source.size[1], source.fps)
            closers.append(cam.close)
            sinks.append(lambda frame, stats: cam.send(frame))
            info(f"live: sending to virtual camera {cam.device}")
        if not sinks:
            raise InputError("nothing to show: drop --no-server or add --virtual-cam")
        tty = sys.stderr.isatty()
        status = (lambda r: print(f"\r{r.frames} frames, {r.fps:.1f} fps, latency median {r.latency(50):.0f} ms, "
                                  f"dropped {r.dropped}   ", end="", file=sys.stderr, flush=True)) if tty else None
        with source:
            report = run_live(source, processor, sinks, duration=live.duration, show_tracks=args.show_tracks,
                              operation=name, status=status)
        if tty:
            print(file=sys.stderr)
        info(report.summary())
    finally:
        for close in reversed(closers):
            close()
        processor.tracker.close()
    return 0

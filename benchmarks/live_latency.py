"""Live added latency of an operation, measured as ``facecanvas live --source CLIP`` runs it: the clip played
as a camera in real time (``FileSource``), the live tracker (``make_processor(..., live=True)``), the live
server with one browser-like client reading the MJPEG stream. Added latency per shown frame = hand-over to
the page - arrival from the source (what ``facecanvas live`` prints). Shared by bench_video, bench_deid and
bench_swap."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import numpy as np


class TimedOp:
    """An op that records its own ms per call (everything else is the op's)."""

    def __init__(self, op):
        self.op, self.ms = op, []

    def __call__(self, bgr, faces):
        t0 = time.perf_counter()
        out = self.op(bgr, faces)
        self.ms.append(1000 * (time.perf_counter() - t0))
        return out

    def __getattr__(self, name):
        return getattr(self.op, name)


def live_latency(clip: Path, op, seconds: float, label: str) -> dict:
    """median/p95 added latency (ms), shown fps, dropped and shown frames, and the op's own median ms."""
    from facecanvas.media.camera import FileSource
    from facecanvas.media.live_server import LiveServer
    from facecanvas.pipeline import TrackingOptions, make_processor
    from facecanvas.video import run_live

    timed = TimedOp(op)
    processor = make_processor(timed, TrackingOptions(), live=True)
    stop = threading.Event()
    with LiveServer(port=0) as server, FileSource(clip, loop=True) as source:
        def client():  # a browser: reads the MJPEG stream as fast as it comes
            with urllib.request.urlopen(server.url + "stream.mjpg", timeout=10) as r:
                while not stop.is_set() and r.read(65536):
                    pass

        th = threading.Thread(target=client, daemon=True)
        th.start()
        rep = run_live(source, processor, [server.publish], duration=seconds, operation=label)
        stop.set()
    processor.tracker.close()
    return {"median": rep.latency(50), "p95": rep.latency(95), "fps": rep.fps, "dropped": rep.dropped,
            "frames": rep.frames, "source_fps": source.fps,
            "op_ms": float(np.median(timed.ms[5:] or timed.ms or [np.nan]))}

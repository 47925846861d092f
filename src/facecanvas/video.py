"""The one path every face operation takes on video files and live streams.

An operation is a ``FrameOp``: ``op(bgr_frame, faces) -> bgr_frame``, the same callable a photo
command uses (erase: ``lambda frame, faces: erase(frame, parts, faces=faces).image``). This module adds
time: ``FrameProcessor`` tracks and smooths the faces of each frame, picks which ones to edit (all, the
largest, or those matching a reference photo) and calls the op; ``process_video`` runs it over a file
with decoding and tracking a few frames ahead (in a child process, track_process.py, or a thread) and
encoding in a background thread. Frames without a selected face are passed through untouched: the op is
not called.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .analysis.face import Face
from .analysis.identity import TrackIdentity
from .analysis.track import FaceTracker, TrackedFace
from .media.video_io import EncodeOptions, Frame, ThreadedMap, VideoInfo, VideoReader, VideoWriter, probe

if TYPE_CHECKING:
    from .track_process import TrackChild, TrackProcess

FrameOp = Callable[[np.ndarray, list[Face]], np.ndarray]


@dataclass
class FrameTimings:
    track_s: float = 0.0
    op_s: float = 0.0
    frames: int = 0
    frames_with_faces: int = 0


class FrameProcessor:
    """Track the faces of each frame and apply ``op`` to the selected ones.

    ``largest``: only the largest face (with hysteresis, so two similar faces do not swap every frame).
    ``identity``: only faces whose track matches a reference person (see analysis/identity.py).
    """

    def __init__(self, op: FrameOp, tracker: FaceTracker, *, largest: bool = False,
                 identity: TrackIdentity | None = None):
        self.op, self.tracker, self.largest, self.identity = op, tracker, largest, identity
        self.timings = FrameTimings()
        self.tracking = None  # the TrackingOptions it was made from (pipeline.make_processor), if any
        self._chosen: int | None = None
        self._index = 0

    def warm_up(self) -> None:
        """One-time set-up that the first frame would otherwise pay for (model graphs, lookup tables), so a
        caller can run it beside other start-up work. Optional; it must finish before the first frame."""
        self.warm_up_tracking()
        self.warm_up_op()

    def warm_up_tracking(self) -> None:
        """The tracker's part of ``warm_up`` (before the first ``track``)."""
        _call_if_there(self.tracker, "warm_up")

    def warm_up_op(self) -> None:
        """The op's part of ``warm_up`` (``op.warm_up()``, if it has one; before the first ``apply``)."""
        _call_if_there(self.op, "warm_up")

    def select(self, bgr: np.ndarray, faces: list[TrackedFace]) -> list[TrackedFace]:
        if self.identity is not None:
            faces = [f for f in faces if self.identity.is_match(f.track_id, self._index, bgr, f, f.held)]
        if self.largest and faces:
            biggest = max(faces, key=lambda f: f.detection.size)
            current = next((f for f in faces if f.track_id == self._chosen), None)
            if current is None or current.detection.size < 0.8 * biggest.detection.size:
                current = biggest
            self._chosen = current.track_id
            faces = [current]
        return faces

    def __call__(self, bgr: np.ndarray, t: float) -> tuple[np.ndarray, list[TrackedFace]]:
        """(output frame, the faces the op was applied to). ``t``: the frame's time in seconds."""
        return self.apply(bgr, self.track(bgr, t))

    def track(self, bgr: np.ndarray, t: float) -> list[TrackedFace]:
        """The first stage: the faces to edit in this frame. Frames must come in order."""
        t0 = time.perf_counter()
        faces = self.select(bgr, self.tracker.update(bgr, t))
        self.timings.track_s += time.perf_counter() - t0
        self.timings.frames += 1
        self._index += 1
        return faces

    def apply(self, bgr: np.ndarray, faces: list[TrackedFace]) -> tuple[np.ndarray, list[TrackedFace]]:
        """The second stage: the op on the faces ``track`` chose (may run one frame behind it)."""
        if not faces:
            return bgr, faces
        t0 = time.perf_counter()
        out = self.op(bgr, list(faces))
        self.timings.op_s += time.perf_counter() - t0
        self.timings.frames_with_faces += 1
        return out, faces


def _call_if_there(obj, name: str) -> None:
    fn = getattr(obj, name, None)
    if callable(fn):
        fn()


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, which the CLI raises as a KeyboardInterrupt too) during ``process_video``;
    ``partial`` is the playable file kept, or None if none was; ``dst`` the output not written."""

    def __init__(self, frames: int, total: int, partial: Path | None, dst: Path | None = None):
        super().__init__()
        self.frames, self.total, self.partial, self.dst = frames, total, partial, dst

    def message(self, dst: Path | None = None) -> str:
        from .media.names import display_path

        dst = display_path(dst if dst is not None else self.dst)
        of = f" of {self.total}" if self.total else ""
        if self.partial is not None:
            return (f"interrupted after {self.frames}{of} frames: the frames done so far were saved, closed "
                    f"properly, as {display_path(self.partial)}; {dst} was not written")
        return f"interrupted after {self.frames}{of} frames: nothing was kept; {dst} was not written"


@dataclass
class VideoReport:
    src: Path
    dst: Path
    info: VideoInfo
    frames: int = 0
    seconds: float = 0.0  # wall time from the first decoded frame to the closed file
    timings: FrameTimings = field(default_factory=FrameTimings)
    track_ids: int = 0
    damaged: int = 0  # frames the decoder flagged as corrupt (shown as decoded)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        t = self.timings
        per = lambda s: f"{1000 * s / max(t.frames, 1):.1f} ms"  # noqa: E731
        from .media.names import display_path

        text = (f"{display_path(self.src)} -> {display_path(self.dst)}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} fps); "
                f"faces edited in {t.frames_with_faces} frames, {self.track_ids} track(s); "
                f"per frame: tracking {per(t.track_s)}, edit {per(t.op_s)}")
        if self.damaged:
            text += f"; warning: {self.damaged} frames were damaged in the input"
        return text


def process_video(src: str | Path, dst: str | Path, processor: FrameProcessor, *,
                  encode: EncodeOptions = EncodeOptions(), overwrite: bool = False, progress: bool = True,
                  protected: tuple[Path, ...] = (),
                  on_frame: Callable[[Frame, np.ndarray, list[TrackedFace]], None] | None = None,
                  track_process: bool | None = None, track_child: TrackChild | None = None) -> VideoReport:
    """Apply ``processor`` to every frame of ``src`` and write ``dst``.

    Audio is copied untouched; every frame keeps its timestamp; rotation metadata and size are kept.
    ``dst`` appears only when complete. On any error the temporary file is removed; on Ctrl-C the frames
    done so far are closed properly as ``NAME.partial.EXT`` and VideoInterrupted is raised.
    ``track_process``: track in a child process (track_process.py); None: where it can (``can_use``).
    ``track_child``: a child process started earlier for this (``TrackChild``), used or closed here.
    """
    from . import track_process as tp

    src, dst = Path(src), Path(dst)
    try:
        info = probe(src)
    except BaseException:
        if track_child is not None:
            track_child.close()
        raise
    child = None
    if tp.can_use(processor, info) if track_process is None else track_process:
        try:
            child = tp.TrackProcess(src, info, processor.tracking, track_child)
        except OSError:
            pass  # no process could be started: the tracking thread below
    if track_child is not None:
        track_child.close()  # (unless the TrackProcess took it)
    # Start-up in parallel: the tracker's MediaPipe import and first graph (here or in the child), and the
    # op's lookup tables, while this thread opens the encoder and the decoder; each is waited for before its
    # stage's first frame, and both before this function returns or raises (no thread is left building
    # graphs at exit).
    threads = _opencv_threads(1)
    warm_tracking = _Background(None if child else processor.warm_up_tracking)
    warm_op = _Background(processor.warm_up_op)
    try:
        return _process(src, dst, info, processor, warm_tracking, warm_op, encode=encode, overwrite=overwrite,
                        progress=progress, protected=protected, on_frame=on_frame, child=child)
    finally:
        if child is not None:
            child.close()
        warm_tracking.join()
        warm_op.join()
        _opencv_threads(threads)


def _opencv_threads(n: int) -> int:
    """Set OpenCV's thread count (process-wide); returns the one before. A video run sets 1: its stages
    (decode, tracking, the op, encode) already keep the cores busy, and OpenCV's pool split the op's small
    crop-sized calls over a worker that spun (sched_yield) between them: ~0.5 CPU-s of a 240-frame run
    on two cores, taken from the stages."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    return before


def _process(src: Path, dst: Path, info: VideoInfo, processor: FrameProcessor, warm_tracking: "_Background",
             warm_op: "_Background", *, encode: EncodeOptions, overwrite: bool, progress: bool,
             protected: tuple[Path, ...],
             on_frame: Callable[[Frame, np.ndarray, list[TrackedFace]], None] | None,
             child: TrackProcess | None = None) -> VideoReport:
    writer = VideoWriter(dst, info, encode, overwrite=overwrite, protected=protected)
    report = VideoReport(src, dst, info)
    reader = tracked = bar = None
    t0 = time.perf_counter()
    try:
        try:
            # Inside the try: a Ctrl-C or SIGTERM from here on closes or removes the temporary file.
            reader = VideoReader(src, info=info) if child is None else None  # (else the child decodes)
            bar = _progress_bar(info.frames, src.name, progress)

            def track(fr: Frame):
                warm_tracking.join()
                return fr, processor.track(fr.bgr, fr.time)

            # Two stages on two cores: frame t+1 is decoded and tracked (in a child process, or a thread)
            # while the op edits frame t.
            tracked = child if child is not None else ThreadedMap(reader, track, "facecanvas-track")
            for frame, chosen in tracked:
                warm_op.join()
                out, faces = processor.apply(frame.bgr, chosen)
                if on_frame is not None:
                    on_frame(frame, out, faces)
                writer.write(frame, out)
                report.frames += 1
                bar.update(1)
        finally:
            for stage in (tracked, reader, bar):
                if stage is not None and stage is not child:  # (process_video closes the child)
                    stage.close()
            warm_tracking.join()  # (the caller may close the tracker next)
        writer.finish()
    except KeyboardInterrupt:
        partial = writer.finish_partial()
        raise VideoInterrupted(report.frames, info.frames, partial, dst) from None
    except BaseException:
        writer.abort()
        raise
    report.seconds = time.perf_counter() - t0
    if child is not None:  # the child's tracking figures, as if it had run here
        processor.tracker.stats = child.stats
        processor.timings.track_s, processor.timings.frames = child.timings.track_s, child.timings.frames
        if child.built is not None and hasattr(processor.tracker.landmarker, "built"):
            processor.tracker.landmarker.built = child.built
    report.timings = processor.timings
    report.track_ids = len(processor.tracker.stats.ids)
    report.damaged = reader.damaged if child is None else child.damaged
    return report


class _Background:
    """Run ``fn`` in a daemon thread now; ``join()`` waits for it. A failure is dropped: ``fn`` is only
    ahead-of-time set-up, and the real call that follows meets the same error where it is handled."""

    def __init__(self, fn: Callable[[], None] | None):
        import threading

        if fn is None:  # nothing to do
            self._thread = None
            return

        def run():
            try:
                fn()
            except Exception:  # noqa: BLE001 - see the class docstring
                pass

        self._thread = threading.Thread(target=run, name="facecanvas-warm-up", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for ``fn`` (called before every frame's stage: after the first wait it is a no-op)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, name: str, progress: bool):
    if not progress:
        return _NoBar()  # (tqdm is not even imported: ~20 ms of start-up)
    from tqdm import tqdm

    return tqdm(total=total or None, unit="frame", desc=name, file=sys.stderr, dynamic_ncols=True, leave=False)


@dataclass
class LiveReport:
    frames: int = 0  # frames processed and shown
    dropped: int = 0  # frames the source delivered that were never processed (the pipeline was busy)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # per shown frame: shown - arrived

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> str:
        return (f"live: {self.frames} frames shown in {self.seconds:.1f} s ({self.fps:.1f} fps), "
                f"{self.dropped} dropped; added latency per frame median {self.latency(50):.1f} ms, "
                f"p95 {self.latency(95):.1f} ms")


def draw_tracks(bgr: np.ndarray, faces: list[TrackedFace]) -> np.ndarray:
    """Boxes and track IDs (held faces in orange), for ``--show-tracks``."""
    import cv2

    out = bgr.copy()
    for f in faces:
        x0, y0, x1, y1 = np.round(f.box).astype(int)
        color = (0, 165, 255) if f.held else (0, 220, 0)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, 2)
        cv2.putText(out, f"id {f.track_id}", (x0, max(12, y0 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
    return out


def run_live(source, processor: FrameProcessor, sinks: list[Callable[[np.ndarray, dict], None]], *,
             duration: float | None = None, show_tracks: bool = False, operation: str = "",
             status: Callable[[LiveReport], None] | None = None, warmup: int = 5) -> LiveReport:
    """Read the newest frame of ``source``, process it, hand it to every sink; until the source ends,
    ``duration`` seconds pass, or Ctrl-C (which ends the loop normally).

    Added latency = the moment the sinks have the frame minus the moment it arrived from the source.
    The first ``warmup`` frames (model start-up) are not counted.
    """
    report = LiveReport()
    t0 = time.monotonic()
    last_status = t0
    try:
        while duration is None or time.monotonic() - t0 < duration:
            frame = source.read()
            if frame is None:
                break
            out, faces = processor(frame.bgr, frame.time)
            if show_tracks:
                out = draw_tracks(out, faces)
            lat = report.latencies_ms[-30:]
            stats = {"operation": operation, "fps": report.fps, "faces": len(faces),
                     "latency_ms": lat[-1] if lat else 0.0,
                     "latency_median_ms": float(np.median(lat)) if lat else 0.0, "dropped": source.dropped}
            for sink in sinks:
                sink(out, stats)
            report.frames += 1
            if report.frames > warmup:
                report.latencies_ms.append(1000 * (time.monotonic() - frame.arrival))
            report.seconds = time.monotonic() - t0
            report.dropped = source.dropped
            if status is not None and time.monotonic() - last_status > 1.0:
                last_status = time.monotonic()
                status(report)
    except KeyboardInterrupt:
        pass
    report.seconds = time.monotonic() - t0
    report.dropped = source.dropped
    return report

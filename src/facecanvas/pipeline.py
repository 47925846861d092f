"""Pipeline options in the library: how faces are found (``AnalysisOptions``) and followed over time
(``TrackingOptions``), and the objects made from them. The CLI, the benchmarks and the web app only map
their inputs onto these.

    processor = make_processor(build("erase", video=True), TrackingOptions(largest=True))
    report = process_video("in.mp4", "out.mp4", processor)
"""

from __future__ import annotations

from dataclasses import dataclass

from .analysis import FaceAnalyzer
from .analysis.detect import DETECTORS
from .analysis.identity import SFACE_THRESHOLD
from .ops.base import Options, option
from .video import FrameOp, FrameProcessor

PHOTO_DETECT_SIZE = 1600  # the detector finds the small faces of group photos at this side
VIDEO_DETECT_SIZE = 960  # video's default: the detector then costs ~3 ms a frame


@dataclass(frozen=True)
class AnalysisOptions(Options):
    detector: str = option("auto", "face detector: yunet finds small faces in group photos; auto = yunet if "
                           "installed", choices=("auto",) + DETECTORS)
    detect_size: int | None = option(None, f"longest side the detector works at (default {PHOTO_DETECT_SIZE} for "
                                     f"photos, {VIDEO_DETECT_SIZE} for video; lower is faster, misses tiny faces)",
                                     min=32, max=8192, metavar="PX")
    max_faces: int | None = option(None, "only the N largest faces (default: all)", min=1, metavar="N")

    def detector_size(self, video: bool = False) -> int:
        if self.detect_size is not None:
            return self.detect_size
        return VIDEO_DETECT_SIZE if video else PHOTO_DETECT_SIZE


@dataclass(frozen=True)
class TrackingOptions(AnalysisOptions):
    detect_every: int = option(10, "run the full face detector every N frames; faces are tracked in between",
                               min=1, max=10000)
    mesh_every: int | None = option(None, "run the 478-point face mesh on a tracked face every N frames; in between "
                                    "its landmarks follow the head by optical flow while the lips and lids move with "
                                    "it (a moving mouth runs the mesh at once). Default: every frame with one or two "
                                    "faces, every 3rd with more", min=1, max=10, metavar="N")
    largest: bool = option(False, "only the largest face in each frame")
    match: str | None = option(None, "only faces of the person in this photo (its largest face), by SFace "
                               "face recognition", metavar="PHOTO")
    match_threshold: float = option(SFACE_THRESHOLD, "cosine similarity needed for --match (SFace's own)",
                                    min=-1.0, max=1.0, metavar="SIM")


def make_analyzer(options: AnalysisOptions = AnalysisOptions(), video: bool = False) -> FaceAnalyzer:
    return FaceAnalyzer(options.detector, max_side=options.detector_size(video), max_faces=options.max_faces)


def make_processor(op: FrameOp, options: TrackingOptions = TrackingOptions(), live: bool = False) -> FrameProcessor:
    """Tracker + face selection around ``op`` (files and live streams alike)."""
    from .analysis.detect import create_detector
    from .analysis.track import FaceTracker, TrackerConfig

    detector = create_detector(options.detector, options.detector_size(video=True))
    # Files: detect on every faceless frame, so an entering face is edited from its first frame.
    # Live: the detector runs beside the stream (async), paced so it never stalls a shown frame.
    config = TrackerConfig(detect_every=options.detect_every,
                           detect_every_empty=max(1, options.detect_every // 5) if live else 1,
                           max_faces=options.max_faces, async_detect=live, mesh_every=options.mesh_every)
    identity = _IdentityOnFirstUse(options.match, options.match_threshold) if options.match else None
    processor = FrameProcessor(op, FaceTracker(detector, config), largest=options.largest, identity=identity)
    # A file's frames may then be tracked in a child process made from the same options (track_process.py).
    processor.tracking = None if live else options
    return processor


class _IdentityOnFirstUse:
    """``make_identity`` on the first face it is asked about: a video tracked in a child process never asks
    this process's (making it cost ~0.5 s: the reference photo's analysis and SFace). A reference photo
    without a face is then reported at the first tracked frame instead of before the video is opened."""

    def __init__(self, photo: str, threshold: float):
        self.photo, self.threshold, self._identity = photo, threshold, None

    def is_match(self, *args, **kwargs) -> bool:
        if self._identity is None:
            self._identity = make_identity(self.photo, self.threshold)
        return self._identity.is_match(*args, **kwargs)


def make_identity(photo: str, threshold: float = SFACE_THRESHOLD):
    """Per-track "is this the person in ``photo``" (its largest face)."""
    from .analysis.identity import FaceMatcher, TrackIdentity
    from .media.image_io import load_image

    ref = load_image(photo)
    with FaceAnalyzer() as analyzer:
        faces = analyzer.detect(ref.bgr)
    return TrackIdentity(FaceMatcher(ref.bgr, faces, threshold, name=str(photo)))


@dataclass(frozen=True)
class LiveOptions(Options):
    port: int = option(8765, "web page port on 127.0.0.1 (0 = any free)", min=0, max=65535, metavar="PORT")
    duration: float | None = option(None, "stop after this many seconds", min=0.0, metavar="SEC")
    width: int | None = option(None, "requested camera width", min=16, max=16384)
    height: int | None = option(None, "requested camera height", min=16, max=16384)

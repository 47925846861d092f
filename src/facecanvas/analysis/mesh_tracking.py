"""478-point landmarks for video: the mesh follows each face from its previous landmarks.

The photo landmarker (landmarks.py) runs MediaPipe in static mode on a crop per detection. For video,
the crop of frame t comes from the landmarks of frame t-1, upright along the eye line, so no detector
is needed between detections. Each track has its own MediaPipe FaceMesh in tracking mode, which reuses
its own previous result inside the crop and skips its internal detector (about half the time).
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import fit_similarity, invert_affine
from .face import Detection
from .landmark_groups import LEFT_IRIS, RIGHT_IRIS

MESH_INPUT = 256
_CROP_ZOOM_BOX = 1.8  # crop side / detection box side (as the photo landmarker)
_CROP_ZOOM_MESH = 1.5  # crop side / landmark extent (the mesh spans forehead to chin, wider than a box)


def _square_crop(center: np.ndarray, side: float, angle: float) -> np.ndarray:
    """2x3 similarity mapping an upright square of ``side`` around ``center`` (rotated by ``angle``) to the crop."""
    half = side / 2
    c, s = np.cos(angle), np.sin(angle)
    src = center + np.array([[-half, -half], [half, -half], [-half, half]]) @ np.array([[c, s], [-s, c]])
    dst = np.array([[0, 0], [MESH_INPUT, 0], [0, MESH_INPUT]], np.float64)
    return fit_similarity(src, dst)


def crop_from_detection(det: Detection) -> np.ndarray:
    d = det.keypoints[1] - det.keypoints[0]
    center = (det.box[:2] + det.box[2:]) / 2
    return _square_crop(center.astype(np.float64), _CROP_ZOOM_BOX * det.size, float(np.arctan2(d[1], d[0])))


def crop_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, np.float64)[:, :2]
    eyes = pts[[RIGHT_IRIS[0], LEFT_IRIS[0]]]
    d = eyes[1] - eyes[0]
    angle = float(np.arctan2(d[1], d[0]))
    # Extent measured along the face's own axes, so a rolled head does not inflate the crop.
    c, s = np.cos(angle), np.sin(angle)
    local = pts @ np.array([[c, -s], [s, c]])
    lo, hi = local.min(0), local.max(0)
    center = ((lo + hi) / 2) @ np.array([[c, s], [-s, c]])
    return _square_crop(center, _CROP_ZOOM_MESH * float((hi - lo).max()), angle)


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks)[:, :2]
    return np.concatenate([pts.min(0), pts.max(0)]).astype(np.float32)


class TrackingLandmarker:
    """One MediaPipe FaceMesh (tracking mode) per track id; ``landmarks(track_id, bgr, crop)``."""

    def __init__(self, min_confidence: float = 0.5):
        self._min_confidence = min_confidence
        self._meshes: dict[int, object] = {}

    def _mesh(self, track_id: int):
        mesh = self._meshes.get(track_id)
        if mesh is None:
            import mediapipe as mp

            mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self._min_confidence, min_tracking_confidence=self._min_confidence)
            self._meshes[track_id] = mesh
        return mesh

    def drop(self, track_id: int) -> None:
        mesh = self._meshes.pop(track_id, None)
        if mesh is not None:
            mesh.close()

    def close(self) -> None:
        for tid in list(self._meshes):
            self.drop(tid)

    def landmarks(self, track_id: int, bgr: np.ndarray, crop_matrix: np.ndarray) -> np.ndarray | None:
        """(478, 3) landmarks in image pixels, or None when the crop holds no face."""
        crop = cv2.warpAffine(bgr, crop_matrix, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        res = self._mesh(track_id).process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        if not res.multi_face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in res.multi_face_landmarks[0].landmark], np.float64) * MESH_INPUT
        # A mesh that drifted to the crop's edge has lost the face it was following.
        nose = pts[1, :2]
        if np.abs(nose - MESH_INPUT / 2).max() > 0.3 * MESH_INPUT:
            return None
        inv = invert_affine(crop_matrix)
        out = np.empty_like(pts)
        out[:, :2] = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        out[:, 2] = pts[:, 2] * np.sqrt(abs(np.linalg.det(inv[:, :2])))
        return out.astype(np.float32)

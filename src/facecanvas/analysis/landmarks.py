"""478-point MediaPipe face mesh, run on an upright crop around each detection.

Running the mesh on a crop per detection (rather than on the whole frame) is what lets it see the
small faces of group photos, and rotating the crop by the detector's eye line handles rolled heads.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import fit_similarity, invert_affine
from .face import Detection

MESH_INPUT = 256
_CROP_ZOOM = 1.8  # crop side relative to the detection box

# A NormalizedLandmark as MediaPipe serializes it when it carries x, y and z only: field 1 (the landmark,
# 15 bytes) holding floats 1, 2 and 3. Reading the bytes with numpy takes ~20 us for 478 points, where
# reading the message's 478 x 3 attributes in Python takes ~1 ms (a quarter of a video mesh call's CPU).
_ENTRY = np.dtype([("tag", "u1"), ("len", "u1"), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                   ("tz", "u1"), ("z", "<f4")])


def landmark_array(landmark_list) -> np.ndarray:
    """(N, 3) float64 normalized points of a MediaPipe ``NormalizedLandmarkList``."""
    data = landmark_list.SerializeToString()
    n = len(landmark_list.landmark)
    if len(data) == n * _ENTRY.itemsize:
        e = np.frombuffer(data, _ENTRY)
        if ((e["tag"] == 0x0A) & (e["len"] == 15) & (e["tx"] == 0x0D) & (e["ty"] == 0x15) & (e["tz"] == 0x1D)).all():
            return np.stack([e["x"], e["y"], e["z"]], axis=1).astype(np.float64)
    # Any other layout (a coordinate of exactly 0 is left out of the bytes; visibility or presence set).
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], np.float64)


class FaceMeshLandmarker:
    """Wraps ``mp.solutions.face_mesh.FaceMesh(refine_landmarks=True)`` in static-image mode."""

    def __init__(self, min_confidence: float = 0.3):
        from .mp_import import import_mediapipe
        mp = import_mediapipe()

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=3, refine_landmarks=True,
            min_detection_confidence=min_confidence)

    def close(self) -> None:
        self._mesh.close()

    def crop_matrix(self, det: Detection) -> np.ndarray:
        """Similarity that maps the detection to an upright MESH_INPUT crop (2x3, image -> crop)."""
        eyes = det.keypoints[:2]
        center = (det.box[:2] + det.box[2:]) / 2
        d = eyes[1] - eyes[0]
        angle = np.arctan2(d[1], d[0])
        half = _CROP_ZOOM * det.size / 2
        c, s = np.cos(angle), np.sin(angle)
        # Three crop corners in the image, rotated with the eye line.
        src = center + np.array([[-half, -half], [half, -half], [-half, half]]) @ np.array([[c, s], [-s, c]])
        dst = np.array([[0, 0], [MESH_INPUT, 0], [0, MESH_INPUT]], np.float64)
        return fit_similarity(src, dst)

    def landmarks(self, bgr: np.ndarray, det: Detection) -> np.ndarray | None:
        """(478, 3) landmarks in image pixels, or None when the mesh cannot find this face."""
        m = self.crop_matrix(det)
        # Replicated borders: the mesh's own detector misses faces cut by the image edge on black.
        crop = cv2.warpAffine(bgr, m, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        res = self._mesh.process(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        if not res.multi_face_landmarks:
            return None
        # Neighbours can enter the crop: keep the mesh whose nose is nearest the crop centre.
        candidates = [landmark_array(f) * MESH_INPUT for f in res.multi_face_landmarks]
        pts = min(candidates, key=lambda c: np.linalg.norm(c[1, :2] - MESH_INPUT / 2))
        inv = invert_affine(m)
        scale = np.sqrt(abs(np.linalg.det(inv[:, :2])))
        out = np.empty_like(pts)
        out[:, :2] = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        out[:, 2] = pts[:, 2] * scale
        # Reject a mesh that landed on another face: its eyes must sit near the detector's eyes.
        eyes = out[[468, 473], :2]
        # (Profile faces have nearly coincident detector eyes, hence the floor from the box size.)
        tol = max(0.5 * np.linalg.norm(det.keypoints[1] - det.keypoints[0]), 0.25 * det.size)
        if np.linalg.norm(eyes - det.keypoints[:2], axis=1).max() > tol:
            return None
        return out.astype(np.float32)

"""Move a face's landmarks to the next frame without the face mesh: sparse optical flow, one similarity.

``FlowStep(prev_gray, gray).move(landmarks)`` tracks a few dozen stable mesh points (face outline, nose,
eye and mouth corners) with pyramidal Lucas-Kanade, fits one 2D similarity to them (RANSAC) and applies
it to all 478 points (depth scaled alike). About 1 ms a face against the mesh's 4-9 ms. The expression
does not change on such a frame (the mouth and lids move with the head only), so the tracker uses it
only between mesh frames (``TrackerConfig.mesh_every``) and falls back to the mesh when the flow is
unsure: few points tracked, a poor fit, or a jump in scale.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import landmark_groups as lg

# Points that move with the head and not with the expression: the outline, the nose, the inner eye corners.
_ANCHORS = np.array(sorted(set(lg.FACE_OVAL) | {1, 4, 5, 6, 168, 197, 195, 133, 362, 33, 263}), np.int64)
_LK = dict(winSize=(15, 15), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
MIN_TRACKED = 0.6  # share of anchor points LK must follow
MAX_RESIDUAL = 0.06  # median fit error, in eye distances
MAX_SCALE_STEP = 0.08  # a larger scale change in one frame is not believed


class FlowStep:
    """One frame-to-frame step; ``gray`` frames are uint8 HxW (cv2.cvtColor BGR2GRAY)."""

    def __init__(self, prev_gray: np.ndarray, gray: np.ndarray):
        self.prev, self.cur = prev_gray, gray

    def move(self, landmarks: np.ndarray, eye_distance: float) -> np.ndarray | None:
        """``landmarks`` (N, 3) in the previous frame -> the same points in this one, or None."""
        p0 = np.ascontiguousarray(landmarks[_ANCHORS, :2], np.float32).reshape(-1, 1, 2)
        p1, status, _ = cv2.calcOpticalFlowPyrLK(self.prev, self.cur, p0, None, **_LK)
        if p1 is None:
            return None
        ok = status.reshape(-1).astype(bool)
        if ok.mean() < MIN_TRACKED:
            return None
        m, inliers = cv2.estimateAffinePartial2D(p0[ok], p1[ok], method=cv2.RANSAC,
                                                 ransacReprojThreshold=max(1.0, 0.05 * eye_distance))
        if m is None or inliers is None or inliers.mean() < MIN_TRACKED:
            return None
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        if abs(scale - 1.0) > MAX_SCALE_STEP:
            return None
        moved = p0[ok].reshape(-1, 2) @ m[:, :2].T + m[:, 2]
        if np.median(np.linalg.norm(moved - p1[ok].reshape(-1, 2), axis=1)) > MAX_RESIDUAL * eye_distance:
            return None
        out = np.empty_like(landmarks, dtype=np.float32)
        out[:, :2] = landmarks[:, :2] @ m[:, :2].T + m[:, 2]
        out[:, 2] = landmarks[:, 2] * scale
        return out

"""Move a face's landmarks to the next frame without the face mesh: sparse optical flow, one similarity.

``FlowStep(prev_gray, gray).move(landmarks)`` tracks a few dozen stable mesh points (face outline, nose,
eye corners) with pyramidal Lucas-Kanade, fits one 2D similarity to them (RANSAC) and applies it to all
478 points (depth scaled alike). The expression does not change on such a frame (the mouth and lids move
with the head only), so the tracker uses it only between mesh frames (``TrackerConfig.mesh_every``) and
falls back to the mesh when the flow is unsure (few points tracked, a poor fit, a jump in scale) or when
the face's expression moved: the lips and lids, tracked too, left the similarity's prediction.

The flow runs on a window around the face, not the whole frame: Lucas-Kanade builds an image pyramid of
both images on every call, and a 640x360 frame's pair costs ~2 ms where a small face's window is ~0.2 ms.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import landmark_groups as lg

# Points that move with the head and not with the expression: the outline, the nose, the inner eye corners.
_ANCHORS = np.array(sorted(set(lg.FACE_OVAL) | {1, 4, 5, 6, 168, 197, 195, 133, 362, 33, 263}), np.int64)
# Points that move with the expression: the lips (outer and inner) and the middle of each lid.
_EXPRESSION = np.array(sorted(set(lg.LIPS) | set(lg.INNER_LIPS) | {159, 145, 386, 374}), np.int64)
_WIN = 15
_LK = dict(winSize=(_WIN, _WIN), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
MIN_TRACKED = 0.6  # share of anchor points LK must follow
MAX_RESIDUAL = 0.06  # median fit error of the anchors, in eye distances
MAX_SCALE_STEP = 0.08  # a larger scale change in one frame is not believed
MAX_EXPRESSION = 0.04  # eye distances: the lips and lids (their 75th percentile) moving this far from the head's motion


class FlowStep:
    """One frame-to-frame step; ``gray`` frames are uint8 HxW (cv2.cvtColor BGR2GRAY)."""

    def __init__(self, prev_gray: np.ndarray, gray: np.ndarray):
        self.prev, self.cur = prev_gray, gray

    def _window(self, pts: np.ndarray) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the points' box, with room for the flow's search at every pyramid level."""
        pad = int(0.25 * float((pts.max(0) - pts.min(0)).max())) + _WIN * 4
        h, w = self.cur.shape[:2]
        x0, y0 = np.floor(pts.min(0)).astype(int) - pad
        x1, y1 = np.ceil(pts.max(0)).astype(int) + pad
        return max(0, x0), max(0, y0), min(w, x1), min(h, y1)

    def move(self, landmarks: np.ndarray, eye_distance: float) -> np.ndarray | None:
        """``landmarks`` (N, 3) in the previous frame -> the same points in this one, or None."""
        pts = np.asarray(landmarks[:, :2], np.float32)
        x0, y0, x1, y1 = self._window(pts)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        offset = np.array([x0, y0], np.float32)
        n = len(_ANCHORS)
        p0 = np.concatenate([pts[_ANCHORS], pts[_EXPRESSION]]) - offset
        p1, status, _ = cv2.calcOpticalFlowPyrLK(self.prev[y0:y1, x0:x1], self.cur[y0:y1, x0:x1],
                                                 p0.reshape(-1, 1, 2), None, **_LK)
        if p1 is None:
            return None
        p1, ok = p1.reshape(-1, 2), status.reshape(-1).astype(bool)
        a0, a1, a_ok = p0[:n], p1[:n], ok[:n]
        if a_ok.mean() < MIN_TRACKED:
            return None
        m, inliers = cv2.estimateAffinePartial2D(a0[a_ok], a1[a_ok], method=cv2.RANSAC,
                                                 ransacReprojThreshold=max(1.0, 0.05 * eye_distance))
        if m is None or inliers is None or inliers.mean() < MIN_TRACKED:
            return None
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        if abs(scale - 1.0) > MAX_SCALE_STEP:
            return None
        predicted = p0 @ m[:, :2].T + m[:, 2]
        error = np.linalg.norm(predicted - p1, axis=1)
        if np.median(error[:n][a_ok]) > MAX_RESIDUAL * eye_distance:
            return None
        e_ok = ok[n:]
        if e_ok.any() and np.percentile(error[n:][e_ok], 75) > MAX_EXPRESSION * eye_distance:
            return None  # the mouth or the lids moved: the mesh must see it
        out = np.empty_like(landmarks, dtype=np.float32)
        # The similarity found in the window's frame, moved back to the image's.
        t = m[:, 2] + offset - m[:, :2] @ offset
        out[:, :2] = landmarks[:, :2] @ m[:, :2].T + t
        out[:, 2] = landmarks[:, 2] * scale
        return out

"""Geometry metrics between two faces' MediaPipe meshes: head-pose error and expression error.

* ``pose_error(a, b)``: the angle (degrees) of the relative 3D rotation between two meshes: each
  (468, 3) mesh centred and scaled to unit size, then the Kabsch rotation between them.
* ``expression(points)``: mouth opening, left and right eye opening and smile (how high the mouth
  corners sit above the lips' centre line), each in % of the eye distance, measured in the face's own
  frame (the eye line made horizontal).
* ``expression_error(a, b)``: the mean absolute difference of those four numbers.
"""

from __future__ import annotations

import numpy as np

from ..analysis import landmark_groups as lg

MESH = 468
EXPRESSION_NAMES = ("mouth_open", "left_eye_open", "right_eye_open", "smile")


def kabsch_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation R (3x3) that best maps centred ``a`` onto centred ``b`` (rows are points)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def pose_error(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees of the rotation between meshes ``a`` and ``b`` ((478 or 468, 3) landmarks, any scale)."""
    pa = np.asarray(a, np.float64)[:MESH, :3]
    pb = np.asarray(b, np.float64)[:MESH, :3]
    pa = (pa - pa.mean(0)) / (np.linalg.norm(pa - pa.mean(0)) + 1e-9)
    pb = (pb - pb.mean(0)) / (np.linalg.norm(pb - pb.mean(0)) + 1e-9)
    r = kabsch_rotation(pa, pb)
    c = np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)
    return float(np.degrees(np.arccos(c)))


def expression(points: np.ndarray) -> np.ndarray:
    """(4,) mouth opening, left eye, right eye opening, smile, in % of the eye distance."""
    p = np.asarray(points, np.float64)[:, :2]
    r_eye, l_eye = p[lg.RIGHT_IRIS[0]], p[lg.LEFT_IRIS[0]]
    v = l_eye - r_eye
    iod = float(np.linalg.norm(v)) or 1.0
    c, s = v / iod
    rot = np.array([[c, s], [-s, c]])  # the eye line to the x axis
    q = (p - (r_eye + l_eye) / 2) @ rot.T / iod * 100.0
    mouth = abs(q[14, 1] - q[13, 1])
    left = abs(q[374, 1] - q[386, 1])
    right = abs(q[145, 1] - q[159, 1])
    smile = (q[13, 1] + q[14, 1]) / 2 - (q[61, 1] + q[291, 1]) / 2
    return np.array([mouth, left, right, smile])


def expression_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(expression(a) - expression(b)).mean())


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


def skin_tone_shift(before: np.ndarray, after: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """(CIE76 ΔE, ΔL*) between the mean CIELAB colour of the face's skin (the mesh's face oval minus
    brows, eyes, lips and nostrils, at ``points``) in ``before`` and ``after`` (uint8 BGR, same size).
    The mission keeps skin tone: an edit that lifts or darkens the whole face shows here."""
    import cv2

    from ..swap.color import skin_mask

    m = skin_mask(points, before.shape)
    if m.sum() < 30:
        return float("nan"), float("nan")
    lab = [cv2.cvtColor(x[m].reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(0)
           for x in (before, after)]
    d = lab[1] - lab[0]
    return float(np.linalg.norm(d)), float(d[0])

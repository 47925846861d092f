"""How far one face mesh is from another in head pose and expression (MediaPipe's 478 points).

* ``pose_error(a, b)``: the angle (degrees) of the relative 3D rotation between two meshes: each
  (468, 3) mesh centred and scaled to unit size, then the Kabsch rotation between them.
* ``expression(points)``: mouth opening, left and right eye opening and smile (how high the mouth
  corners sit above the lips' centre line), each in % of the eye distance, measured in the face's own
  frame (the eye line made horizontal).
* ``expression_error(a, b)``: the mean absolute difference of those four numbers.

The evaluations report them (eval/face_metrics); deid uses them to choose among identities (ops/deid).
"""

from __future__ import annotations

import numpy as np

from . import landmark_groups as lg

MESH = 468
EXPRESSION_NAMES = ("mouth_open", "left_eye_open", "right_eye_open", "smile")


def kabsch_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation R (3x3) that best maps centred ``a`` onto centred ``b`` (rows are points)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def mesh_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation (3x3) between meshes ``a`` and ``b`` ((478 or 468, 3) landmarks, any scale): each
    centred and scaled to unit size, then aligned (Kabsch)."""
    pa = np.asarray(a, np.float64)[:MESH, :3]
    pb = np.asarray(b, np.float64)[:MESH, :3]
    pa = (pa - pa.mean(0)) / (np.linalg.norm(pa - pa.mean(0)) + 1e-9)
    pb = (pb - pb.mean(0)) / (np.linalg.norm(pb - pb.mean(0)) + 1e-9)
    return kabsch_rotation(pa, pb)


def pose_error(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees of the rotation between meshes ``a`` and ``b`` ((478 or 468, 3) landmarks, any scale)."""
    r = mesh_rotation(a, b)
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

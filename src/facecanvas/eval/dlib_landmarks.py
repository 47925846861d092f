"""dlib's 68-point landmarks as an *independent* check of expression (evaluation only).

Deid chooses among identities with MediaPipe's mesh (ops/deid ``choose``), the same mesh that the
evaluation's pose and expression errors are measured with, so those figures are "in the loop". This
module measures expression with another model that nothing in facecanvas uses or is tuned on:

* ``expression68(points)``: mouth opening (inner lips 62-66), the two eye openings (mean lid gap) and
  smile (the corners 48/54 above the inner lips' centre), in % of the distance between the eye
  centres, in the face's own frame (as analysis/mesh_metrics.expression).

Pose is not checked this way: a six-point ``cv2.solvePnP`` on these 112 px Glint faces moved by 7.1 degrees
on average under JPEG quality 90 alone (the mesh's pose error: 0.5), too noisy to judge 2-degree figures.

dlib locates the points inside facecanvas's detector box, as dlib_id does for the recognizer.
"""

from __future__ import annotations

import numpy as np

from .dlib_id import load_dlib, rgb_and_rect


class DlibLandmarks:
    def __init__(self):
        self._dlib, d = load_dlib()
        self._sp = self._dlib.shape_predictor(str(d / "shape_predictor_68_face_landmarks.dat"))

    def points(self, bgr: np.ndarray, box) -> np.ndarray:
        """(68, 2) float64 image pixels of the face in ``box`` (x0, y0, x1, y1)."""
        shape = self._sp(*rgb_and_rect(self._dlib, bgr, box))
        return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def expression68(p: np.ndarray) -> np.ndarray:
    """(4,) mouth opening, two eye openings, smile, in % of the eye distance."""
    r_eye, l_eye = p[36:42].mean(0), p[42:48].mean(0)
    v = l_eye - r_eye
    iod = float(np.linalg.norm(v)) or 1.0
    c, s = v / iod
    q = (p - (r_eye + l_eye) / 2) @ np.array([[c, s], [-s, c]]).T / iod * 100.0
    mouth = abs(q[66, 1] - q[62, 1])
    right = (abs(q[41, 1] - q[37, 1]) + abs(q[40, 1] - q[38, 1])) / 2
    left = (abs(q[47, 1] - q[43, 1]) + abs(q[46, 1] - q[44, 1])) / 2
    smile = (q[62, 1] + q[66, 1]) / 2 - (q[48, 1] + q[54, 1]) / 2
    return np.array([mouth, left, right, smile])


def expression_error68(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(expression68(a) - expression68(b)).mean())

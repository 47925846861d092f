"""Head pose from the mesh's own 3D landmarks (no external 3D model needed)."""

from __future__ import annotations

import numpy as np

from .face import HeadPose

_RIGHT_EYE_OUTER, _LEFT_EYE_OUTER, _FOREHEAD, _CHIN = 33, 263, 10, 152


def estimate_pose(landmarks: np.ndarray) -> HeadPose:
    """Yaw, pitch and roll (degrees) of the face frame spanned by the eye line and the forehead-chin line."""
    p = np.asarray(landmarks, np.float64)
    x = p[_LEFT_EYE_OUTER] - p[_RIGHT_EYE_OUTER]
    x /= np.linalg.norm(x) + 1e-9
    y = p[_CHIN] - p[_FOREHEAD]
    y -= x * (y @ x)
    y /= np.linalg.norm(y) + 1e-9
    z = np.cross(x, y)  # points away from the camera for a frontal face (MediaPipe z grows with depth)
    yaw = np.degrees(np.arctan2(-z[0], z[2]))
    pitch = np.degrees(np.arctan2(z[1], np.hypot(z[0], z[2])))
    roll = np.degrees(np.arctan2(x[1], x[0]))
    return HeadPose(float(yaw), float(pitch), float(roll))

"""Dataclasses that the analysis stage hands to every operation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import landmark_groups as lg


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees. yaw > 0: the face turns towards the image's right; pitch > 0: chin up;
    roll > 0: the head tilts clockwise in the image."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Detection:
    """One face box from a detector, in image pixels."""

    box: np.ndarray  # (4,) float32: x0, y0, x1, y1
    score: float
    keypoints: np.ndarray  # (5, 2) float32: image-left eye, image-right eye, nose, mouth left, mouth right

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


@dataclass(frozen=True)
class Face:
    """A detected face with its 478 landmarks (x, y in image pixels; z in the same scale, larger = farther)."""

    detection: Detection
    landmarks: np.ndarray  # (478, 3) float32
    pose: HeadPose

    @property
    def box(self) -> np.ndarray:
        return self.detection.box

    @property
    def score(self) -> float:
        return self.detection.score

    def points(self, group: str) -> np.ndarray:
        """(N, 2) pixel coordinates of a named landmark group (see landmark_groups.GROUPS)."""
        return self.landmarks[list(lg.GROUPS[group]), :2]

    def eye_centers(self) -> np.ndarray:
        """(2, 2): image-left eye centre, image-right eye centre (iris centres)."""
        return self.landmarks[[lg.RIGHT_IRIS[0], lg.LEFT_IRIS[0]], :2]

    def five_points(self) -> np.ndarray:
        """(5, 2) alignment points in the detector's keypoint order."""
        eyes = self.eye_centers()
        rest = self.landmarks[[lg.NOSE_TIP, lg.MOUTH_RIGHT_CORNER, lg.MOUTH_LEFT_CORNER], :2]
        return np.vstack([eyes, rest]).astype(np.float32)

    @property
    def interocular(self) -> float:
        e = self.eye_centers()
        return float(np.linalg.norm(e[1] - e[0]))

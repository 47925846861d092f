"""Face parts and anchor points in the aligned crop, and the similarity that moves a part.

Names follow MediaPipe: "left" is the subject's left, which is on the image's right.
Distances in effect files are in interocular units (the distance between the iris centres), so one file
works for every face size and crop size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis import landmark_groups as lg
from ..masks.parts import DEFAULT_DILATION, grow, hull_mask, interocular

# Part name -> (landmark groups, the erase part whose dilation it uses).
PART_GROUPS: dict[str, tuple[tuple[str, ...], str]] = {
    "left_brow": (("left_brow",), "brows"),
    "right_brow": (("right_brow",), "brows"),
    "brows": (("left_brow", "right_brow"), "brows"),
    "left_eye": (("left_eye",), "eyes"),
    "right_eye": (("right_eye",), "eyes"),
    "eyes": (("left_eye", "right_eye"), "eyes"),
    "nose": (("nose",), "nose"),
    "mouth": (("lips",), "mouth"),
    "inner_face": (("left_brow", "right_brow", "left_eye", "right_eye", "nose", "lips"), "mouth"),
}
PASTE_PARTS = tuple(PART_GROUPS)
_INNER_GROUPS = ("left_brow", "right_brow", "left_eye", "right_eye", "nose", "lips")

# Single landmarks that make useful anchors (indices into the 478-point mesh).
_POINT_ANCHORS = {"nose_tip": lg.NOSE_TIP, "nose_bridge": 168, "chin": lg.CHIN, "forehead": 151,
                  "forehead_top": lg.FOREHEAD_TOP, "left_cheek": 425, "right_cheek": 205}
ANCHORS = PASTE_PARTS + ("between_eyes", "face") + tuple(_POINT_ANCHORS)

# The first 16 points of each eye group are the lid contour; its mean is the eye's centre whatever the gaze.
_EYE_CONTOUR = 16


def _group_points(pts: np.ndarray, group: str) -> np.ndarray:
    idx = lg.GROUPS[group]
    if group in ("left_eye", "right_eye"):
        idx = idx[:_EYE_CONTOUR]
    return pts[list(idx), :2]


def part_center(pts: np.ndarray, part: str) -> np.ndarray:
    """Centre of a part (crop pixels): the mean of its groups' centres."""
    groups = PART_GROUPS[part][0]
    return np.mean([_group_points(pts, g).mean(0) for g in groups], axis=0)


def anchor_point(pts: np.ndarray, anchor: str | int) -> np.ndarray:
    """An anchor's position: a part centre, a named point, or a mesh landmark index."""
    if isinstance(anchor, (int, np.integer)):
        return pts[int(anchor), :2].astype(np.float64)
    if anchor in PART_GROUPS:
        return part_center(pts, anchor)
    if anchor == "between_eyes":
        return (part_center(pts, "left_eye") + part_center(pts, "right_eye")) / 2
    if anchor == "face":
        return pts[list(lg.FACE_OVAL), :2].mean(0)
    return pts[_POINT_ANCHORS[anchor], :2].astype(np.float64)


def midline_x(pts: np.ndarray) -> float:
    return float(anchor_point(pts, "between_eyes")[0])


def _hull_mask(pts: np.ndarray, groups, shape: tuple[int, int], dilate_px: float) -> np.ndarray:
    if set(groups) == set(_INNER_GROUPS):  # the inner face is one region, gaps included
        hulls = [cv2.convexHull(np.round(np.vstack([pts[list(lg.GROUPS[g]), :2] for g in groups]))
                                .astype(np.int32))]
    else:
        hulls = [cv2.convexHull(np.round(pts[list(lg.GROUPS[g]), :2]).astype(np.int32)) for g in groups]
    # (Grown by a distance threshold: at a 512 px crop an elliptic kernel of 25 px took 0.2-0.6 ms a part.)
    return grow(hull_mask(hulls, shape, 0), dilate_px)


def part_region(pts: np.ndarray, part: str, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool: what is cut out to move ``part``: its landmark hulls, dilated like the eraser's masks
    so the border runs through skin, minus the (slightly grown) outlines of the other parts so that
    an eye never carries a piece of brow with it."""
    groups, erase_part = PART_GROUPS[part]
    iod = interocular(pts)
    region = _hull_mask(pts, groups, shape, DEFAULT_DILATION[erase_part] * iod)
    others = [g for g in _INNER_GROUPS if g not in groups]
    if others:
        region &= ~_hull_mask(pts, others, shape, 0.03 * iod)
    return region


@dataclass(frozen=True)
class Placement:
    """Where a part goes: scale and rotation (degrees, counter-clockwise on screen) about its centre,
    the centre moved to ``target`` (crop pixels)."""

    center: np.ndarray
    target: np.ndarray
    scale: float = 1.0
    rotate: float = 0.0

    def matrix(self) -> np.ndarray:
        """2x3 forward affine (source crop -> target crop) for cv2.warpAffine."""
        a = np.radians(self.rotate)
        # Image y points down, so a counter-clockwise turn on screen is the clockwise matrix.
        rot = self.scale * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        m = np.zeros((2, 3))
        m[:, :2] = rot
        m[:, 2] = self.target - rot @ self.center
        return m


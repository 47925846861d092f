"""Temporal stability of an edited video: how much the face region changes from frame to frame.

For each pair of consecutive frames, inside the face region (the face-oval polygons of both frames),
the mean absolute change of the output is compared with the mean absolute change of the input. The
ratio output/input is 1.0 for an untouched video; above 1 the edit is jumpier than the original face
(flicker, swimming texture), below 1 it is calmer (an erased face no longer blinks or talks).
``edited_ratio`` is the same inside the pixels the edit changed, where flicker would show first.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis.face import Face
from ..analysis.landmark_groups import FACE_OVAL


def face_region(shape: tuple[int, ...], faces: list[Face]) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    for f in faces:
        cv2.fillPoly(mask, [np.round(f.landmarks[list(FACE_OVAL), :2]).astype(np.int32)], 1)
    return mask.astype(bool)


@dataclass
class TemporalStats:
    pairs: int = 0
    in_change: float = 0.0  # sum over pairs of the mean |in_t - in_t-1| in the face region
    out_change: float = 0.0
    edited_in: float = 0.0
    edited_out: float = 0.0
    edited_pairs: int = 0

    @property
    def ratio(self) -> float:
        return self.out_change / self.in_change if self.in_change > 0 else float("nan")

    @property
    def edited_ratio(self) -> float:
        return self.edited_out / self.edited_in if self.edited_in > 0 else float("nan")

    def summary(self) -> str:
        if not self.pairs:
            return "temporal: no consecutive frames with a face"
        return (f"temporal: face-region change out/in = {self.ratio:.3f} "
                f"(in {self.in_change / self.pairs:.2f}, out {self.out_change / self.pairs:.2f} grey levels/frame); "
                f"inside the edited pixels {self.edited_ratio:.3f} over {self.pairs} frame pairs")


class TemporalMeter:
    """Feed ``add(input_bgr, output_bgr, faces)`` frame by frame; read ``stats``."""

    def __init__(self):
        self.stats = TemporalStats()
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, inp: np.ndarray, out: np.ndarray, faces: list[Face]) -> None:
        gi = cv2.cvtColor(inp, cv2.COLOR_BGR2GRAY).astype(np.int16)
        go = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.int16)
        region = face_region(inp.shape, faces)
        edited = np.abs(go - gi) > 2
        prev, self._prev = self._prev, (gi, go, region, edited)
        if prev is None or not faces:
            return
        pi, po, pregion, pedited = prev
        r = region | pregion
        if not pregion.any() or not r.any():
            return
        s = self.stats
        s.pairs += 1
        s.in_change += float(np.abs(gi - pi)[r].mean())
        s.out_change += float(np.abs(go - po)[r].mean())
        e = (edited | pedited) & r
        if e.any():
            s.edited_pairs += 1
            s.edited_in += float(np.abs(gi - pi)[e].mean())
            s.edited_out += float(np.abs(go - po)[e].mean())

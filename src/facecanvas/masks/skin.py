"""A per-face skin colour model, to keep hair, glasses and background out of what the fill copies."""

from __future__ import annotations

import cv2
import numpy as np


def skin_like(image: np.ndarray, sample: np.ndarray, tolerance: float = 3.0,
              dark_floor_above: int | None = None) -> np.ndarray:
    """HxW bool: pixels whose Lab colour is within ``tolerance`` robust deviations of the ``sample`` pixels.

    Lightness counts two thirds as much as colour, so shading and side light on skin still pass.
    Rows above ``dark_floor_above`` (default: all rows) also reject pixels under 70% of the skin's
    lightness: hair falls from above, while lower down a dark beard is what the fill should match.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    ref = lab[sample.astype(bool)]
    if len(ref) < 50:
        return np.ones(image.shape[:2], bool)
    ref = ref[:: max(1, len(ref) // 4000)].astype(np.float32)  # a few thousand samples pin a median down
    med = np.median(ref, axis=0)
    mad = np.median(np.abs(ref - med), axis=0) * 1.4826
    spread = (np.maximum(mad, (8.0, 3.0, 3.0)) * (1.5, 1.0, 1.0)).astype(np.float32)
    d2 = (((lab.astype(np.float32) - med.astype(np.float32)) / spread) ** 2).sum(-1)
    # Hair, brows and lashes are mostly much darker than the skin; a floor keeps them out even when
    # their colour is skin-like (brown hair on a warm face).
    ok = d2 < tolerance * tolerance
    rows = slice(None) if dark_floor_above is None else slice(0, max(0, dark_floor_above))
    ok[rows] &= lab[rows, :, 0] > 0.7 * med[0]
    return ok

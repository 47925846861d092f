"""Paste a canonical-crop result back into the full image through the alignment's exact inverse."""

from __future__ import annotations

import cv2
import numpy as np

from ..analysis.align import AlignTransform


def paste_back(image: np.ndarray, crop: np.ndarray, alpha: np.ndarray, transform: AlignTransform) -> np.ndarray:
    """Blend ``crop`` (size x size x 3) into ``image`` with crop-space ``alpha`` in [0, 1].

    Only the image box under the crop is touched, and only where the warped alpha is > 0, so every
    pixel outside the mask keeps its exact value. Returns the warped alpha over the whole image.
    """
    roi = transform.image_roi(image.shape)
    x0, y0, x1, y1 = roi
    full_alpha = np.zeros(image.shape[:2], np.float32)
    if x1 <= x0 or y1 <= y0:
        return full_alpha
    a = transform.unwarp_roi(alpha.astype(np.float32), roi)
    region = a > 0
    if region.any():
        src = transform.unwarp_roi(crop, roi, cv2.INTER_CUBIC).astype(np.float32)
        dst = image[y0:y1, x0:x1]
        mixed = a[..., None] * src + (1 - a[..., None]) * dst.astype(np.float32)
        dst[region] = np.clip(mixed[region] + 0.5, 0, 255).astype(np.uint8)
    full_alpha[y0:y1, x0:x1] = a
    return full_alpha

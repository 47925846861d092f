"""User elements: an RGBA picture placed on the face, anchored to landmarks.

The sticker is placed in the aligned crop (so it follows the face's position, scale and roll) and then
drawn straight into the photo through the crop's inverse, in one resampling: colours are premultiplied
by alpha before warping, so soft edges get no dark fringe, and pixels where the warped alpha is 0
keep their exact values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..analysis.align import AlignTransform
from ..errors import FacecanvasError, InputError
from ..media.image_io import load_image


@dataclass(frozen=True)
class StickerImage:
    premult: np.ndarray  # HxWx3 float32 BGR, multiplied by alpha
    alpha: np.ndarray  # HxW float32 in [0, 1]
    path: Path

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape[1], self.alpha.shape[0]


def load_sticker(path: Path, where: str = "") -> StickerImage:
    """Read a sticker (any format facecanvas reads; without an alpha channel it is an opaque rectangle)."""
    try:
        img = load_image(path)
    except FacecanvasError as e:
        raise InputError(f"{where}: {e}" if where else str(e)) from None
    if img.alpha is None:
        alpha = np.ones(img.bgr.shape[:2], np.float32)
    else:
        alpha = img.alpha.astype(np.float32) / (65535.0 if img.alpha.dtype == np.uint16 else 255.0)
    premult = img.bgr.astype(np.float32) * alpha[..., None]
    return StickerImage(premult, alpha, Path(path))


def sticker_to_crop(sticker: StickerImage, center: np.ndarray, width_px: float, rotate: float) -> np.ndarray:
    """2x3 affine: sticker pixels -> crop pixels, sticker centre on ``center``, ``width_px`` wide,
    turned ``rotate`` degrees counter-clockwise as seen."""
    w, h = sticker.size
    s = width_px / w
    a = np.radians(rotate)
    rot = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    m = np.zeros((2, 3))
    m[:, :2] = rot
    m[:, 2] = np.asarray(center, np.float64) - rot @ np.array([w / 2.0, h / 2.0])
    return m


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for 2x3 affines."""
    full = lambda m: np.vstack([m, [0.0, 0.0, 1.0]])  # noqa: E731
    return (full(outer) @ full(inner))[:2]


def warp_sticker(sticker: StickerImage, matrix: np.ndarray, shape: tuple[int, int],
                 roi: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Premultiplied colour and alpha warped by ``matrix`` into the box ``roi`` (x0, y0, x1, y1) of an
    image of ``shape``; the default box is the sticker's own footprint."""
    w, h = sticker.size
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    premult, alpha = sticker.premult, sticker.alpha
    if scale < 0.5:  # shrink with area averaging first: warpAffine alone would alias fine detail
        f = max(scale * 1.5, 1.0 / max(w, h))
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        premult = cv2.resize(premult, (nw, nh), interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA)
        matrix = _compose(matrix, np.array([[w / nw, 0, 0], [0, h / nh, 0]], np.float64))
        w, h = nw, nh
    if roi is None:
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ matrix[:, :2].T + matrix[:, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int) - 1
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
        roi = (max(0, x0), max(0, y0), min(shape[1], x1), min(shape[0], y1))
    x0, y0, x1, y1 = roi
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32), roi
    m = matrix.copy()
    m[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    # Premultiplied colour and alpha warp alike, so an edge pixel's colour and coverage stay paired.
    c = cv2.warpAffine(premult, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = cv2.warpAffine(alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return c.reshape(size[1], size[0], 3), np.clip(a, 0, 1), roi


def draw_sticker(image: np.ndarray, sticker: StickerImage, to_crop: np.ndarray, transform: AlignTransform,
                 blend: str, opacity: float) -> np.ndarray:
    """Draw the sticker into ``image`` (uint8 BGR, in place) with ``alpha`` or ``multiply`` blending.

    Returns the image-space coverage (HxW float32) of what was drawn."""
    to_image = _compose(transform.inverse, to_crop)
    color, alpha, (x0, y0, x1, y1) = warp_sticker(sticker, to_image, image.shape[:2])
    coverage = np.zeros(image.shape[:2], np.float32)
    if alpha.size == 0 or not (alpha > 0).any():
        return coverage
    a = alpha * opacity
    dst = image[y0:y1, x0:x1]
    base = dst.astype(np.float32)
    if blend == "multiply":
        # color / alpha is the sticker's own colour; multiply tints the skin without hiding its shading.
        tint = np.where(alpha[..., None] > 1e-6, color / np.maximum(alpha, 1e-6)[..., None], 255.0)
        out = base * (1.0 - a[..., None] + a[..., None] * tint / 255.0)
    else:
        out = color * opacity + base * (1.0 - a[..., None])
    touched = a > 0
    dst[touched] = np.clip(out[touched] + 0.5, 0, 255).astype(np.uint8)
    coverage[y0:y1, x0:x1] = a
    return coverage


def sticker_in_crop(sticker: StickerImage, to_crop: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour HxWx3 float32, alpha HxW) of the sticker warped over the whole ``size`` crop."""
    color, alpha, _ = warp_sticker(sticker, to_crop, (size, size), roi=(0, 0, size, size))
    unpremult = color / np.maximum(alpha, 1e-6)[..., None]
    return unpremult, alpha

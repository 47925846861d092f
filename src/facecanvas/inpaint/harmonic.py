"""Smooth (low-frequency) hole filling: a coarse-to-fine harmonic (Laplace) fill."""

from __future__ import annotations

import cv2
import numpy as np

_LAPLACE_KERNEL = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def masked_blur(image: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages valid pixels (normalized convolution), so holes do not bleed out."""
    w = valid.astype(np.float32)
    num = cv2.GaussianBlur(image * (w[..., None] if image.ndim == 3 else w), (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    den = np.maximum(den, 1e-6)
    return num / (den[..., None] if image.ndim == 3 else den)


def _downsample(image: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve resolution averaging only valid pixels; a coarse pixel is valid if any fine one was."""
    w = valid.astype(np.float32)
    h2, w2 = (image.shape[0] + 1) // 2, (image.shape[1] + 1) // 2
    num = cv2.resize(image * w[..., None], (w2, h2), interpolation=cv2.INTER_AREA)
    den = cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA)
    ok = den > 1e-3
    out = np.where(ok[..., None], num / np.maximum(den, 1e-3)[..., None], 0).astype(np.float32)
    return out, ok


def _relax(x: np.ndarray, hole: np.ndarray, iterations: int) -> np.ndarray:
    """Jacobi iterations of Laplace's equation inside ``hole``, with the other pixels held fixed."""
    ys, xs = np.nonzero(hole)
    if len(ys) == 0:
        return x
    y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, x.shape[0])
    x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, x.shape[1])
    sub, m = x[y0:y1, x0:x1], hole[y0:y1, x0:x1][..., None]
    for _ in range(iterations):
        sub = np.where(m, cv2.filter2D(sub, -1, _LAPLACE_KERNEL, borderType=cv2.BORDER_REPLICATE), sub)
    x = x.copy()
    x[y0:y1, x0:x1] = sub
    return x


def harmonic_fill(image: np.ndarray, hole: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Fill ``hole`` (HxW bool) of a float32 HxWxC image with a membrane that matches the hole's border.

    A pyramid gives each level a good start, so a few relaxation sweeps per level suffice.
    """
    image = image.astype(np.float32)
    if image.ndim == 2:
        return harmonic_fill(image[..., None], hole, iterations)[..., 0]
    valid = ~hole
    if not valid.any():
        raise ValueError("the mask covers the whole image: nothing to fill from")
    levels = [(image, valid)]
    while min(levels[-1][0].shape[:2]) > 8 and not levels[-1][1].all():
        levels.append(_downsample(*levels[-1]))
    img, ok = levels[-1]
    if not ok.all():  # coarsest level: start from the mean of what is known
        img = np.where(ok[..., None], img, img[ok].mean(0))
        img = _relax(img, ~ok, iterations * 4)
    for fine, fine_ok in reversed(levels[:-1]):
        up = cv2.resize(img, (fine.shape[1], fine.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        img = np.where(fine_ok[..., None], fine, up)
        img = _relax(img, ~fine_ok, iterations)
    return img

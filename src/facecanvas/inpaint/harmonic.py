"""Smooth (low-frequency) hole filling: a coarse-to-fine harmonic (Laplace) fill."""

from __future__ import annotations

import cv2
import numpy as np

_LAPLACE_KERNEL = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.resize`` with INTER_AREA for any channel count: OpenCV's general (non-integer-ratio) area
    path takes at most 4 channels, and the two-membrane solve stacks 6."""
    if image.ndim < 3 or image.shape[2] <= 4:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    parts = [cv2.resize(np.ascontiguousarray(image[..., c:c + 4]), size, interpolation=cv2.INTER_AREA)
             for c in range(0, image.shape[2], 4)]
    return np.concatenate([p if p.ndim == 3 else p[..., None] for p in parts], -1)


def masked_blur(image: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages valid pixels (normalized convolution), so holes do not bleed out.

    Wide blurs run on a 2x or 4x smaller copy and are upsampled: the result is smooth at that scale
    anyway, and it is many times cheaper than a 4-sigma kernel at full resolution.
    """
    w = valid.astype(np.float32)
    num = image * (w[..., None] if image.ndim == 3 else w)
    h, wd = w.shape
    f = 1
    while sigma / (2 * f) >= 1.5 and min(h, wd) >= 32 * f:
        f *= 2
    if f > 1:
        size = (max(1, wd // f), max(1, h // f))
        num = area_resize(num, size)
        w = cv2.resize(w, size, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(num, (0, 0), sigma / f)
    den = np.maximum(cv2.GaussianBlur(w, (0, 0), sigma / f), 1e-6)
    out = num / (den[..., None] if num.ndim == 3 else den)
    if f > 1:
        out = cv2.resize(out, (wd, h), interpolation=cv2.INTER_LINEAR)
        if image.ndim == 3 and out.ndim == 2:
            out = out[..., None]
    return out


def downsample(image: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve HxWxC ``image``, averaging only valid pixels; a coarse pixel is valid if any fine one was."""
    w = valid.astype(np.float32)
    h2, w2 = (image.shape[0] + 1) // 2, (image.shape[1] + 1) // 2
    num = area_resize(image * w[..., None], (w2, h2)).reshape(h2, w2, -1)
    den = cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA)
    ok = den > 1e-3
    out = np.where(ok[..., None], num / np.maximum(den, 1e-3)[..., None], 0).astype(np.float32)
    return out, ok


def relax(x: np.ndarray, todo: np.ndarray, sweeps: int) -> np.ndarray:
    """Jacobi sweeps of Laplace's equation on the ``todo`` pixels of HxWxC float ``x``, the others held
    fixed; returns a new array. Only the box around ``todo`` is swept (with a 1 px rim, so every swept
    pixel sees its real neighbours); a sweep is OpenCV's filter and masked copy (numpy's masked copies were
    about five times slower, OpenCV's multiply and add a third). Shared by the eraser's shading fill and the
    Poisson membrane of blend/poisson.py."""
    x = np.array(x, np.float32, copy=True)
    bx, by, bw, bh = cv2.boundingRect(todo.astype(np.uint8))
    if bw == 0:
        return x
    y0, y1 = max(by - 1, 0), min(by + bh + 1, x.shape[0])
    x0, x1 = max(bx - 1, 0), min(bx + bw + 1, x.shape[1])
    sub = np.ascontiguousarray(x[y0:y1, x0:x1])
    free = np.ascontiguousarray(todo[y0:y1, x0:x1]).astype(np.uint8)
    smooth = np.empty_like(sub)
    for _ in range(sweeps):
        cv2.filter2D(sub, -1, _LAPLACE_KERNEL, dst=smooth, borderType=cv2.BORDER_REPLICATE)
        cv2.copyTo(smooth, free, sub)  # the free pixels take the neighbours' mean; the fixed ones stay
    x[y0:y1, x0:x1] = sub
    return x


def harmonic_fill(image: np.ndarray, hole: np.ndarray, iterations: int = 12,
                  focus: np.ndarray | None = None) -> np.ndarray:
    """Fill ``hole`` (HxW bool) of a float32 HxWxC image with a membrane that matches the hole's border.

    A pyramid gives each level a good start, so a few relaxation sweeps per level suffice.
    ``focus`` (HxW bool): where the caller needs an exact answer; the two finest levels relax only
    there and leave the rest of the hole at the (smooth) upsampled coarse solution, which is much cheaper
    when the hole is large but only a part of it matters.
    """
    image = image.astype(np.float32)
    if image.ndim == 2:
        return harmonic_fill(image[..., None], hole, iterations, focus)[..., 0]
    valid = ~hole
    if not valid.any():
        raise ValueError("the mask covers the whole image: nothing to fill from")
    levels = [(image, valid)]
    while min(levels[-1][0].shape[:2]) > 8 and not levels[-1][1].all():
        levels.append(downsample(*levels[-1]))
    img, ok = levels[-1]
    if not ok.all():  # coarsest level: start from the mean of what is known
        img = np.where(ok[..., None], img, img[ok].mean(0))
        img = relax(img, ~ok, iterations * 4)
    for depth in range(len(levels) - 2, -1, -1):
        fine, fine_ok = levels[depth]
        up = cv2.resize(img, (fine.shape[1], fine.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        img = np.where(fine_ok[..., None], fine, up)
        todo = ~fine_ok
        if focus is not None and depth < 2:
            todo &= cv2.resize(focus.astype(np.uint8), (fine.shape[1], fine.shape[0]),
                               interpolation=cv2.INTER_NEAREST).astype(bool)
        img = relax(img, todo, iterations)
    return img

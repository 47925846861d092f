"""Poisson (gradient-domain) blending with the exact boundary condition, after Pérez et al. 2003.

``poisson_blend(dst, src, region)`` returns ``dst`` with ``region`` replaced by a patch whose gradients
come from ``src`` and whose values on the region's border equal ``dst``: the pasted part keeps its own
texture and takes on the target's shading, with no seam.

It is solved as ``src + h`` where ``h`` is the harmonic membrane that interpolates ``dst - src`` from the
border (the same solution, since only the Laplacian of the guidance matters). The membrane is smooth, so
a coarse-to-fine pyramid with a few Jacobi sweeps per level is enough; the border values are exact, which
is where a seam would show. Unlike ``cv2.seamlessClone`` no pixel outside ``region`` changes, and nothing
depends on where the mask's bounding box centre rounds to.

``mode="gain"``: the brightness change is first applied as a gain (shading is light times colour),
then the normal membrane fixes what the gain leaves at the border. Pasted into a brighter spot, an
eye's iris stays dark instead of turning grey; the border still matches exactly.

``mode="mixed"``: the guidance is the stronger of the two gradients at each pixel (a sticker painted on
skin keeps the skin's pores). That field has no potential, so a rectangle Poisson solve (DST-I) gives a
particular solution first; the membrane then corrects its border.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..inpaint.harmonic import downsample, relax
from ..masks.parts import mask_box

MODES = ("normal", "mixed", "gain")


def membrane(values: np.ndarray, region: np.ndarray, sweeps: int = 16) -> np.ndarray:
    """Harmonic fill of ``region`` (HxW bool) in ``values`` (HxWxC float32) from the pixels around it.

    Pixels outside ``region`` are returned unchanged; inside, the solution of Laplace's equation with
    their values as the boundary condition (to within a small, smooth error far from the border).
    """
    values = np.array(values, np.float32, copy=True)
    levels = [(values, ~region)]
    if region.all():
        raise ValueError("the region covers the whole array: no border to interpolate from")
    # Halve until the top level is a few pixels across, where plain sweeps converge at once.
    while min(levels[-1][0].shape[:2]) > 8 and not levels[-1][1].all():
        levels.append(downsample(*levels[-1]))
    x, known = levels[-1]
    x = np.where(known[..., None], x, x[known].mean(0) if known.any() else 0.0).astype(np.float32)
    x = relax(x, ~known, 32)
    for fine, fine_known in reversed(levels[:-1]):
        up = cv2.resize(x, (fine.shape[1], fine.shape[0]), interpolation=cv2.INTER_LINEAR)
        x = np.where(fine_known[..., None], fine, up.reshape(fine.shape))
        x = relax(x, ~fine_known, sweeps)
    return x


def _poisson_rect(rhs: np.ndarray) -> np.ndarray:
    """Solve Laplace(u) = rhs on a rectangle with u = 0 outside it (DST-I diagonalises the 5-point stencil)."""
    from scipy.fft import dstn, idstn  # here: ~0.3 s to import, and only the "mixed" mode needs it

    h, w = rhs.shape[:2]
    ky = 2 * np.cos(np.pi * np.arange(1, h + 1) / (h + 1)) - 2
    kx = 2 * np.cos(np.pi * np.arange(1, w + 1) / (w + 1)) - 2
    denom = (ky[:, None] + kx[None, :])[..., None]
    return idstn(dstn(rhs, type=1, axes=(0, 1)) / denom, type=1, axes=(0, 1)).astype(np.float32)


def _mixed_guidance_solution(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """A particular solution of Laplace(u) = div(v), v = the stronger of the two forward differences."""
    def grads(a):
        gx = np.zeros_like(a)
        gy = np.zeros_like(a)
        gx[:, :-1] = a[:, 1:] - a[:, :-1]
        gy[:-1] = a[1:] - a[:-1]
        return gx, gy

    sx, sy = grads(src)
    dx, dy = grads(dst)
    # One choice per pixel for all channels, by total magnitude, so colours do not split apart.
    vx = np.where((np.abs(sx).sum(-1) >= np.abs(dx).sum(-1))[..., None], sx, dx)
    vy = np.where((np.abs(sy).sum(-1) >= np.abs(dy).sum(-1))[..., None], sy, dy)
    div = vx.copy()
    div[:, 1:] -= vx[:, :-1]
    div += vy
    div[1:] -= vy[:-1]
    return _poisson_rect(div)


def _shading_gain(dst: np.ndarray, src: np.ndarray, region: np.ndarray, max_gain: float) -> np.ndarray:
    """Per-channel gain that takes ``src``'s brightness around the border to ``dst``'s.

    One number per channel, from medians over a ring just outside the border (a lash or a mole on it
    does not move a median); the membrane that follows handles how the shading varies along the
    border, and makes it match exactly."""
    ring = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~region
    if ring.sum() < 8:
        return np.ones(dst.shape[-1], np.float32)
    gain = (np.median(dst[ring], axis=0) + 4.0) / (np.median(src[ring], axis=0) + 4.0)
    return np.clip(gain, 1.0 / max_gain, max_gain).astype(np.float32)


def _fade_detail(dst: np.ndarray, src: np.ndarray, region: np.ndarray, width: float) -> np.ndarray:
    """``src`` whose fine detail gives way to ``dst``'s over ``width`` px inside the region's border.

    Poisson blending matches values at the border, but a feature that the border cuts (a lid crease,
    a lash) still ends there in a line. Fading the detail band (two-band blending) lets it end softly,
    and the target's own grain runs on across the border."""
    sigma = max(1.0, width / 3)
    # (The blur is linear: one blur of the difference, not one of each.)
    low_gap = cv2.GaussianBlur(src - dst, (0, 0), sigma).reshape(src.shape)
    t = np.clip(cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3) / width, 0, 1)
    w = (t * t * (3 - 2 * t))[..., None]
    return w * src + (1 - w) * (dst + low_gap)


def poisson_blend(dst: np.ndarray, src: np.ndarray, region: np.ndarray, mode: str = "normal",
                  sweeps: int = 16, fade: float = 0.0, max_gain: float = 1.5,
                  share: float | np.ndarray = 1.0, rest: np.ndarray | None = None) -> np.ndarray:
    """``dst`` with ``region`` (HxW bool) seamlessly replaced by ``src`` (both HxWxC, same size).

    ``max_gain``: the largest brightness gain of ``mode="gain"`` (and its inverse, the smallest);
    beyond it the rest of the difference is added, as in normal mode. ``fade``: width (px) of the band
    inside the border where ``src``'s fine detail gives way to ``dst``'s (0 = none). Returns float32 (callers round once, at the end). Pixels of ``region`` on the
    array's own edge have no outside neighbour to take a value from; they are left out of the region.

    ``share`` (a number, or HxW for each pixel outside the region): the part of the difference between
    ``dst`` and the patch at the border that the patch takes on; the patch meets ``dst - rest`` there, and
    ``rest`` (HxWxC float32, optional) receives that remainder on the border's outside pixels, for the
    caller to bend ``dst`` by (so the two meet halfway; 1: the patch meets ``dst`` itself).
    """
    if mode not in MODES:
        raise ValueError(f"unknown Poisson mode {mode!r}; choose from {', '.join(MODES)}")
    dst = np.asarray(dst, np.float32)
    src = np.asarray(src, np.float32)
    squeeze = dst.ndim == 2
    if squeeze:
        dst, src = dst[..., None], src[..., None]
    region = np.asarray(region, bool).copy()
    region[[0, -1], :] = False
    region[:, [0, -1]] = False
    out = dst.copy()
    box = mask_box(region, pad=2)
    if box is None:
        return out[..., 0] if squeeze else out
    d, s, r = dst[box], src[box], region[box]
    if fade > 0:
        s = _fade_detail(d, s, r, fade)
    if mode == "gain":
        s = s * _shading_gain(d, s, r, max_gain)
    guide = _mixed_guidance_solution(d, s) if mode == "mixed" else s
    gap = d - guide
    if not np.isscalar(share) or share != 1.0:
        keep = 1.0 - (np.asarray(share, np.float32)[box] if np.ndim(share) else np.float32(share))
        left = gap * (keep[..., None] if np.ndim(keep) else keep)
        gap = gap - left
        if rest is not None:
            border = cv2.dilate(r.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~r
            view = rest[box] if rest.ndim == 3 else rest[box][..., None]
            view[border] = left[border]
    h = membrane(np.where(r[..., None], 0.0, gap), r, sweeps)
    out[box] = np.where(r[..., None], guide + h, d)
    return out[..., 0] if squeeze else out

"""The fills themselves: FaceEraser's clone fill (shading membrane + pixel-cloned grain) and OpenCV's.

``fills.py`` puts them behind one protocol and registry; call ``inpaint`` or ``get_fill`` from there."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..masks.parts import grow
from .harmonic import harmonic_fill, masked_blur
from .pixel_clone import clone_offsets


@dataclass
class ClonePlan:
    """What the clone fill decides at one resolution; ``render_clone`` applies it at that or a finer one."""

    low: np.ndarray  # HxWx3 float32 membrane: the fill's shading (meaningful inside the hole)
    offsets: np.ndarray  # HxWx2 float32 (dx, dy) to the pixel whose grain a hole pixel copies; NaN: none
    known: np.ndarray  # HxW bool: pixels whose colour the fill may take on
    clean: np.ndarray  # HxW bool: grain sources (their blur saw no hole)
    sigma: float  # px: the scale that splits shading from grain


# How far (in units of the image side) the membrane's border shading reaches into the hole before the
# smooth prior takes over (``plan_clone``'s ``reach``); None keeps the plain membrane everywhere.
PRIOR_REACH = 0.06
PRIOR_BLUR = 0.04  # of the image side: the blur of the border that the deep inside of a hole takes
# Levels: the border's departures from its broad shading that the prior keeps. A fold or a socket shadow
# departs by more and is dropped; gentle shading (a lit side, a forehead's curve) departs by less and is
# kept, so a smooth border is filled as by the plain membrane (None: the plain blur, folds and all).
PRIOR_KEEP = 8.0
# Next to known skin the fill's grain is the border's own fine grain carried on, not a cloned one
# (``_continue_grain``). Real grain is correlated over a pixel or two, so there the border predicts it:
# on the blank-face development pairs clone's in-hole MSE in the outer 3 px was 20.4 against NS's 11.3.
BORDER_GRAIN = True


def plan_clone(image: np.ndarray, hole: np.ndarray, source: np.ndarray | None = None,
               known: np.ndarray | None = None, detail_sigma: float | None = None,
               edge: np.ndarray | None = None, reach: float | None = PRIOR_REACH) -> ClonePlan:
    """Shading membrane and pixel-clone offsets for ``hole`` of an HxWx3 uint8 ``image``.

    ``edge``: pixels next to the hole whose colour the fill's edge should meet (default: all); leave
    out things that stay but must not tint the fill, such as a kept eye next to erased brows.
    ``reach``: the membrane of the border as it is holds only within about ``reach`` x the image side of
    it; deeper inside, the shading is the membrane of the border's broad shading (blurred along it by
    ``PRIOR_BLUR`` x the side), so a smile fold or a socket shadow on the border is not carried far
    inwards as a dent or a bulge; None: the plain membrane everywhere.
    """
    hole = hole.astype(bool)
    img = image.astype(np.float32)
    valid = ~hole
    known = valid if known is None else (known.astype(bool) & valid)
    if not known.any():
        known = valid
    sigma = detail_sigma or max(0.8, image.shape[0] / 128.0)
    # The membrane takes its border from a wider blur than the grain split, so a few stray dark
    # pixels (a lash, a stubble dot) at the hole's edge cannot seed a dark blob inside it.
    focus = cv2.dilate(hole.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    base = masked_blur(img, known, 2.5 * sigma)
    if reach is None:
        low = harmonic_fill(base, ~known, focus=focus)
    else:
        # Two membranes in one solve: one from the border as it is, one from the border's broad shading
        # (a wide blur along it); the first holds near the border, the second deep inside.
        broad = masked_blur(img, known, PRIOR_BLUR * image.shape[0])
        if PRIOR_KEEP:
            gap = base - broad
            broad += gap * np.exp(-(np.abs(gap).max(-1, keepdims=True) / PRIOR_KEEP) ** 2)
        both = harmonic_fill(np.concatenate([base, broad], -1), ~known, focus=focus)
        depth = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        w = np.exp(-((depth / max(1.0, reach * image.shape[0])) ** 2))[..., None]
        low = w * both[..., :3] + (1 - w) * both[..., 3:]
    low = _match_border(low, img, hole, sigma, edge)
    # Grain only from pixels whose blur saw no hole, so eye or lip colour never leaks into the detail.
    src = valid if source is None else (source.astype(bool) & valid)
    clean = cv2.distanceTransform(src.astype(np.uint8), cv2.DIST_L2, 3) > 2 * sigma
    return ClonePlan(low, clone_offsets(hole, clean), known, clean, sigma)


def _match_border(low: np.ndarray, img: np.ndarray, hole: np.ndarray, sigma: float,
                  edge: np.ndarray | None = None, limit: float = 25.0) -> np.ndarray:
    """Bend the membrane near the hole's edge onto the real pixels just outside it.

    Where the edge runs through shade the skin model rejected (under a fringe, a side-lit cheek), the
    membrane's colour comes from farther away and would show as a flat patch with a hard outline.
    The mismatch measured on a thin ring outside the hole is spread inwards and faded out over a few
    ``sigma``. Gaps up to ``limit`` levels (shade) count fully; larger ones (hair, a glasses rim) count
    less and not at all past twice that, so they cannot drag a dark band into the fill.
    """
    bx, by, bw, bh = cv2.boundingRect(hole.astype(np.uint8))
    if bw == 0:
        return low
    pad = int(np.ceil(8 * sigma)) + 3  # the ring plus the reach of the blurs below
    y0, x0 = max(0, by - pad), max(0, bx - pad)
    win = (slice(y0, by + bh + pad), slice(x0, bx + bw + pad))
    sub_hole, sub_low = hole[win], low[win]
    h8 = sub_hole.astype(np.uint8)
    ring = (cv2.dilate(h8, np.ones((5, 5), np.uint8)) > 0) & ~sub_hole
    if edge is not None:
        ring &= edge[win].astype(bool)
    if not ring.any():
        return low
    actual = masked_blur(img[win], ~sub_hole, sigma)
    diff = actual - sub_low
    # Small gaps (shade) are matched fully; big ones (hair, a dark rim) fade out of the ring's say.
    size = np.abs(diff).max(-1) if diff.ndim == 3 else np.abs(diff)
    trust = np.clip((2 * limit - size) / limit, 0, 1) * ring
    spread = masked_blur(np.clip(diff, -limit, limit) * trust[..., None], trust, 2 * sigma) * \
        np.minimum(1.0, masked_blur(trust, ring, 2 * sigma))[..., None]
    depth = cv2.distanceTransform(h8, cv2.DIST_L2, 3)
    fade = np.exp(-((depth / (4 * sigma)) ** 2))[..., None]
    out = low.copy()
    out[win] = np.where(sub_hole[..., None], sub_low + fade * spread, sub_low)
    return out


def render_clone(image: np.ndarray, hole: np.ndarray, plan: ClonePlan) -> np.ndarray:
    """Fill ``hole`` of ``image`` with ``plan``'s shading plus real grain cloned at ``image``'s resolution.

    ``image`` may be the plan's crop or a larger crop with the same alignment (one at the face's native
    size), so grain stays sharp while the plan was made cheaply at low resolution.
    """
    hole = hole.astype(bool)
    h, w = hole.shape
    k = h / plan.low.shape[0]
    low, offsets, known, clean = plan.low, plan.offsets, plan.known, plan.clean
    if (h, w) != plan.low.shape[:2]:
        low = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
        offsets = cv2.resize(offsets, (w, h), interpolation=cv2.INTER_NEAREST) * np.float32(k)
        known = _resize_mask(known, (w, h))
        clean = _resize_mask(clean, (w, h))
    out = image.copy()
    bx, by, bw, bh = cv2.boundingRect(hole.astype(np.uint8))
    if bw == 0:
        return out
    # Dense over the hole's box (OpenCV remap for the gather): a per-pixel index list was twice as slow.
    box = (slice(by, by + bh), slice(bx, bx + bw))
    in_hole, off = hole[box], offsets[box]
    ok = in_hole & ~np.isnan(off[..., 0])
    sx = np.arange(bx, bx + bw, dtype=np.float32)[None, :] + np.rint(np.nan_to_num(off[..., 0]))
    sy = np.arange(by, by + bh, dtype=np.float32)[:, None] + np.rint(np.nan_to_num(off[..., 1]))
    # Grain is only needed around the hole and the pixels it copies from: work in that box.
    pad = int(np.ceil(3 * plan.sigma * k)) + 2
    y0 = max(0, int(min(by, np.where(ok, sy, h).min())) - pad)
    y1 = min(h, int(max(by + bh - 1, np.where(ok, sy, 0).max())) + pad + 1)
    x0 = max(0, int(min(bx, np.where(ok, sx, w).min())) - pad)
    x1 = min(w, int(max(bx + bw - 1, np.where(ok, sx, 0).max())) + pad + 1)
    win = (slice(y0, y1), slice(x0, x1))
    img = image[win].astype(np.float32)
    detail = img - masked_blur(img, known[win], plan.sigma * k)
    lim = _grain_limit(detail, clean[win])
    # Pixels with no source point outside the window and take the border value: no grain.
    map_x = np.where(ok, sx - x0, -1).astype(np.float32)
    map_y = np.where(ok, sy - y0, -1).astype(np.float32)
    grain = cv2.remap(detail, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    grain = _clamp(grain.reshape(bh, bw, -1), lim)
    _continue_grain(grain, img, known[win], (by - y0, bx - x0), in_hole)
    fill = low[box] + grain.reshape(low[box].shape)
    fill += 0.5
    fill = np.clip(fill, 0, 255, out=fill).astype(np.uint8)
    cv2.copyTo(fill, in_hole.astype(np.uint8), out[box])  # a masked copy, ~20x numpy's copyto(where=)
    return out


def _continue_grain(grain: np.ndarray, img: np.ndarray, known: np.ndarray, at: tuple[int, int],
                    in_hole: np.ndarray) -> None:
    """``BORDER_GRAIN``: next to known skin, ``grain`` (the hole's box, at ``at`` (row, col) of the window
    ``img``/``known``) becomes the known pixels' own fine grain carried on, in place.

    Within 2 px of a known pixel fully, at 3 px half. The fine grain is the luma's departure from its 7 px
    box mean over known pixels, and what a hole pixel takes is its mean over the known pixels of a 5 px box:
    a smooth continuation (copying the nearest pixel's grain left a mosaic of streaks, more new edges). Luma
    only: three channels cost three times as much for no more in-hole PSNR."""
    if not BORDER_GRAIN or img.ndim != 3 or img.shape[2] != 3:
        return
    h, w = in_hole.shape
    y0, x0 = max(0, at[0] - 6), max(0, at[1] - 6)  # the reach of both boxes past the band
    y1, x1 = min(known.shape[0], at[0] + h + 6), min(known.shape[1], at[1] + w + 6)
    kn = known[y0:y1, x0:x1]
    y, x = at[0] - y0, at[1] - x0
    near3 = grow(kn, 3)[y:y + h, x:x + w] & in_hole
    pts = cv2.findNonZero(near3.view(np.uint8))
    if pts is None:
        return
    xs, ys = pts[:, 0, 0], pts[:, 0, 1]
    near2 = grow(kn, 2)[y:y + h, x:x + w]
    kf = kn.astype(np.float32)
    luma = cv2.multiply(cv2.transform(img[y0:y1, x0:x1], _MEAN3), kf)
    mean = cv2.divide(cv2.boxFilter(luma, -1, (7, 7)), np.maximum(cv2.boxFilter(kf, -1, (7, 7)), 1e-6))
    fine = cv2.multiply(cv2.subtract(luma, mean), kf)
    num = cv2.boxFilter(fine, -1, (5, 5))[ys + y, xs + x]
    den = cv2.boxFilter(kf, -1, (5, 5))[ys + y, xs + x]
    wt = ((1 + near2[ys, xs]) * 0.5 * (den > 1e-3))[:, None]
    g = grain[ys, xs]
    grain[ys, xs] = g + wt * ((num / np.maximum(den, 1e-6))[:, None] - g)


_MEAN3 = np.full((1, 3), 1 / 3, np.float32)


def clone_reads(plan: ClonePlan, hole: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a ``size`` crop outside which ``render_clone`` of ``plan`` reads nothing, for the
    hole it was planned for (at the plan's resolution; the rendered hole is that one resized): a bound on
    the render's window, the hole's box and its grain sources scaled up with the grain blur's reach."""
    ys, xs = np.nonzero(hole)
    if not len(xs):
        return 0, 0, 0, 0
    off = plan.offsets[ys, xs]
    ok = ~np.isnan(off[:, 0])
    px = np.concatenate([xs, xs[ok] + off[ok, 0]])
    py = np.concatenate([ys, ys[ok] + off[ok, 1]])
    k = size / plan.low.shape[0]
    # A plan pixel covers k render pixels; the resized hole reaches about one more; then the blur's window.
    pad = 2 * k + np.ceil(3 * plan.sigma * k) + 4
    x0, y0 = np.floor(np.array([px.min(), py.min()]) * k - pad).astype(int)
    x1, y1 = np.ceil((np.array([px.max(), py.max()]) + 1) * k + pad).astype(int)
    return max(0, x0), max(0, y0), min(size, x1), min(size, y1)


def clone_fill(image: np.ndarray, hole: np.ndarray, source: np.ndarray | None = None,
               detail_sigma: float | None = None, known: np.ndarray | None = None,
               edge: np.ndarray | None = None) -> np.ndarray:
    """FaceEraser-style classical fill: harmonic low frequencies + pixel-cloned real grain.

    ``image``: HxWx3 uint8; ``hole``: HxW bool (True = fill); ``source``: where grain may be copied from
    (default: everything outside the hole). ``known``: pixels whose colour the fill may take on
    (default: everything outside the hole); hair or glasses at the hole's edge are left out of it so
    their colour does not bleed in. ``detail_sigma``: the scale that separates shading from grain,
    by default 1/128 of the image side (2 px at 256, where the blank-face eval balances grain and PSNR).
    """
    if not hole.any():
        return image.copy()
    return render_clone(image, hole, plan_clone(image, hole, source, known, detail_sigma, edge))


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)


def _grain_limit(detail: np.ndarray, sample: np.ndarray, k: float = 3.0) -> np.ndarray | float:
    """+-k robust deviations of the grain, so moles, hair strands and edges are not cloned as structure."""
    idx = np.flatnonzero(sample)
    if len(idx) < 50:
        return np.inf
    idx = idx[:: max(1, len(idx) // 4000)]  # a few thousand samples pin a median down
    ref = detail.reshape(len(sample.ravel()), -1)[idx].T if detail.ndim == 3 else detail.ravel()[idx][None]
    ref = np.ascontiguousarray(ref)  # channels as rows: numpy's median along rows is ~3x faster
    mad = np.median(np.abs(ref - np.median(ref, 1, keepdims=True)), 1)
    return k * 1.4826 * (mad if detail.ndim == 3 else mad[0]) + 1e-3


def _clamp(x: np.ndarray, lim: np.ndarray | float) -> np.ndarray:
    """``np.clip(x, -lim, lim)`` for float32 HxWxC ``x`` and a per-channel (or scalar) ``lim``: OpenCV takes
    the channels' limits as one scalar, over 10x faster than numpy broadcasting them."""
    if np.ndim(lim) == 0:
        return x if np.isinf(lim) else np.clip(x, -lim, lim)
    if x.dtype != np.float32 or x.shape[-1] != len(lim) or len(lim) > 4:
        return np.clip(x, -lim, lim)
    top = tuple(float(v) for v in lim) + (0.0,) * (4 - len(lim))
    out = cv2.max(cv2.min(x, top), tuple(-v for v in top))
    return out.reshape(x.shape)


def opencv_fill(image: np.ndarray, hole: np.ndarray, method: str, radius: int = 5) -> np.ndarray:
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    return cv2.inpaint(image, hole.astype(np.uint8) * 255, radius, flag)

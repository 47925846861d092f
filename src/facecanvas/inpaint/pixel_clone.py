"""Pixel-clone detail: give every hole pixel the fine skin grain of a visible source pixel.

A classical stand-in for FaceEraser's Pixel-Clone network: instead of a learned offset map, each hole
pixel takes the first source pixel found along a fixed preference of directions (down, up, sideways,
diagonals), at a jump just longer than its distance to the hole's border. The result is a piecewise
constant offset field, so whole areas copy coherent real grain.
"""

from __future__ import annotations

import cv2
import numpy as np

# Preference: below (cheeks under the eyes, chin under the mouth), above (forehead over the brows), sideways.
_DIRECTIONS = np.array([(0, 1), (0, -1), (-1, 0), (1, 0), (-1, 1), (1, 1), (-1, -1), (1, -1)], np.float32)
_DIRECTIONS /= np.linalg.norm(_DIRECTIONS, axis=1, keepdims=True)


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[y, x] = mask[y + dy, x + dx], False outside the image."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = mask[ys, xs]
    return out


def clone_offsets(hole: np.ndarray, source: np.ndarray, min_jump: float = 4.0) -> np.ndarray:
    """(H, W, 2) float32 offsets (dx, dy) for hole pixels; NaN where no source pixel was reachable."""
    h, w = hole.shape
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    need = 2.0 * dist + min_jump
    offsets = np.full((h, w, 2), np.nan, np.float32)
    todo = hole.copy()
    jump = min_jump * 2
    max_jump = float(max(h, w))
    while todo.any() and jump <= max_jump:
        ring = todo & (need <= jump)
        if ring.any():
            for d in _DIRECTIONS:
                dx, dy = int(round(d[0] * jump)), int(round(d[1] * jump))
                hit = ring & _shifted(source, dx, dy)
                offsets[hit] = (dx, dy)
                ring &= ~hit
                todo &= ~hit
        jump *= 1.5
    return offsets


def clone_detail(detail: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Copy ``detail`` (H, W, C float32) from ``pixel + offset``; zero where the offset is NaN."""
    h, w = offsets.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    ok = ~np.isnan(offsets[..., 0])
    mx = np.where(ok, gx + np.nan_to_num(offsets[..., 0]), gx)
    my = np.where(ok, gy + np.nan_to_num(offsets[..., 1]), gy)
    out = cv2.remap(detail, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    if out.ndim == 2:
        out = out[..., None]
    return np.where(ok[..., None], out, 0)

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


def clone_offsets(hole: np.ndarray, source: np.ndarray, min_jump: float = 4.0) -> np.ndarray:
    """(H, W, 2) float32 offsets (dx, dy) for hole pixels; NaN where no source pixel was reachable."""
    h, w = hole.shape
    offsets = np.full((h, w, 2), np.nan, np.float32)
    bx, by, bw, bh = cv2.boundingRect(hole.astype(np.uint8))
    if bw == 0:
        return offsets
    # Work inside the hole's bounding box; the source is padded so every jump stays in bounds.
    max_jump = float(max(h, w))
    pad = int(max_jump) + 1
    src = np.zeros((h + 2 * pad, w + 2 * pad), bool)
    src[pad:pad + h, pad:pad + w] = source
    sub = hole[by:by + bh, bx:bx + bw]
    dist = cv2.distanceTransform(np.pad(sub, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    need = 2.0 * dist + min_jump
    found = np.full((bh, bw, 2), np.nan, np.float32)
    todo = sub.copy()
    jump = min_jump * 2
    while todo.any() and jump <= max_jump:
        ring = todo & (need <= jump)
        if ring.any():
            for d in _DIRECTIONS:
                dx, dy = int(round(d[0] * jump)), int(round(d[1] * jump))
                y0, x0 = pad + by + dy, pad + bx + dx
                hit = ring & src[y0:y0 + bh, x0:x0 + bw]
                found[hit] = (dx, dy)
                ring &= ~hit
                todo &= ~hit
        jump *= 1.5
    if todo.any() and (sub & ~todo).any():
        # Pixels no direction reached (deep inside a wide hole) borrow the offset of the nearest pixel
        # that was reached, so they copy grain from next to its source instead of getting none.
        reached = sub & ~todo
        seeds = np.pad(~reached, 1, constant_values=True).astype(np.uint8)  # 0 marks a reached pixel
        _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        labels = labels[1:-1, 1:-1]
        ry, rx = np.nonzero(reached)
        lut = np.zeros(labels.max() + 1, np.intp)
        lut[labels[ry, rx]] = np.arange(len(ry))
        ly, lx = np.nonzero(todo)
        near = lut[labels[ly, lx]]
        cand = found[ry[near], rx[near]]
        sy, sx = pad + by + ly + cand[:, 1].astype(np.intp), pad + bx + lx + cand[:, 0].astype(np.intp)
        good = src[sy, sx]
        found[ly[good], lx[good]] = cand[good]
        todo[ly[good], lx[good]] = False
    if todo.any():
        _place_blobs(todo, found, src, pad, pad + by, pad + bx)
    offsets[by:by + bh, bx:bx + bw] = found
    return offsets


def _place_blobs(todo: np.ndarray, found: np.ndarray, src: np.ndarray, pad: int, oy: int, ox: int,
                 tries: int = 64, min_area: int = 16) -> None:
    """Give each still-unfilled blob one offset that lands it (mostly) on source pixels (``src``: the source
    with ``pad`` px of zeros round it; ``oy``, ``ox``: where ``todo``'s corner lies in it).

    Blobs of a few pixels are left without grain: invisible, and not worth the search."""
    n, labels, stats, cent = cv2.connectedComponentsWithStats(todo.astype(np.uint8), connectivity=8)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not big:
        return
    # (The padded source is zero outside its middle: its nonzero pixels are the middle's, shifted.)
    sy_all, sx_all = np.nonzero(src[pad:-pad, pad:-pad])
    if len(sy_all) == 0:
        return
    sy_all += pad
    sx_all += pad
    step = max(1, len(sy_all) // 4000)
    sy_all, sx_all = sy_all[::step], sx_all[::step]
    hs, ws = src.shape
    for i in big:
        x, y, w, h = stats[i, :4]
        ly, lx = np.nonzero(labels[y:y + h, x:x + w] == i)
        ly, lx = ly + y, lx + x
        cy, cx = oy + cent[i][1], ox + cent[i][0]
        order = np.argsort((sy_all - cy) ** 2 + (sx_all - cx) ** 2)
        pick = order[:: max(1, len(order) // tries)][:tries]  # nearest first, spread over all sources
        dy = (sy_all[pick] - round(cy)).astype(np.intp)[:, None]
        dx = (sx_all[pick] - round(cx)).astype(np.intp)[:, None]
        ty, tx = oy + ly[None] + dy, ox + lx[None] + dx  # every try at once: tries x blob pixels
        inside = (ty >= 0) & (tx >= 0) & (ty < hs) & (tx < ws)
        land = src[np.clip(ty, 0, hs - 1), np.clip(tx, 0, ws - 1)] & inside
        good = inside.all(1) & (land.mean(1) > 0.9)
        if good.any():
            j = int(np.argmax(good))
            found[ly[land[j]], lx[land[j]]] = (int(dx[j, 0]), int(dy[j, 0]))

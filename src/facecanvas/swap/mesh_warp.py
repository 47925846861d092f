"""Piecewise-affine warping over the MediaPipe face-mesh triangulation.

``triangles()`` is the mesh's triangle list (854 triangles over the 468 mesh points), built once from
MediaPipe's ``FACEMESH_TESSELATION`` edges (every 3-clique of the edge graph), or, where that module is
not importable, from a Delaunay triangulation of the points given.

``PiecewiseWarp.maps(src, dst, box)`` gives the ``cv2.remap`` maps that carry a texture laid out on the
``src`` mesh onto the ``dst`` mesh, for the pixels of ``box`` only: one triangle-id raster (nearer
triangles drawn last, so a turned head's far cheek is hidden behind its nose), one affine per
triangle, then a per-pixel gather. The same raster serves several textures (``affines`` + ``apply``),
which is how the swap moves the target's own eyes and inner mouth along with the new geometry.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import cv2
import numpy as np

MESH_POINTS = 468  # the face mesh without the 10 iris points
_SHIFT = 4  # sub-pixel bits for cv2.fillConvexPoly


@lru_cache(maxsize=1)
def _tesselation() -> np.ndarray | None:
    try:
        from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION
    except Exception:  # noqa: BLE001 - any import failure: fall back to Delaunay
        return None
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in FACEMESH_TESSELATION:
        adj[a].add(b)
        adj[b].add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in FACEMESH_TESSELATION for c in adj[a] & adj[b]}
    return np.array(sorted(tris), np.int32)


def delaunay(points: np.ndarray) -> np.ndarray:
    """(T, 3) Delaunay triangles of (N, 2) points."""
    from scipy.spatial import Delaunay

    return Delaunay(np.asarray(points, np.float64)[:, :2]).simplices.astype(np.int32)


def triangles(points: np.ndarray | None = None) -> np.ndarray:
    """The mesh triangulation (T, 3) of point indices < 468."""
    t = _tesselation()
    if t is not None:
        return t
    if points is None:
        raise RuntimeError("mediapipe's face-mesh tesselation is not available; pass points for Delaunay")
    return delaunay(np.asarray(points)[:MESH_POINTS])


def triangle_affines(src: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T, 3, 2) per-triangle affines taking dst pixel coords [x, y, 1] to src coords (row-vector form).

    Closed form (Cramer), vectorised: numpy's batched solve costs ~20 ms here when BLAS threads
    contend. Collapsed destination triangles get a finite affine (their pixels are few or none)."""
    p = np.asarray(dst, np.float64)[tris, :2]  # T x 3 x 2
    q = np.asarray(src, np.float64)[tris, :2]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    f1, f2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    # Inverse of the 2x2 [e1 e2] (columns), then A = [f1 f2] @ inv: src - q0 = A (x - p0).
    i00, i01 = e2[:, 1] / det, -e2[:, 0] / det
    i10, i11 = -e1[:, 1] / det, e1[:, 0] / det
    a00 = f1[:, 0] * i00 + f2[:, 0] * i10
    a01 = f1[:, 0] * i01 + f2[:, 0] * i11
    a10 = f1[:, 1] * i00 + f2[:, 1] * i10
    a11 = f1[:, 1] * i01 + f2[:, 1] * i11
    out = np.empty((len(tris), 3, 2))
    out[:, 0, 0], out[:, 1, 0] = a00, a01
    out[:, 0, 1], out[:, 1, 1] = a10, a11
    out[:, 2, 0] = q[:, 0, 0] - a00 * p[:, 0, 0] - a01 * p[:, 0, 1]
    out[:, 2, 1] = q[:, 0, 1] - a10 * p[:, 0, 0] - a11 * p[:, 0, 1]
    return out


class PiecewiseWarp:
    """Triangle raster + per-triangle affines for one destination mesh, restricted to a box."""

    def __init__(self, tris: np.ndarray):
        self.tris = np.asarray(tris, np.int32)

    def raster(self, dst: np.ndarray, box: tuple[int, int, int, int], depth: np.ndarray | None = None) -> np.ndarray:
        """(h, w) int32 triangle ids of the destination mesh over ``box`` (x0, y0, x1, y1); -1 outside."""
        x0, y0, x1, y1 = box
        ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
        # Pixel centres: a pixel belongs to a triangle when its centre is inside.
        pts = np.round((dst[:, :2] - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        order = np.arange(len(self.tris))
        if depth is not None:  # far first (MediaPipe z: larger = farther), near ones overwrite
            order = np.argsort(-depth[self.tris].mean(1), kind="stable")
        tri_pts = pts[self.tris]
        for i in order:
            cv2.fillConvexPoly(ids, tri_pts[i], int(i), lineType=cv2.LINE_8, shift=_SHIFT)
        return ids

    def apply(self, ids: np.ndarray, affines: np.ndarray, box: tuple[int, int, int, int],
              src_offset: tuple[float, float] = (0.0, 0.0), src_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """float32 remap maps (h, w) for the raster ``ids`` (pixels outside the mesh map to -1: border).

        ``src_scale``/``src_offset``: the source texture is a scaled/shifted copy of the frame the
        affines were made for (a pyramid level, an image box)."""
        x0, y0 = box[0], box[1]
        h, w = ids.shape
        # One row of coefficients per triangle (scale and offset folded in), one more (index -1) that
        # maps to -1; a dense gather over the box in float32 (the coordinates stay within 1e-3 px).
        a = np.asarray(affines, np.float64)
        coef = np.empty((len(a) + 1, 6), np.float32)
        coef[:-1, 0], coef[:-1, 1] = a[:, 0, 0] * src_scale, a[:, 1, 0] * src_scale
        coef[:-1, 3], coef[:-1, 4] = a[:, 0, 1] * src_scale, a[:, 1, 1] * src_scale
        # Offsets relative to the box's corner, so the float32 products stay small.
        coef[:-1, 2] = (a[:, 2, 0] + a[:, 0, 0] * x0 + a[:, 1, 0] * y0) * src_scale - src_offset[0]
        coef[:-1, 5] = (a[:, 2, 1] + a[:, 0, 1] * x0 + a[:, 1, 1] * y0) * src_scale - src_offset[1]
        coef[-1] = (0, 0, -1, 0, 0, -1)
        c = coef[ids]  # h x w x 6 (ids -1 picks the last row)
        xs = np.arange(w, dtype=np.float32)[None, :]
        ys = np.arange(h, dtype=np.float32)[:, None]
        mx = c[..., 0] * xs + c[..., 1] * ys + c[..., 2]
        my = c[..., 3] * xs + c[..., 4] * ys + c[..., 5]
        return mx, my


def remap(texture: np.ndarray, mx: np.ndarray, my: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.remap(texture, mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)

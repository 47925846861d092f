"""Metrics between a face before and after an edit: head-pose and expression error (defined in
analysis/mesh_metrics, re-exported here), box overlap, and the skin tone shift."""

from __future__ import annotations

import numpy as np

from ..analysis.mesh_metrics import (EXPRESSION_NAMES, MESH, expression, expression_error,  # noqa: F401
                                      kabsch_rotation, pose_error)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


def skin_tone_shift(before: np.ndarray, after: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """(CIE76 ΔE, ΔL*) between the mean CIELAB colour of the face's skin (the mesh's face oval minus
    brows, eyes, lips and nostrils, at ``points``) in ``before`` and ``after`` (uint8 BGR, same size).
    The mission keeps skin tone: an edit that lifts or darkens the whole face shows here."""
    import cv2

    from ..swap.color import skin_mask

    m = skin_mask(points, before.shape)
    if m.sum() < 30:
        return float("nan"), float("nan")
    lab = [cv2.cvtColor(x[m].reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(0)
           for x in (before, after)]
    d = lab[1] - lab[0]
    return float(np.linalg.norm(d)), float(d[0])

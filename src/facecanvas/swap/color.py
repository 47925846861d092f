"""Colour: skin masks from the mesh, LAB statistics on skin pixels only, and Reinhard-style transfer."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis import landmark_groups as lg

# Parts that are not skin; their hulls are cut out of the face oval (with a margin) before statistics.
_NOT_SKIN = ("right_brow", "left_brow", "right_eye", "left_eye", "lips")


def skin_mask(points: np.ndarray, shape: tuple[int, int], offset: tuple[float, float] = (0.0, 0.0),
              margin: float = 0.06) -> np.ndarray:
    """HxW bool: the face oval minus brows, eyes, lips and nostrils (each grown by ``margin`` x eye
    distance), for landmarks ``points`` (478, 2+) shifted by ``-offset`` into the array's frame."""
    p = np.asarray(points, np.float64)[:, :2] - offset
    iod = float(np.linalg.norm(p[lg.LEFT_IRIS[0]] - p[lg.RIGHT_IRIS[0]])) or 1.0
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(p[list(lg.FACE_OVAL)]).astype(np.int32)], 255)
    m = cv2.erode(m, np.ones((3, 3), np.uint8), iterations=max(1, int(0.05 * iod)))
    cut = np.zeros_like(m)
    for g in _NOT_SKIN:
        cv2.fillConvexPoly(cut, cv2.convexHull(np.round(p[list(lg.GROUPS[g])]).astype(np.int32)), 255)
    # Nostrils and the nose's underside shade differently from the cheeks.
    cv2.fillConvexPoly(cut, cv2.convexHull(np.round(p[[98, 97, 2, 326, 327, 94, 19]]).astype(np.int32)), 255)
    r = max(1, int(round(margin * iod)))
    cut = cv2.dilate(cut, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return (m > 0) & (cut == 0)


@dataclass(frozen=True)
class LabStats:
    mean: np.ndarray  # (3,) float32, OpenCV 8-bit LAB scale
    std: np.ndarray  # (3,)

    def blend(self, other: "LabStats", keep: float) -> "LabStats":
        """``keep`` of self plus ``1 - keep`` of other (a running average over a track's frames)."""
        return LabStats(keep * self.mean + (1 - keep) * other.mean, keep * self.std + (1 - keep) * other.std)


def lab_stats(bgr: np.ndarray, mask: np.ndarray) -> LabStats | None:
    """Robust LAB mean/std of the masked pixels: pixels more than 3 robust deviations (MAD) from the
    median in any channel are dropped first (specular highlights, stray hair, an object in front of the
    cheek). None when too few pixels."""
    idx = np.flatnonzero(mask)
    if len(idx) < 30:
        return None
    if len(idx) > 6000:  # statistics need no more: an even subsample
        idx = idx[:: len(idx) // 4000]
    px = bgr.reshape(-1, bgr.shape[-1])[idx]
    lab = cv2.cvtColor(px.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    med = np.median(lab, 0)
    mad = np.median(np.abs(lab - med), 0) * 1.4826 + 1.0
    keep = (np.abs(lab - med) <= 3 * mad).all(1)
    if keep.sum() >= 30:
        lab = lab[keep]
    return LabStats(lab.mean(0), lab.std(0) + 1e-3)


CHROMA_MODELS = ("shift", "scale")
GREY_CHROMA = 3.0  # 8-bit LAB levels from 128: a mean this near grey is scaled by nothing sensible (shifted)


def transfer(bgr: np.ndarray, src: LabStats, dst: LabStats, max_ratio: float = 1.6,
             strength: float = 1.0, max_chroma_gain: float = 1.6, max_light_gain: float | None = None,
             chroma: str = "shift") -> np.ndarray:
    """``bgr`` (a texture with ``src``'s statistics) recoloured to ``dst``'s: per LAB channel
    (x - mean_s) * std_d / std_s + mean_d, the std ratio clamped to [1/max_ratio, max_ratio] for
    lightness, and for the two chroma channels to at most ``max_chroma_gain`` (no lower limit) (a gain above 1 also stretches the
    texture's stray tints, a fringe's or a background's, into cyan or green patches). ``max_light_gain``:
    a lower cap on the lightness gain (default ``max_ratio``): a gain above 1 deepens every shadow and
    blotch the texture has.

    ``chroma="scale"``: a chroma channel whose two means lie on the same side of grey is scaled about grey
    instead, 128 + (x - 128) * k with k = (mean_d - 128) / (mean_s - 128), at most the shift's own gain (the
    rest of the mean added): a warm photo's less yellow sockets and stubble, shifted by the whole warm cast,
    crossed grey into blue or green patches on a cooler target; scaled, they keep their side. (A larger
    k, for a pale source on a ruddy target, stretched the source's chroma noise into mottled cheeks.)"""
    if chroma not in CHROMA_MODELS:
        raise ValueError(f"chroma model {chroma!r}: choose from {', '.join(CHROMA_MODELS)}")
    ratio = np.clip(dst.std / src.std, 1 / max_ratio, max_ratio).astype(np.float32)
    if max_light_gain is not None:
        ratio[0] = min(ratio[0], max(max_light_gain, 1 / max_ratio))
    # Chroma may fall all the way (a black-and-white photo gets a grey face, not a tinted one).
    ratio[1:] = np.minimum(dst.std[1:] / src.std[1:], max_chroma_gain)
    # Per channel the map is affine in the 8-bit LAB value: a 256-entry table per channel.
    v = np.arange(256, dtype=np.float32)[:, None]
    lut = v * ratio + (dst.mean - src.mean * ratio).astype(np.float32)
    if chroma == "scale":
        for c in (1, 2):
            ds, dd = float(src.mean[c]) - 128, float(dst.mean[c]) - 128
            if ds * dd > 0 and abs(ds) > GREY_CHROMA:
                k = min(dd / ds, float(ratio[c]))  # (never a stronger gain than the shift's)
                lut[:, c] = 128 + (v[:, 0] - 128) * k + (dd - ds * k)
    if strength < 1:
        lut = strength * lut + (1 - strength) * v
    lut = np.clip(lut, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.cvtColor(cv2.LUT(cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB), lut), cv2.COLOR_LAB2BGR)

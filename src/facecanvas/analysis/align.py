"""Similarity alignment to a canonical square crop, and its exact inverse for pasting back."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Five points (image-left eye, image-right eye, nose tip, mouth left, mouth right) in a unit square.
# ARCFACE_POINTS: ArcFace's 112x112 template (what face recognizers such as SFace are trained on).
ARCFACE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                           [41.5493, 92.3655], [70.7299, 92.2041]], np.float64) / 112.0
# CANONICAL_POINTS: the same template zoomed out so the whole head (forehead, chin, cheeks) fits with a
# margin; every edit works in this frame.
_ZOOM, _CENTER_Y = 0.72, 0.62
CANONICAL_POINTS = np.column_stack([0.5 + (ARCFACE_POINTS[:, 0] - 0.5) * _ZOOM,
                                    0.5 + (ARCFACE_POINTS[:, 1] - _CENTER_Y) * _ZOOM]).astype(np.float32)
TEMPLATES = {"canonical": CANONICAL_POINTS, "arcface": ARCFACE_POINTS}


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst, as 2x3.

    In the plane this is one complex division (the points as complex numbers: dst ~ c * src + t), the same
    transform as Umeyama's SVD without its LAPACK calls, which cost ~0.5 ms each when BLAS threads contend."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    norm = float((s * s).sum())
    a = float((s * d).sum()) / norm  # Re(conj(s) d) / |s|^2: scale * cos
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm  # Im(conj(s) d) / |s|^2: scale * sin
    m = np.array([[a, -b, 0.0], [b, a, 0.0]])
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


_UP = 4  # the cubic warp's upsampling: 2x left up to 20 levels of bilinear error, 4x up to 4


def warp_affine(src: np.ndarray, m: np.ndarray, dsize: tuple[int, int], interpolation: int = cv2.INTER_LINEAR,
                border_mode: int = cv2.BORDER_REPLICATE, exact: bool = False) -> np.ndarray:
    """``cv2.warpAffine`` (``dsize`` (w, h), zeros past a constant border), with a faster cubic.

    OpenCV's cubic warp has no SIMD path and costs about 5x its bilinear one. Here the source box the
    output reads is upsampled 4x by a cubic resize (which has one), then sampled bilinearly: within 4-6
    levels of OpenCV's cubic (mean 0.2) and 97-98% of its fine detail (bilinear alone keeps 80-90%), in
    40-70% of the time for a crop at 1-1.3x the image's scale and a small tilt. ``exact``: OpenCV's own
    cubic, for a warp made once (a swap's source texture), where the last 2-3% of detail counts and the time
    does not."""
    w, h = dsize
    if interpolation == cv2.INTER_CUBIC and not exact:
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - 0.5
        inv = invert_affine(m)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - 3, 0)
        x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 4, (src.shape[1], src.shape[0]))
        # Past 20 upsampled pixels an output pixel (a shrinking or turned warp) the resize costs more than
        # it saves (timed on 288x312 and 512x512 outputs).
        if x1 - x0 >= 4 and y1 - y0 >= 4 and (x1 - x0) * (y1 - y0) * _UP ** 2 <= 20 * w * h:
            up = cv2.resize(src[y0:y1, x0:x1], None, fx=_UP, fy=_UP, interpolation=cv2.INTER_CUBIC)
            # Upsampled pixel u sits at source x0 + (u + 0.5) / _UP - 0.5 (resize's half-pixel centres).
            a = np.asarray(m, np.float64)[:, :2]
            off = 0.5 - 0.5 / _UP
            m2 = np.hstack([a / _UP, (a @ np.array([x0 - off, y0 - off]) + m[:, 2])[:, None]])
            return cv2.warpAffine(up, m2, dsize, flags=cv2.INTER_LINEAR, borderMode=border_mode, borderValue=0)
    return cv2.warpAffine(src, m, dsize, flags=interpolation, borderMode=border_mode, borderValue=0)


def invert_affine(m: np.ndarray) -> np.ndarray:
    # OpenCV's closed form: numpy's LAPACK call costs ~1 ms here when BLAS threads contend.
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


@dataclass(frozen=True)
class AlignTransform:
    """Maps image pixels to a ``size`` x ``size`` canonical crop (``matrix``) and back (``inverse``)."""

    matrix: np.ndarray  # 2x3 float64, image -> crop
    size: int

    @property
    def inverse(self) -> np.ndarray:
        return invert_affine(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def interpolation(self) -> int:
        """Resampling for this crop and its paste-back: cubic keeps skin grain at about the face's own
        resolution; a crop below 0.75x of it holds less detail than the image, and linear is as good."""
        return cv2.INTER_CUBIC if self.scale >= 0.75 else cv2.INTER_LINEAR

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64)[..., :2]
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_image(self, points: np.ndarray) -> np.ndarray:
        inv = self.inverse
        p = np.asarray(points, np.float64)[..., :2]
        return p @ inv[:, :2].T + inv[:, 2]

    def warp(self, image: np.ndarray, interpolation: int = cv2.INTER_CUBIC,
             sharp_box: tuple[int, int, int, int] | None = None, exact: bool = False) -> np.ndarray:
        """The canonical crop of ``image`` (borders replicate, so no black wedges feed the inpainter).

        Cubic by default: bilinear resampling there and back would wash out the skin grain.
        ``sharp_box``: (x0, y0, x1, y1) of the crop; only there is ``interpolation`` used, the rest is
        bilinear (a cubic warp costs 2-5x a bilinear one): for a caller that reads
        no pixel outside it. ``exact``: see ``warp_affine``."""
        size = (self.size, self.size)
        if sharp_box is None or interpolation == cv2.INTER_LINEAR:
            return warp_affine(image, self.matrix, size, interpolation, exact=exact)
        x0, y0, x1, y1 = (int(v) for v in np.clip(sharp_box, 0, self.size))
        out = cv2.warpAffine(image, self.matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if x1 > x0 and y1 > y0:
            m = self.matrix.copy()
            m[:, 2] -= (x0, y0)  # the same map, its output shifted to the box's corner
            out[y0:y1, x0:x1] = warp_affine(image, m, (x1 - x0, y1 - y0), interpolation, exact=exact)
        return out

    def image_roi(self, image_shape: tuple[int, ...], margin: int = 2,
                  crop_box: tuple[int, int, int, int] | None = None) -> tuple[int, int, int, int]:
        """Integer box (x0, y0, x1, y1) of the image covered by the crop (or by ``crop_box`` of it),
        clipped to the image."""
        x0, y0, x1, y1 = crop_box or (0, 0, self.size, self.size)
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        pts = self.to_image(corners)
        h, w = image_shape[:2]
        x0, y0 = np.floor(pts.min(0)).astype(int) - margin
        x1, y1 = np.ceil(pts.max(0)).astype(int) + margin
        return max(0, x0), max(0, y0), min(w, x1), min(h, y1)

    def unwarp_roi(self, crop: np.ndarray, roi: tuple[int, int, int, int],
                   interpolation: int = cv2.INTER_LINEAR, size: tuple[int, int] | None = None) -> np.ndarray:
        """Warp a crop-space array back onto the image box ``roi`` (from ``image_roi``); ``size``: (w, h)
        to give that box (a scaled copy of it, in the same warp), by default its own."""
        x0, y0, x1, y1 = roi
        inv = self.inverse.copy()
        inv[:, 2] -= (x0, y0)
        w, h = size or (x1 - x0, y1 - y0)
        if (w, h) != (x1 - x0, y1 - y0):
            inv = np.diag([w / (x1 - x0), h / (y1 - y0)]) @ inv
        return warp_affine(crop, inv, (w, h), interpolation, cv2.BORDER_CONSTANT)


def align_face(points5: np.ndarray, size: int = 256, template: str | np.ndarray = "canonical") -> AlignTransform:
    """Similarity alignment of five face points to a template in a ``size`` crop.

    ``template``: "canonical" (the whole head, for edits), "arcface" (ArcFace's 112 template scaled to
    ``size``: the tight crop recognizers expect) or a 5x2 array of points in the unit square.
    """
    if isinstance(template, str):
        if template not in TEMPLATES:
            raise ValueError(f"unknown alignment template {template!r}; choose one of {', '.join(TEMPLATES)}")
        template = TEMPLATES[template]
    return AlignTransform(fit_similarity(points5, template * size), size)

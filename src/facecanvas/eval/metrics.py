"""Image-quality metrics of a fill against its ground truth (FaceEraser Table 1, plus a grain measure).

``psnr`` and ``mae`` work on the 0..255 scale, over the whole image or inside an optional mask. ``texture_ratio``
says whether the fill has the truth's fine grain: 1.0 is the same grain, below 1 smoother (a blurry fill),
above 1 noisier. Whole-image PSNR rewards blur, so read it beside the texture ratio.
"""

from __future__ import annotations

import cv2
import numpy as np

TEXTURE_SIGMA = 1.5  # Gaussian sigma of the low-pass that the grain is measured against
TEXTURE_ERODE = 2  # px taken off the hole's border before measuring grain (the blur there sees outside pixels)


def _pair(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred {pred.shape} and truth {truth.shape} differ in shape")
    p, t = pred.astype(np.float64), truth.astype(np.float64)
    if mask is None:
        return p.ravel(), t.ravel()
    m = np.asarray(mask, bool)
    if m.shape != pred.shape[:2]:
        raise ValueError(f"mask {m.shape} does not match the images {pred.shape[:2]}")
    return p[m].ravel(), t[m].ravel()


def mse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over every channel of every pixel (inside ``mask`` if given); nan for an empty mask."""
    p, t = _pair(pred, truth, mask)
    return float(np.mean((p - t) ** 2)) if p.size else float("nan")


def psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` when identical), over the image or inside ``mask``."""
    e = mse(pred, truth, mask)
    if np.isnan(e):
        return e
    return float("inf") if e == 0 else float(10.0 * np.log10(data_range ** 2 / e))


def mae(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error on the 0..255 scale (divide by 2.55 for percent), over the image or inside ``mask``."""
    p, t = _pair(pred, truth, mask)
    return float(np.mean(np.abs(p - t))) if p.size else float("nan")


def high_pass(image: np.ndarray, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Grayscale fine detail: gray - GaussianBlur(gray, sigma), float32."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.shape[2] == 3 else img[..., 0]
    gray = img.astype(np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def texture_rms(image: np.ndarray, mask: np.ndarray, sigma: float = TEXTURE_SIGMA,
                erode: int = TEXTURE_ERODE) -> float:
    """RMS of ``high_pass`` inside ``mask`` eroded by ``erode`` px (nan when nothing is left)."""
    m = np.asarray(mask, bool)
    if erode > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1))
        m = cv2.erode(m.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    if not m.any():
        return float("nan")
    hp = high_pass(image, sigma)[m].astype(np.float64)
    return float(np.sqrt(np.mean(hp * hp)))


def texture_ratio(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, sigma: float = TEXTURE_SIGMA,
                  erode: int = TEXTURE_ERODE) -> float:
    """Fine-detail energy of ``pred`` inside the hole relative to ``truth``'s: 1.0 = the same grain, < 1 smoother.

    nan when the eroded mask is empty or the truth has no detail there.
    """
    if np.asarray(pred).shape != np.asarray(truth).shape:
        raise ValueError(f"pred {np.shape(pred)} and truth {np.shape(truth)} differ in shape")
    t = texture_rms(truth, mask, sigma, erode)
    if not np.isfinite(t) or t <= 0:
        return float("nan")
    return texture_rms(pred, mask, sigma, erode) / t


def aggregate(values) -> dict[str, float]:
    """Median and mean over samples, ignoring nan; the mean also leaves out infinities (identical images)."""
    v = np.asarray(list(values), np.float64)
    v = v[~np.isnan(v)]
    finite = v[np.isfinite(v)]
    return {
        "median": float(np.median(v)) if v.size else float("nan"),
        "mean": float(finite.mean()) if finite.size else (float(v[0]) if v.size else float("nan")),
        "n": int(v.size),
    }

"""Facial-part masks from landmarks: one convex region per part, dilated in proportion to face size."""

from __future__ import annotations

import cv2
import numpy as np

from ..analysis import landmark_groups as lg

# Part name -> landmark groups whose convex hulls make it up.
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "brows": ("right_brow", "left_brow"),
    "eyes": ("right_eye", "left_eye"),
    "nose": ("nose",),
    "mouth": ("lips",),
}
PARTS = tuple(PART_GROUPS)

# Dilation per part as a fraction of the eye distance: enough to cover shadows, lashes and lip edges
# ("dilate the masks to assure covering of shadows and peripheral regions", FaceEraser 3.2).
DEFAULT_DILATION = {"brows": 0.10, "eyes": 0.09, "nose": 0.09, "mouth": 0.10}


# One bit per part in the stored part-mask PNGs of a training/eval dataset (eval/dataset.py, train/data.py).
PART_BITS = {"brows": 1, "eyes": 2, "nose": 4, "mouth": 8}


def parse_parts(spec: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """"brows,eyes" -> ("brows", "eyes"); None or "all" -> every part."""
    if spec is None or spec == "all":
        return PARTS
    names = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else list(spec)
    bad = [p for p in names if p not in PART_GROUPS]
    if bad or not names:
        raise ValueError(f"unknown part(s) {', '.join(bad) or '(none)'}; choose from {', '.join(PARTS)}")
    return tuple(dict.fromkeys(names))


def interocular(points: np.ndarray) -> float:
    """Distance between the iris centres of (478, 2+) landmarks."""
    return float(np.linalg.norm(points[lg.LEFT_IRIS[0], :2] - points[lg.RIGHT_IRIS[0], :2]))


def part_mask(points: np.ndarray, part: str, shape: tuple[int, int], dilation: float | None = None) -> np.ndarray:
    """HxW bool mask of one part, for landmarks ``points`` (478, 2+) given in the same pixel frame."""
    hulls = [cv2.convexHull(np.round(points[list(lg.GROUPS[group]), :2]).astype(np.int32))
             for group in PART_GROUPS[part]]
    frac = DEFAULT_DILATION[part] if dilation is None else dilation
    return hull_mask(hulls, shape, frac * interocular(points))


def hull_mask(hulls: list[np.ndarray], shape: tuple[int, int], radius: float) -> np.ndarray:
    """HxW bool: the filled convex ``hulls`` (int32 point arrays), dilated by a disk of ``radius`` px.

    The dilation runs only on the box the hulls can reach: a part is a small fraction of the crop, and a
    wide elliptical kernel over the whole crop was the slowest step of the masks."""
    mask = np.zeros(shape[:2], np.uint8)
    for hull in hulls:
        cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8)
    r = int(round(radius))
    if r > 0 and hulls:
        x, y, w, h = cv2.boundingRect(np.vstack(hulls))
        y0, x0 = max(0, y - r - 1), max(0, x - r - 1)
        y1, x1 = min(mask.shape[0], y + h + r + 1), min(mask.shape[1], x + w + r + 1)
        if y1 > y0 and x1 > x0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            mask[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1], kernel)
    return mask > 0


def part_masks(points: np.ndarray, shape: tuple[int, int], parts=PARTS,
               dilation_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Masks for each requested part; ``dilation_scale`` multiplies every part's default dilation."""
    return {p: part_mask(points, p, shape, DEFAULT_DILATION[p] * dilation_scale) for p in parse_parts(parts)}


def union(masks: dict[str, np.ndarray] | list[np.ndarray], shape: tuple[int, int] | None = None) -> np.ndarray:
    items = list(masks.values()) if isinstance(masks, dict) else list(masks)
    if not items:
        if shape is None:
            raise ValueError("union of no masks needs a shape")
        return np.zeros(shape[:2], bool)
    return np.logical_or.reduce(items)


def face_region(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool: inside the face oval."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[list(lg.FACE_OVAL), :2]).astype(np.int32)], 255)
    return mask > 0


def feather(mask: np.ndarray, radius: float, soft: np.ndarray | None = None) -> np.ndarray:
    """Float alpha that is exactly 0 outside ``mask`` and ramps smoothly to 1 over ``radius`` px inside it.

    ``soft`` (HxW bool, outside ``mask``): the only pixels the ramp starts from; where the mask's border
    meets anything else (hair or glasses kept on top of an erased part) the alpha is 1 right up to it."""
    m = np.asarray(mask).astype(bool)
    if radius <= 0:
        return m.astype(np.float32)
    out = np.zeros(m.shape, np.float32)
    # Only over the mask's box with a rim: every path to a zero outside it crosses the rim's zeros (the plain
    # ramp), or a soft pixel farther than ``radius`` leaves the alpha at 1 (the soft one). A part's box is a
    # fraction of a 512 px crop.
    box = mask_box(m, pad=1 if soft is None else int(np.ceil(radius)) + 1)
    if box is None:
        return out
    if soft is None:
        d = cv2.distanceTransform(m[box].astype(np.uint8), cv2.DIST_L2, 3)
    else:
        d = cv2.distanceTransform((~np.asarray(soft, bool)[box]).astype(np.uint8), cv2.DIST_L2, 3)
        d[~m[box]] = 0
    t = np.clip(d / radius, 0, 1)
    out[box] = t * t * (3 - 2 * t)
    return out


def mask_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice] | None:
    """The bounding box of ``mask``'s nonzero pixels grown by ``pad`` (clipped), as (rows, cols) slices;
    None when it is empty."""
    m = np.asarray(mask)
    # A bool mask is read as bytes in place: a compare and a copy of a 512 px crop cost more than the scan.
    x, y, w, h = cv2.boundingRect(m.view(np.uint8) if m.dtype == bool else (m != 0).astype(np.uint8))
    if w == 0:
        return None
    H, W = mask.shape[:2]
    return slice(max(0, y - pad), min(H, y + h + pad)), slice(max(0, x - pad), min(W, x + w + pad))


def grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """HxW bool: ``mask`` dilated by a disk of ``radius`` px (rounded), worked out only on the box it can
    reach.

    OpenCV's elliptic kernel costs in proportion to its height: past ``GROW_KERNEL_MAX`` px the disk is an
    exact distance transform's threshold instead (the same disk to within a pixel along the edge): 0.1
    against 0.5 ms for a 17 px disk over a part's box at a 512 px crop. (The 5x5 chamfer distance is
    faster still, but not monotone along the threshold: it left single pixels out of the grown mask.)"""
    r = int(round(radius))
    if r <= 0:
        return np.asarray(mask) != 0
    box = mask_box(mask, pad=r + 1)
    out = np.zeros(mask.shape[:2], bool)
    if box is None:
        return out
    m = np.asarray(mask)[box]
    m = m.view(np.uint8) if m.dtype == bool else (m != 0).astype(np.uint8)  # (a bool mask read as bytes in place)
    if r <= GROW_KERNEL_MAX:
        # (0s and 1s in, 0s and 1s out: the dilation's bytes are the bools.)
        out[box] = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))).view(bool)
    else:
        out[box] = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= r + 0.25
    return out


GROW_KERNEL_MAX = 8  # px: up to this radius the elliptic kernel is the faster way (it scans the box 2r+1 times)

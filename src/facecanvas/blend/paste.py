"""Paste a canonical-crop result back into the full image through the alignment's exact inverse."""

from __future__ import annotations

import cv2
import numpy as np

from ..analysis.align import AlignTransform


def paste_back(image: np.ndarray, crop: np.ndarray, alpha: np.ndarray, transform: AlignTransform) -> np.ndarray:
    """Blend ``crop`` (size x size x 3) into ``image`` with crop-space ``alpha`` in [0, 1].

    Only the image box under the crop is touched, and only where the warped alpha is > 0, so every
    pixel outside the mask keeps its exact value. Returns the warped alpha over the whole image.
    ``image`` and ``crop`` are uint8 (the rounding below relies on it).
    """
    if image.dtype != np.uint8 or crop.dtype != np.uint8:
        raise ValueError(f"paste_back expects uint8 images, got {image.dtype} and {crop.dtype}")
    full_alpha = np.zeros(image.shape[:2], np.float32)
    box = cv2.boundingRect((alpha > 0).astype(np.uint8))
    if box[2] == 0:
        return full_alpha
    # Only the image box under the alpha's footprint is resampled: a fraction of the whole crop.
    roi = transform.image_roi(image.shape, crop_box=(box[0], box[1], box[0] + box[2], box[1] + box[3]))
    x0, y0, x1, y1 = roi
    if x1 <= x0 or y1 <= y0:
        return full_alpha
    a = transform.unwarp_roi(alpha.astype(np.float32), roi)
    if cv2.countNonZero(a):
        src = transform.unwarp_roi(crop, roi, transform.interpolation)
        dst = image[y0:y1, x0:x1]
        a3 = cv2.merge([a, a, a]) if dst.ndim == 3 else a
        # Where alpha is 0 this is dst * 1 + src * 0: the pixel's exact value, so no masked copy is needed.
        mixed = cv2.add(cv2.multiply(src, a3, dtype=cv2.CV_32F), cv2.multiply(dst, 1 - a3, dtype=cv2.CV_32F))
        dst[...] = cv2.convertScaleAbs(mixed)
    full_alpha[y0:y1, x0:x1] = a
    return full_alpha


def alpha_box(full_alpha: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The box (x0, y0, x1, y1) around the pixels an image-space alpha touches, and the alpha cut to it;
    None when it touches none."""
    ys, xs = np.nonzero(full_alpha > 0)
    if not len(xs):
        return None
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    return (x0, y0, x1, y1), full_alpha[y0:y1, x0:x1]


def paste_crop_edit(image: np.ndarray, face, model_side: int, edit):
    """A learned model's edit of one face, pasted back in place: the face's canonical crop at about its own
    resolution (at least ``model_side``; the model resizes to its side itself), ``edit(crop, points) ->
    (edited crop, crop-space alpha)``, then ``paste_back``. Returns ``alpha_box`` of the paste, or None for
    a face too small to edit."""
    from ..analysis.align import align_face
    from ..eraser import work_size

    if face.interocular < 4:
        return None
    # At about the face's own resolution, so the mask's edge is drawn sharply in the image, not blown
    # up from a small model crop.
    side = work_size(face, min_size=int(model_side), max_size=max(512, int(model_side)))
    t = align_face(face.five_points(), side)
    crop = t.warp(image, cv2.INTER_AREA if t.scale < 1 else cv2.INTER_LINEAR)
    out, alpha = edit(crop, t.to_crop(face.landmarks))
    return alpha_box(paste_back(image, out, alpha.astype(np.float32), t))

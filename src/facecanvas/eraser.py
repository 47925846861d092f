"""The blank-face eraser: detect -> landmarks -> align -> part masks -> fill -> paste back."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .analysis import Face, FaceAnalyzer
from .analysis.align import CANONICAL_POINTS, AlignTransform, align_face
from .blend import paste_back
from .inpaint import inpaint
from .masks import PARTS, face_region, feather, parse_parts, part_masks, union
from .masks.parts import interocular
from .masks.skin import skin_like

_CANONICAL_IOD = float(np.linalg.norm(CANONICAL_POINTS[1] - CANONICAL_POINTS[0]))  # eye distance / crop side


@dataclass
class FaceErase:
    """What was done to one face."""

    face: Face
    transform: AlignTransform
    masks: dict[str, np.ndarray]  # crop-space bool masks per part
    alpha: np.ndarray  # image-space float alpha actually used for the paste


@dataclass
class EraseResult:
    image: np.ndarray  # HxWx3 uint8 BGR
    mask: np.ndarray  # HxW uint8, 255 where any pixel was replaced (the dilated part masks)
    faces: list[FaceErase] = field(default_factory=list)


def work_size(face: Face, min_size: int = 192, max_size: int = 512) -> int:
    """Crop side that keeps the face near its native resolution (so cloned grain stays sharp)."""
    native = face.interocular / _CANONICAL_IOD
    return int(np.clip(round(native / 32) * 32, min_size, max_size))


def erase_face(image: np.ndarray, face: Face, parts=PARTS, method: str = "clone",
               size: int | None = None) -> FaceErase:
    """Erase ``parts`` of one face in ``image`` (HxWx3 uint8 BGR), in place."""
    transform = align_face(face.five_points(), size or work_size(face))
    s = transform.size
    crop = transform.warp(image)
    pts = transform.to_crop(face.landmarks)
    masks = part_masks(pts, (s, s), parse_parts(parts))
    hole = union(masks)
    # Grain comes from face skin away from every part, even the parts that are kept.
    all_parts = union(part_masks(pts, (s, s), PARTS, dilation_scale=1.5))
    source = face_region(pts, (s, s)) & ~all_parts
    known = skin_like(crop, source)
    filled = inpaint(crop, hole, method, source & known, known)
    alpha = paste_back(image, filled, feather(hole, 0.03 * interocular(pts)), transform)
    return FaceErase(face, transform, masks, alpha)


def erase(image: np.ndarray, parts=PARTS, *, analyzer: FaceAnalyzer | None = None,
          faces: list[Face] | None = None, method: str = "clone") -> EraseResult:
    """Remove ``parts`` (brows, eyes, nose, mouth) from every face of an HxWx3 uint8 **BGR** image.

    Pass ``faces`` to reuse an earlier analysis, or an ``analyzer`` to reuse its loaded models.
    The input array is not modified. With no face found, the image comes back unchanged and
    ``faces`` is empty.
    """
    parts = parse_parts(parts)
    if faces is None:
        own = analyzer is None
        analyzer = analyzer or FaceAnalyzer()
        try:
            faces = analyzer.detect(image)
        finally:
            if own:
                analyzer.close()
    out = image.copy()
    done = [erase_face(out, f, parts, method) for f in faces]
    alpha = np.zeros(image.shape[:2], np.float32)
    for d in done:
        np.maximum(alpha, d.alpha, out=alpha)
    mask = np.where(alpha > 0, 255, 0).astype(np.uint8)
    return EraseResult(out, mask, done)


def overlay_masks(image: np.ndarray, mask: np.ndarray, color=(0, 0, 255)) -> np.ndarray:
    """Tint the masked pixels, for previews."""
    tint = np.zeros_like(image)
    tint[:] = color
    m = (mask > 0)[..., None]
    return np.where(m, cv2.addWeighted(image, 0.5, tint, 0.5, 0), image)

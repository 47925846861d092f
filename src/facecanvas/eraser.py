"""The blank-face eraser: detect -> landmarks -> align -> part masks -> fill -> paste back."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .analysis import Face, FaceAnalyzer
from .analysis.align import CANONICAL_POINTS, AlignTransform, align_face
from .analysis.landmark_groups import NOSE_TIP
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
    hole: np.ndarray  # crop-space bool: what was filled (the parts, with the gaps between them closed)
    alpha: np.ndarray  # image-space float alpha actually used for the paste


@dataclass
class EraseResult:
    image: np.ndarray  # HxWx3 uint8 BGR
    mask: np.ndarray  # HxW uint8, 255 where any pixel was replaced (the dilated part masks)
    faces: list[FaceErase] = field(default_factory=list)


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


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
    iod = interocular(pts)
    face_mask = face_region(pts, (s, s))
    # Dilated parts may reach past the outline of a turned face; the background there stays as it is.
    near_face = cv2.dilate(face_mask.astype(np.uint8), _disk(0.06 * iod)).astype(bool)
    masks = {name: m & near_face for name, m in part_masks(pts, (s, s), parse_parts(parts)).items()}
    # Close thin skin bridges between neighbouring parts (eye corner to nose, brow to brow): pinned
    # between two holes, their shadowed pixels would otherwise seed dark streaks in the fill.
    hole = cv2.morphologyEx(union(masks).astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.12 * iod)).astype(bool)
    hole &= near_face
    # Grain comes from face skin away from every part, even the parts that are kept.
    all_parts = union(part_masks(pts, (s, s), PARTS, dilation_scale=1.5))
    source = face_mask & ~all_parts
    # Only skin-coloured pixels of the face set the fill's colour: not hair, glasses or background.
    nose_y = int(pts[NOSE_TIP, 1])
    known = skin_like(crop, source, dark_floor_above=nose_y) & cv2.erode(face_mask.astype(np.uint8), _disk(0.04 * iod)).astype(bool)
    known = cv2.morphologyEx(known.astype(np.uint8), cv2.MORPH_OPEN, _disk(0.02 * iod)).astype(bool)
    filled = inpaint(crop, hole, method, source & known, known)
    alpha = paste_back(image, filled, feather(hole, 0.03 * iod), transform)
    return FaceErase(face, transform, masks, hole, alpha)


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


"""The blank-face eraser: detect -> landmarks -> align -> part masks -> fill -> paste back."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .analysis import Face, FaceAnalyzer
from .analysis.align import CANONICAL_POINTS, AlignTransform, align_face
from .analysis.landmark_groups import NOSE_TIP
from .blend import paste_back
from .inpaint import FillMethod, PlannedFill, get_fill
from .inpaint.fills import CloneFill
from .inpaint.plan_cache import PlanCache
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
    alpha: np.ndarray | None  # image-space float alpha actually used for the paste (None: not pasted)
    crop: np.ndarray  # the aligned crop before the fill (BGR uint8), for effects that paste parts back
    blank: np.ndarray  # the same crop after the fill: the blank face
    crop_alpha: np.ndarray | None = None  # crop-space float alpha of the paste (``alpha`` warped back)


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


# Masks and shading are decided on a crop of at most this side; only the grain is cloned at the face's
# native resolution. Shading is smooth, so this loses nothing visible and saves most of the time.
PLAN_SIZE = 128


# Video and live favour speed: a 256 px working crop is about twice as fast as native size on big faces
# (softer grain). Every video path (erase, effects, live, the benchmark) uses this one value.
VIDEO_CROP = 256


@dataclass(frozen=True)
class EraseSettings:
    """How a face is erased: which parts, by which fill, at which crop size."""

    parts: tuple[str, ...] = PARTS
    fill: FillMethod = field(default_factory=CloneFill)  # get_fill(name) for another method
    size: int | None = None  # side of the crop pasted back (default: the face's native size, 192-max_size)
    max_size: int = 512  # cap on the default size; 256 trades grain sharpness on big faces for speed
    plan_size: int = PLAN_SIZE  # side at which masks and shading are worked out (planned fills only)

    def __post_init__(self):
        object.__setattr__(self, "parts", parse_parts(self.parts))


def blank_face(image: np.ndarray, face: Face, settings: EraseSettings = EraseSettings(),
               plans: PlanCache | None = None, key: Hashable | None = None) -> FaceErase:
    """The blank face of one face of ``image`` (HxWx3 uint8 BGR) as a crop; ``image`` is not touched.

    The result's ``blank`` and ``crop_alpha`` are what ``erase_face`` pastes; effects paste their own
    composite of them instead, so the face is resampled once. ``alpha`` is None (nothing was pasted).
    ``plans`` and ``key`` (video): reuse this face's clone plan from the previous frame (``PlanCache``).
    """
    fill = settings.fill
    # A method with a fixed working scale (the neural model's) decides the crop size itself.
    out_size = fill.crop_size or settings.size or work_size(face, max_size=max(192, settings.max_size))
    planned = isinstance(fill, PlannedFill)
    plan_size = min(settings.plan_size, out_size) if planned else out_size
    points5 = face.five_points()
    plan_tf = align_face(points5, plan_size)
    # A plan crop below the pasted size only carries shading: linear is enough there.
    crop = plan_tf.warp(image, _interpolation(plan_tf, plan_size < out_size))
    hole, masks, source, known, edge, feather_px = _plan_masks(crop, plan_tf.to_crop(face.landmarks), settings.parts)
    if plan_size == out_size:
        out_tf, out_crop = plan_tf, crop
        filled = fill.fill(crop, hole, source, known, edge)
        alpha = feather(hole, feather_px)
    else:
        plan = None if plans is None or key is None else plans.reuse(key, hole)
        if plan is None:
            grown = hole if plans is None or key is None else plans.grow(hole)
            plan = fill.plan(crop, grown, source, known, edge)
            if plans is not None and key is not None:
                plans.store(key, plan, grown)
        out_tf = align_face(points5, out_size)
        out_crop = out_tf.warp(image, _interpolation(out_tf))
        alpha = cv2.resize(feather(hole, feather_px), (out_size, out_size), interpolation=cv2.INTER_LINEAR)
        hole = alpha > 0
        masks = {name: _resize_mask(m, out_size) for name, m in masks.items()}
        filled = fill.render(out_crop, hole, plan)
    return FaceErase(face, out_tf, masks, hole, None, out_crop, filled, alpha)


def erase_face(image: np.ndarray, face: Face, settings: EraseSettings = EraseSettings(),
               plans: PlanCache | None = None, key: Hashable | None = None) -> FaceErase:
    """Erase one face of ``image`` (HxWx3 uint8 BGR) **in place**: ``blank_face`` pasted back.
    The result's ``alpha`` is the image-space alpha of the paste."""
    done = blank_face(image, face, settings, plans, key)
    done.alpha = paste_back(image, done.blank, done.crop_alpha, done.transform)
    return done


def _interpolation(transform: AlignTransform, shading_only: bool = False) -> int:
    return cv2.INTER_LINEAR if shading_only else transform.interpolation


def _plan_masks(crop: np.ndarray, pts: np.ndarray, parts) -> tuple:
    """Hole, per-part masks, grain source, known skin, edge (what the fill's edge may match) and feather
    radius, all in ``crop``'s frame."""
    s = crop.shape[0]
    iod = interocular(pts)
    face_mask = face_region(pts, (s, s))
    # Dilated parts may reach past the outline of a turned face; the background there stays as it is.
    near_face = cv2.dilate(face_mask.astype(np.uint8), _disk(0.06 * iod)).astype(bool)
    every_part = part_masks(pts, (s, s), PARTS)
    masks = {name: every_part[name] & near_face for name in parse_parts(parts)}
    # Close thin skin bridges between neighbouring parts (eye corner to nose, brow to brow): pinned
    # between two holes, their shadowed pixels would otherwise seed dark streaks in the fill.
    hole = cv2.morphologyEx(union(masks).astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.12 * iod)).astype(bool)
    hole &= near_face
    # Grain comes from face skin away from every part, even the parts that are kept.
    all_parts = cv2.dilate(union(every_part).astype(np.uint8), _disk(0.05 * iod)).astype(bool)
    source = face_mask & ~all_parts
    # Only skin-coloured pixels of the face set the fill's colour: not hair, glasses or background.
    nose_y = int(pts[NOSE_TIP, 1])
    known = skin_like(crop, source, dark_floor_above=nose_y) & cv2.erode(face_mask.astype(np.uint8), _disk(0.04 * iod)).astype(bool)
    known = cv2.morphologyEx(known.astype(np.uint8), cv2.MORPH_OPEN, _disk(0.02 * iod)).astype(bool)
    kept = [m for name, m in every_part.items() if name not in masks]
    edge = ~union(kept, (s, s))
    return hole, masks, source & known, known, edge, 0.03 * iod


def _resize_mask(mask: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(mask.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST).astype(bool)


def erase(image: np.ndarray, parts=PARTS, *, analyzer: FaceAnalyzer | None = None,
          faces: list[Face] | None = None, method: str | FillMethod = "clone", max_size: int = 512) -> EraseResult:
    """Remove ``parts`` (brows, eyes, nose, mouth) from every face of an HxWx3 uint8 **BGR** image.

    Pass ``faces`` to reuse an earlier analysis, or an ``analyzer`` to reuse its loaded models.
    ``max_size`` caps the side of the per-face working crop (default 512: native resolution for faces up
    to about 350 px wide); 256 is about twice as fast on big faces, with softer grain.
    ``method``: clone (default), telea, ns or neural (the shipped FaceEraser ONNX model, run at 256 px),
    or a loaded ``FillMethod`` (``inpaint.get_fill("neural")`` loads the model once for many images).
    The input array is not modified. With no face found, the image comes back unchanged and
    ``faces`` is empty.
    """
    if faces is None:
        own = analyzer is None
        analyzer = analyzer or FaceAnalyzer()
        try:
            faces = analyzer.detect(image)
        finally:
            if own:
                analyzer.close()
    settings = EraseSettings(parse_parts(parts), get_fill(method) if faces else CloneFill(), max_size=max_size)
    out = image.copy()
    done = [erase_face(out, f, settings) for f in faces]
    return EraseResult(out, replaced_mask(image.shape, done), done)


def replaced_mask(shape: tuple[int, ...], done: list[FaceErase]) -> np.ndarray:
    """HxW uint8, 255 where any face's paste changed a pixel."""
    mask = np.zeros(shape[:2], np.uint8)
    for d in done:  # OpenCV's compare/or: full-frame numpy passes cost milliseconds at 1080p
        cv2.bitwise_or(mask, cv2.compare(d.alpha, 0, cv2.CMP_GT), dst=mask)
    return mask

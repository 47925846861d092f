"""``apply_effect`` for one photo and ``Effect``, an effect set up once for many images or frames
(``ops/effect`` wraps it as the ``effect`` operation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import Face, FaceAnalyzer
from ..analysis.align import align_face
from ..errors import InputError, NoFaceError
from ..inpaint.plan_cache import PlanCache, track_key
from ..media.image_io import load_image
from .compose import FaceEffect, PartSource, apply_to_face
from .spec import EffectSpec, Resolved, load_effect, parse_effect
from .sticker import StickerImage, load_sticker


@dataclass
class SkippedFace:
    face: Face
    reason: str


@dataclass
class EffectResult:
    image: np.ndarray  # HxWx3 uint8 BGR
    effect: str
    faces: list[FaceEffect] = field(default_factory=list)  # faces that got the effect
    skipped: list[SkippedFace] = field(default_factory=list)  # faces left as they were, and why
    warnings: list[str] = field(default_factory=list)  # the skipped faces' reasons
    notes: list[str] = field(default_factory=list)  # on faces that got the effect (glasses kept over the eyes)


def _face_label(face: Face) -> str:
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    return f"face at ({x0},{y0})-({x1},{y1})"


class _Donor:
    """The donor photo's largest face, aligned on demand at each crop size a target face uses."""

    def __init__(self, bgr: np.ndarray, face: Face):
        self.bgr, self.face = bgr, face
        self._crops: dict[int, PartSource] = {}

    def __call__(self, size: int) -> PartSource:
        if size not in self._crops:
            t = align_face(self.face.five_points(), size)
            self._crops[size] = PartSource(t.warp(self.bgr), t.to_crop(self.face.landmarks))
        return self._crops[size]


def _with_analyzer(analyzer: FaceAnalyzer | None, fn):
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer()
    try:
        return fn(analyzer)
    finally:
        if own:
            analyzer.close()


class Effect:
    """An effect ready to run: parameters resolved, stickers read, donor face found (once).

    ``effect(bgr, faces) -> bgr`` is the per-frame operation; ``effect.apply(bgr, faces)`` gives the
    full ``EffectResult`` (skipped faces, warnings).
    """

    def __init__(self, name_or_spec: str | Path | EffectSpec | dict, *, strength: float = 1.0,
                 donor: str | Path | np.ndarray | None = None, analyzer: FaceAnalyzer | None = None,
                 size: int | None = None, remove_glasses: bool = False, **params: Any):
        if isinstance(name_or_spec, EffectSpec):
            spec = name_or_spec
        elif isinstance(name_or_spec, dict):
            spec = parse_effect(name_or_spec, origin=f"<effect {name_or_spec.get('name', 'dict')}>")
        else:
            spec = load_effect(name_or_spec)
        self.spec = spec
        self.resolved: Resolved = spec.resolve(strength, **params)
        self.size = size
        self.remove_glasses = remove_glasses
        self._plans = PlanCache()  # video: tracked faces reuse the eraser's plan between frames
        self.stickers: dict[Path, StickerImage] = {}
        for i, st in enumerate(self.resolved.stickers):
            if st.image not in self.stickers:
                self.stickers[st.image] = load_sticker(st.image, f"{spec.origin}: sticker[{i}].image")
        self._donor = None
        if self.resolved.needs_donor and self.resolved.strength > 0:
            self._donor = _with_analyzer(analyzer, lambda a: self._find_donor(donor, a))

    @property
    def name(self) -> str:
        return self.spec.name

    def _find_donor(self, donor, analyzer: FaceAnalyzer) -> _Donor:
        donor = donor if donor is not None else self.resolved.donor
        if donor is None:
            raise InputError(f"effect {self.spec.name!r} takes parts from another face: give a donor photo "
                             "(CLI: --donor PHOTO; Python: donor=path or BGR array)")
        label = "donor image" if isinstance(donor, np.ndarray) else f"donor {donor}"
        bgr = donor if isinstance(donor, np.ndarray) else load_image(donor).bgr
        faces = analyzer.detect(bgr)
        if not faces:
            raise NoFaceError(f"{label}: no face found")
        face = faces[0]  # largest
        if abs(face.pose.yaw) > self.resolved.max_yaw:
            raise InputError(f"{label}: the face is turned {abs(face.pose.yaw):.0f} degrees "
                             f"(more than {self.resolved.max_yaw:g}); its parts would not fit a frontal face")
        return _Donor(bgr, face)

    def apply(self, image: np.ndarray, faces: list[Face]) -> EffectResult:
        out = image.copy()
        result = EffectResult(out, self.spec.name)
        if self.resolved.strength == 0:
            return result
        for face in faces:
            yaw = face.pose.yaw
            if abs(yaw) > self.resolved.max_yaw:
                reason = (f"turned {abs(yaw):.0f} degrees (yaw), beyond the {self.resolved.max_yaw:g}-degree "
                          f"limit of {self.spec.name}; left unchanged")
                result.skipped.append(SkippedFace(face, reason))
                result.warnings.append(f"{_face_label(face)}: {reason}")
                continue
            done = apply_to_face(out, face, self.resolved, self.stickers, self._donor, self.size, self._plans,
                                 remove_glasses=self.remove_glasses)
            result.faces.append(done)
            result.notes += [f"{_face_label(face)}: {n}" for n in done.notes]
        self._plans.keep_only(track_key(f) for f in faces)
        return result

    def __call__(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.apply(image, faces).image

    def reset(self) -> None:
        """Forget the tracked faces' eraser plans (a new video or scene)."""
        self._plans = PlanCache()


def apply_effect(image: np.ndarray, name_or_spec: str | Path | EffectSpec | dict, *,
                 faces: list[Face] | None = None, analyzer: FaceAnalyzer | None = None,
                 strength: float = 1.0, donor: str | Path | np.ndarray | None = None,
                 size: int | None = None, **params: Any) -> EffectResult:
    """Apply an AR effect to every face of an HxWx3 uint8 **BGR** image.

    ``name_or_spec``: a built-in name (``facecanvas effects`` lists them), the path of an effect
    ``.toml`` file, a loaded ``EffectSpec`` or a dict in the same format. ``strength``: 0 = unchanged,
    1 = the effect as written, up to 2 to exaggerate. ``params``: the effect's own parameters
    (e.g. ``mouth_scale=1.8`` for comic). ``donor``: a photo (path or BGR array) whose face gives the
    parts for ``source = "donor"`` pastes. ``size``: the aligned crop side (default: the eraser's,
    near the face's own resolution; 256 is faster). The input array is not modified.
    """
    def make(a: FaceAnalyzer | None) -> Effect:
        return Effect(name_or_spec, strength=strength, donor=donor, analyzer=a, size=size, **params)

    if faces is not None:
        return make(analyzer).apply(image, faces)
    return _with_analyzer(analyzer, lambda a: make(a).apply(image, a.detect(image)))

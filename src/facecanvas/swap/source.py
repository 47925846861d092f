"""The identity to put on target faces: ``SourceFace``, prepared once from one or several photos.

    src = SourceFace.from_paths(["anna.jpg", "anna2.jpg"])   # each photo: its one face
    src = SourceFace.from_image(bgr)                         # an array (its largest face)

Each photo must show one person: a photo with no face is a ``NoFaceError`` (exit 3), one with several
faces of similar size an ``InputError`` (exit 2), both naming the file. Tight crops (a face filling
the picture, e.g. 112 px ArcFace crops) are enlarged and framed before detection, as the identity
module does (``pad_for_detection``).

With several photos, the texture comes from the best one (``quality``: large, frontal, sharp) and the
SFace embeddings of all of them are averaged (``embedding``, for reports and the learned model).
Everything a frame needs (the canonical texture crop and its pyramid, the mesh in the crop's frame, the
skin colour statistics) is computed here, once, never per frame.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..analysis.align import align_face
from ..analysis.face import Face
from ..errors import InputError, NoFaceError
from .color import LabStats, lab_stats, skin_mask

TEXTURE_SIZE = 512  # side of the canonical source crop (the whole head)
SECOND_FACE = 0.45  # a second face at least this fraction of the largest's size: "several faces"


def split_sources(spec) -> list[str]:
    """"a.jpg,b.jpg" / "a.jpg:b.jpg" (os.pathsep) / a list -> paths. A comma inside a file name that
    exists as given is kept."""
    if isinstance(spec, (list, tuple)):
        out = []
        for s in spec:
            out.extend(split_sources(s))
        return out
    spec = str(spec).strip()
    if not spec:
        return []
    if Path(spec).exists():
        return [spec]
    parts = [p.strip() for p in re.split("[," + re.escape(os.pathsep) + "]", spec)]
    return [p for p in parts if p]


def quality(bgr: np.ndarray, face: Face) -> float:
    """How good a texture this face makes: size (up to 256 px), frontality, sharpness."""
    size = min(face.detection.size, 256.0) / 256.0
    frontal = math.cos(math.radians(min(abs(face.pose.yaw), 80))) * math.cos(math.radians(min(abs(face.pose.pitch), 80)))
    t = align_face(face.five_points(), 128)
    gray = cv2.cvtColor(t.warp(bgr, cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    sharp = min(1.0, float(cv2.Laplacian(gray, cv2.CV_32F)[32:96, 32:96].var()) / 200.0)
    return float(size * frontal ** 2 * (0.5 + 0.5 * sharp))


def _detect_one(bgr: np.ndarray, analyzer, name: str) -> tuple[np.ndarray, Face]:
    """(the image detection ran on, its one face); tight crops are padded first."""
    from ..analysis.identity import is_tight, pad_for_detection

    faces = analyzer.detect(bgr)
    if is_tight(bgr, faces):
        padded = pad_for_detection(bgr, 0.5)
        pf = analyzer.detect(padded)
        if pf or not faces:
            bgr, faces = padded, pf
    if not faces:
        raise NoFaceError(f"{name}: no face found in the source photo")
    faces = sorted(faces, key=lambda f: -f.detection.size)
    if len(faces) > 1 and faces[1].detection.size >= SECOND_FACE * faces[0].detection.size:
        raise InputError(f"{name}: {len(faces)} faces in the source photo; give a photo of one person "
                         "(crop it to the face you want)")
    return bgr, faces[0]


@dataclass
class SourceFace:
    """A prepared source identity. ``texture``: canonical crop (TEXTURE_SIZE); ``points``: (478, 3) mesh in
    that crop's pixels; ``levels``: the texture and its half-size copies (for small targets)."""

    texture: np.ndarray
    points: np.ndarray
    skin: LabStats
    name: str = "source"
    embedding: np.ndarray | None = None  # mean unit SFace vector of every photo given
    photos: int = 1
    face: Face | None = None  # the chosen face, in ``image``'s pixels
    image: np.ndarray | None = None  # the photo (padded when it was a tight crop) the texture came from
    levels: list[np.ndarray] = field(default_factory=list)
    occluded: np.ndarray | None = None  # float32 0..1 over the texture: the source's face covered (parser)
    # The identity's own mesh where it differs from the mesh the texture lies on (a synthetic identity:
    # its texture is on the model's mean mesh, its shape is sampled); None: ``points``.
    shape: np.ndarray | None = None
    _occ_levels: list[np.ndarray] = field(default_factory=list, repr=False)

    def occluded_level(self, level_scale: float) -> np.ndarray:
        """``occluded`` at the pyramid level of scale ``level_scale`` (as ``level_for`` returned)."""
        if not self._occ_levels:
            self._occ_levels = [self.occluded]
            while len(self._occ_levels) < len(self.levels):
                self._occ_levels.append(cv2.pyrDown(self._occ_levels[-1]))
        k = int(round(-math.log2(level_scale)))
        return self._occ_levels[min(k, len(self._occ_levels) - 1)]

    @classmethod
    def from_face(cls, bgr: np.ndarray, face: Face, name: str = "source", size: int = TEXTURE_SIZE) -> "SourceFace":
        t = align_face(face.five_points(), size)
        tex = t.warp(bgr, cv2.INTER_CUBIC if t.scale > 1 else cv2.INTER_AREA, exact=True)  # (once per source)
        pts = np.zeros((len(face.landmarks), 3), np.float32)
        pts[:, :2] = t.to_crop(face.landmarks[:, :2])
        pts[:, 2] = face.landmarks[:, 2] * t.scale
        skin = lab_stats(tex, skin_mask(pts, tex.shape))
        if skin is None:
            raise NoFaceError(f"{name}: the source face is too small to use")
        occ = source_occluders(bgr, face, t)
        if occ is not None:
            tex, occ = complete_cheeks(tex, pts, occ)
        fill = source_fill(bgr, t)
        if fill is not None:
            occ = fill if occ is None else np.maximum(occ, fill)
        if EDGE_SHADOW:
            dark = edge_shadow(tex, pts, skin)
            if dark is not None:
                occ = dark if occ is None else np.maximum(occ, dark)
        levels = [tex]
        while levels[-1].shape[0] > 64:
            levels.append(cv2.pyrDown(levels[-1]))
        return cls(tex, pts, skin, name, face=face, image=bgr, levels=levels, occluded=occ)

    @classmethod
    def from_image(cls, bgr: np.ndarray, analyzer=None, name: str = "source", embed: bool = True) -> "SourceFace":
        if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise InputError(f"{name}: expected an HxWx3 uint8 BGR image")
        with _analyzer(analyzer) as a:
            img, face = _detect_one(bgr, a, name)
        src = cls.from_face(img, face, name)
        if embed:
            src.embedding = _embed([(img, face)])
        return src

    @classmethod
    def from_paths(cls, paths, analyzer=None, embed: bool = True) -> "SourceFace":
        from ..media.image_io import load_image

        paths = split_sources(paths)
        if not paths:
            raise InputError("--source: give at least one photo of the person to put on the faces")
        found = []
        with _analyzer(analyzer) as a:
            for p in paths:
                img = load_image(p)  # InputError naming the file when unreadable
                bgr = img.bgr if img.bgr.ndim == 3 else cv2.cvtColor(img.bgr, cv2.COLOR_GRAY2BGR)
                found.append((p,) + _detect_one(bgr, a, str(p)))
        best = max(found, key=lambda f: quality(f[1], f[2]))
        name = str(best[0]) if len(found) == 1 else f"{best[0]} (+{len(found) - 1} more)"
        src = cls.from_face(best[1], best[2], name)
        src.photos = len(found)
        if embed:
            src.embedding = _embed([(b, f) for _, b, f in found])
        return src

    def level_for(self, scale: float, upsample: float = 1.3) -> tuple[np.ndarray, float]:
        """The pyramid level to sample when the texture shrinks by ``scale`` (target px per texture px),
        and that level's scale relative to the full texture: the smallest level that needs upsampling
        by at most ``upsample`` (1: never upsampled, the sharpest without aliasing much)."""
        k = 0
        while k + 1 < len(self.levels) and scale < 0.5 ** (k + 1) * upsample:
            k += 1
        return self.levels[k], 0.5 ** k


def source_fill(bgr: np.ndarray, t) -> np.ndarray | None:
    """float32 over the texture crop: where it holds no photo: beyond the photo's edge (the crop
    replicates the border there) or in a flat black or grey fill that touches the photo's edge (the
    black corners of an aligned crop, the grey frame ``pad_for_detection`` adds). The swap treats it
    like an occluder of the source: the target's own face stays there instead of a dark patch.
    None when there is none."""
    h, w = bgr.shape[:2]
    small = bgr.astype(np.int16)
    flat = (cv2.dilate(bgr, np.ones((3, 3), np.uint8)).astype(np.int16) - cv2.erode(bgr, np.ones((3, 3), np.uint8))
            ).max(2) <= 3
    black = small.max(2) <= 10
    grey = (np.abs(small - 127) <= 3).all(2)
    fill = np.zeros((h, w), np.uint8)
    reach = np.zeros((h, w), np.uint8)  # the photo's edge, then every fill found: a black corner inside a grey frame
    reach[[0, -1], :] = reach[:, [0, -1]] = 1
    gap = 2 * max(2, round(0.01 * max(h, w))) + 1  # a resampled edge between two fills is not flat
    for _ in range(2):
        for cand in (flat & grey, flat & black):
            n, ids, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
            touch = set(np.unique(ids[cv2.dilate(reach, np.ones((gap, gap), np.uint8)) > 0])) - {0}
            big = [i for i in touch if stats[i, cv2.CC_STAT_AREA] >= 0.002 * h * w]
            if big:
                fill |= np.isin(ids, big).astype(np.uint8)
        reach = reach | fill
    inside = cv2.warpAffine(np.full((h, w), 255, np.uint8), t.matrix, (t.size, t.size), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = (cv2.warpAffine(fill * 255, t.matrix, (t.size, t.size), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0) | (inside == 0)
    if not out.any():
        return None
    r = max(1, t.size // 100)  # a little past the fill: its edge is a blend of photo and fill
    out = cv2.dilate(out.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return cv2.GaussianBlur(out.astype(np.float32), (0, 0), t.size / 200)


EDGE_SHADOW = 2.5  # robust deviations darker than the skin (None: off), see edge_shadow


def edge_shadow(tex: np.ndarray, pts: np.ndarray, skin, band: float = 0.25) -> np.ndarray | None:
    """float32 over the texture: the source photo's own deep shadow along its face oval (under the chin,
    at a side-lit jaw), within ``band`` eye distances of the oval's edge and more than EDGE_SHADOW robust
    deviations darker than its skin. The mesh maps that band onto the target's (often lit, and lower)
    chin and jaw, where it showed as a dark beard-like patch; there the target's own face shows instead."""
    from ..analysis import landmark_groups as lg

    p = np.asarray(pts, np.float64)[:, :2]
    iod = float(np.linalg.norm(p[lg.LEFT_IRIS[0]] - p[lg.RIGHT_IRIS[0]])) or 1.0
    oval = np.zeros(tex.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(p[list(lg.FACE_OVAL)]).astype(np.int32)], 1)
    depth = cv2.distanceTransform(oval, cv2.DIST_L2, 3)
    near = (oval > 0) & (depth < band * iod)
    if skin is None or not near.any():
        return None
    lum = cv2.cvtColor(tex, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    cut = skin.mean[0] - EDGE_SHADOW * max(float(skin.std[0]), 6.0)
    dark = (near & (cv2.GaussianBlur(lum, (0, 0), max(1.0, 0.03 * iod)) < cut)).astype(np.float32)
    if dark.sum() < 0.002 * oval.sum():
        return None
    return cv2.GaussianBlur(dark, (0, 0), max(1.0, 0.04 * iod))


CHEEK_PARTS_MARGIN = 0.12  # eye distances round the parts' landmark hulls that are never completed


def complete_cheeks(tex: np.ndarray, pts: np.ndarray, occ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(texture, occluded): where the source's cheeks, temples, jaw or forehead are covered (hair falling
    over the face, a fringe, a hand), the texture is completed with the source's own skin (the eraser's clone fill: shading
    from the skin around, real grain cloned from it) and no longer counts as covered. Left covered, the
    target's own skin showed there, in its own tone, as a pale or dark patch with a hard edge. The parts
    and a margin round them stay covered: a brow or an eye is identity, and is not made up."""
    from ..inpaint.methods import plan_clone, render_clone
    from ..masks import PARTS, face_region, part_masks
    from ..masks.parts import interocular

    s = tex.shape[0]
    p = np.asarray(pts, np.float64)[:, :2]
    iod = interocular(p)
    oval = face_region(p, (s, s))
    parts = np.any(list(part_masks(p, (s, s), PARTS, dilation_scale=0.0).values()), axis=0).astype(np.uint8)
    r = max(1, int(round(CHEEK_PARTS_MARGIN * iod)))
    parts = cv2.dilate(parts, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    hole = (occ > 0.5) & oval & ~parts
    if hole.sum() < 0.002 * oval.sum():
        return tex, occ
    known = oval & (occ < 0.1) & ~parts
    if known.sum() < 4 * hole.sum() // 10:  # too little skin left to take its tone and grain from
        return tex, occ
    # Planned at a quarter of the side (the shading is smooth), the grain cloned at full size.
    hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    q = (s // 4, s // 4)
    small = lambda m: cv2.resize(m.astype(np.uint8), q, interpolation=cv2.INTER_NEAREST) > 0  # noqa: E731
    plan = plan_clone(cv2.resize(tex, q, interpolation=cv2.INTER_AREA), small(hole), small(known), small(known))
    filled = render_clone(tex, hole, plan)
    done = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), max(1.0, 0.02 * iod))
    return filled, (occ * (1 - np.clip(2 * done, 0, 1))).astype(np.float32)


def source_occluders(bgr: np.ndarray, face: Face, t) -> np.ndarray | None:
    """float32 over the texture crop: how likely each pixel is covered (hair, glasses, a hat, an object),
    from the learned face parser; None when it is not installed. Only what covers the face proper
    counts (the oval, slightly shrunk): the hair around the head is outside every blend region anyway."""
    from .compose import _face_parser

    parser = _face_parser()
    if parser is None:
        return None
    from ..analysis import landmark_groups as lg
    from ..masks import face_parser as fp

    pt = align_face(face.five_points(), parser.input_size)
    logits = parser.logits(pt.warp(bgr, cv2.INTER_AREA if pt.scale < 1 else cv2.INTER_LINEAR))
    logits -= logits.max(2, keepdims=True)
    e = np.exp(logits)
    from .compose import PARSER_CONFIDENCE, occluder_classes

    total = e.sum(-1)
    occ = e[..., occluder_classes(fp, e[..., fp.GLASSES] / total)].sum(-1) / total
    occ = np.clip((occ - PARSER_CONFIDENCE) / 0.25, 0, 1)
    size = t.size
    up = cv2.resize(occ.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    oval = np.zeros((size, size), np.uint8)
    cv2.fillPoly(oval, [np.round(t.to_crop(face.landmarks[list(lg.FACE_OVAL), :2])).astype(np.int32)], 1)
    up *= oval
    return cv2.GaussianBlur(up, (0, 0), size / 200)


def as_source(source, analyzer=None) -> SourceFace:
    """A SourceFace from a path, a list of paths, a BGR array or a SourceFace."""
    if isinstance(source, SourceFace):
        return source
    if isinstance(source, np.ndarray):
        return SourceFace.from_image(source, analyzer)
    return SourceFace.from_paths(source, analyzer)


def _embed(items) -> np.ndarray | None:
    try:
        from ..analysis.identity import SFaceEmbedder

        emb = SFaceEmbedder()
    except Exception:  # noqa: BLE001 - no recognizer installed: embeddings are optional
        return None
    v = np.mean([emb.embed(b, f) for b, f in items], axis=0)
    return (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)


class _analyzer:
    """The caller's analyzer, or one of our own for the duration of a with-block."""

    def __init__(self, analyzer):
        self.given, self.own = analyzer, None

    def __enter__(self):
        if self.given is not None:
            return self.given
        from ..analysis import FaceAnalyzer

        self.own = FaceAnalyzer()
        return self.own

    def __exit__(self, *exc):
        if self.own is not None:
            self.own.close()

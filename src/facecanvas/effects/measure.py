"""Measurements of an effect's output: seam visibility, and the face's parts found again in the pixels.

``seam_score``: the gradient across the paste boundaries against the same face's natural skin
gradients (1 = like skin; a visible seam is a line of much stronger gradients).

``find_part`` / ``find_eyes``: the face mesh re-detected on the output says where to look, and template
matching (normalised cross-correlation over a range of scales) of the face's own original parts says
what is there and at what size. The mesh alone cannot measure it: it is a statistical shape model that
pulls exaggerated features back towards an average face (a 1.5x mouth reads as about 1.3x, and a
one-eyed face still gets two eyes).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis import Face
from ..analysis import landmark_groups as lg
from ..analysis.align import align_face
from ..masks import face_region, part_masks, union
from ..masks.parts import interocular
from ..masks.skin import skin_like
from .compose import FaceEffect

_CROP = 256


def _luma_gradient(bgr: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    lum = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    lum = cv2.GaussianBlur(lum, (0, 0), sigma)
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3) / 8
    return np.hypot(gx, gy)


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(mask.astype(np.uint8), k).astype(bool)


@dataclass(frozen=True)
class SeamScore:
    boundary_p50: float  # luma gradient (levels per pixel, at the crop's scale) on the paste boundaries
    boundary_p90: float
    skin_p50: float  # the same on the face's own skin, away from every part, in the input
    skin_p90: float

    @property
    def ratio(self) -> float:
        """Median boundary gradient / median skin gradient: near 1 when the seams are invisible.

        The median, because a seam is a line all along the border, while the features a border
        crosses (a lash, a nostril's shadow, a glasses frame) are a few places on it."""
        return self.boundary_p50 / max(self.skin_p50, 1e-6)


def seam_score(original: np.ndarray, output: np.ndarray, done: FaceEffect) -> SeamScore | None:
    """How visible the paste boundaries of one face are. None if nothing was pasted.

    Both images are looked at through the face's own aligned crop, so the score does not depend on
    the face's size in the photo."""
    t = done.transform
    s = t.size
    pts = t.to_crop(done.face.landmarks)
    iod = interocular(pts)
    face = _erode(face_region(pts, (s, s)), max(1, int(0.05 * iod)))
    band = np.zeros((s, s), bool)
    near_hole = cv2.dilate(done.hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    for i, region in enumerate(done.regions):
        edge = region & ~_erode(region, 1)
        if i < len(done.unchanged) and done.unchanged[i]:
            edge &= near_hole  # a part put back where it was meets the original outside the hole: no seam
        for later in done.regions[i + 1:]:  # a border painted over by a later part is not visible
            edge &= ~_erode(later, 2)
        band |= edge
    band &= face
    if band.sum() < 10:
        return None
    g_out = _luma_gradient(t.warp(output))
    src = t.warp(original)
    skin = face & ~union(part_masks(pts, (s, s), dilation_scale=1.5))
    skin &= skin_like(src, skin)
    g_in = _luma_gradient(src)[skin]
    g_b = g_out[band]
    return SeamScore(float(np.percentile(g_b, 50)), float(np.percentile(g_b, 90)),
                     float(np.percentile(g_in, 50)), float(np.percentile(g_in, 90)))


# ----------------------------------------------------------------------------------------- features

@dataclass(frozen=True)
class Match:
    scale: float  # size of the found part relative to the original part
    score: float  # normalised cross-correlation, 1 = identical
    position: np.ndarray  # where its centre was found, in the original face's crop (pixels)
    iod: float  # the crop's eye distance, for reading positions in interocular units


def _gray(crop: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _template(crop: np.ndarray, pts: np.ndarray, group: tuple[int, ...], margin: float) -> np.ndarray:
    p = pts[list(group), :2]
    x0, y0 = np.floor(p.min(0) - margin).astype(int)
    x1, y1 = np.ceil(p.max(0) + margin).astype(int)
    return _gray(crop)[max(0, y0):y1, max(0, x0):x1]


def _best_over_scales(image: np.ndarray, template: np.ndarray, scales) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of ``image``: the best NCC over ``scales`` and the scale that gave it (centre-aligned)."""
    h, w = image.shape
    best = np.full((h, w), -1.0, np.float32)
    arg = np.ones((h, w), np.float32)
    for s in scales:
        t = cv2.resize(template, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        th, tw = t.shape
        if th >= h or tw >= w or th < 4 or tw < 4 or t.std() < 1e-3:
            continue
        r = cv2.matchTemplate(image, t, cv2.TM_CCOEFF_NORMED)
        full = np.full((h, w), -1.0, np.float32)
        full[th // 2:th // 2 + r.shape[0], tw // 2:tw // 2 + r.shape[1]] = r
        better = full > best
        best[better] = full[better]
        arg[better] = s
    return best, arg


_MOUTH = lg.LIPS
_EYES = {"right_eye": lg.RIGHT_EYE[:16], "left_eye": lg.LEFT_EYE[:16]}


_CORNERS = {"mouth": (61, 291), "right_eye": (33, 133), "left_eye": (362, 263)}


def mesh_scale(before: Face, after: Face, part: str) -> float:
    """The part's width change as the re-detected mesh reads it (biased towards 1 for big changes)."""
    a, b = _CORNERS[part]
    return float(np.linalg.norm(after.landmarks[a, :2] - after.landmarks[b, :2]) /
                 np.linalg.norm(before.landmarks[a, :2] - before.landmarks[b, :2]))


def find_part(original: np.ndarray, output: np.ndarray, before: Face, after: Face, part: str,
              scales=None, reach: float = 0.35, template_from: tuple[np.ndarray, Face] | None = None) -> Match:
    """Find the original ``part`` ("mouth", "right_eye", "left_eye") in ``output`` and its scale.

    ``after`` (the face re-detected on the output) says where to look: within ``reach`` interocular
    units of where its mesh puts the part, at scales from 0.7x to 1.5x of the mesh's own reading of
    the change (the mesh under-reads it; a free search can lock onto half a lip). Both images are read
    through ``before``'s alignment (the head itself has not moved), so the scale found is the part's
    size change. ``template_from`` (image, face): take the part from another photo's face instead
    (a transplant's donor), aligned the same way."""
    t = align_face(before.five_points(), _CROP)
    pts0 = t.to_crop(before.landmarks)
    pts1 = t.to_crop(after.landmarks)
    iod = interocular(pts0)
    if scales is None:
        m = mesh_scale(before, after, part)
        scales = np.arange(0.7 * m, 1.5 * m + 1e-6, 0.02)
    group = _MOUTH if part == "mouth" else _EYES[part]
    if template_from is None:
        tmpl = _template(t.warp(original), pts0, group, 0.04 * iod)
    else:
        img, face = template_from
        td = align_face(face.five_points(), _CROP)
        tmpl = _template(td.warp(img), td.to_crop(face.landmarks), group, 0.04 * iod)
    out = _gray(t.warp(output))
    best, arg = _best_over_scales(out, tmpl, scales)
    where = np.zeros_like(best, bool)
    c = pts1[list(group), :2].mean(0)
    yy, xx = np.mgrid[:best.shape[0], :best.shape[1]]
    where = np.hypot(xx - c[0], yy - c[1]) < reach * iod
    masked = np.where(where, best, -1.0)
    y, x = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return Match(float(arg[y, x]), float(masked[y, x]), np.array([x, y], np.float64), iod)


def find_eyes(original: np.ndarray, output: np.ndarray, before: Face, after: Face,
              threshold: float = 0.75, scales=np.arange(0.8, 1.55, 0.05),
              min_contrast: float = 0.5) -> list[Match]:
    """Every place along the eye line where one of the face's own eyes (at ``scales``) is found.

    The eye line and the face's width come from the face re-detected on the output; the templates are
    the face's two eyes in the original. Found eyes are returned image-left first; their positions are
    in ``before``'s crop."""
    t = align_face(before.five_points(), _CROP)
    pts0 = t.to_crop(before.landmarks)
    pts1 = t.to_crop(after.landmarks)
    iod = interocular(pts0)
    src = t.warp(original)
    out = _gray(t.warp(output))
    best = np.full(out.shape, -1.0, np.float32)
    arg = np.ones(out.shape, np.float32)
    for group in _EYES.values():
        b, a = _best_over_scales(out, _template(src, pts0, group, 0.04 * iod), scales)
        better = b > best
        best[better], arg[better] = b[better], a[better]
    eye_y = pts1[[lg.RIGHT_IRIS[0], lg.LEFT_IRIS[0]], 1].mean()
    # Away from the outline: hair and ears at the temples are not eyes.
    face = _erode(face_region(pts1, out.shape), max(1, int(0.2 * iod)))
    band = np.zeros(out.shape, bool)
    band[max(0, int(eye_y - 0.35 * iod)):int(eye_y + 0.3 * iod)] = True
    resp = np.where(band & face, best, -1.0)
    tmpl_std = np.mean([_template(src, pts0, g, 0.04 * iod).std() for g in _EYES.values()])
    found: list[Match] = []
    # Greedy peaks: take the best, blank out an eye's width around it, repeat.
    while True:
        y, x = np.unravel_index(int(np.argmax(resp)), resp.shape)
        if resp[y, x] < threshold:
            break
        # Correlation ignores contrast, so a smooth shading ramp on blank skin can look like an eye;
        # an eye also has an eye's contrast.
        r = max(2, int(0.2 * iod * arg[y, x]))
        patch = out[max(0, y - r):y + r + 1, max(0, x - 2 * r):x + 2 * r + 1]
        if patch.std() >= min_contrast * tmpl_std:
            found.append(Match(float(arg[y, x]), float(resp[y, x]), np.array([x, y], np.float64), iod))
            resp[:, max(0, int(x - 0.5 * iod)):int(x + 0.5 * iod) + 1] = -1.0
        else:
            resp[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = -1.0
    return sorted(found, key=lambda m: m.position[0])


def inner_spread(face: Face) -> float:
    """RMS distance of the brows, eyes, nose and lips landmarks from their centroid (image pixels)."""
    idx = list(lg.LEFT_BROW + lg.RIGHT_BROW + lg.LEFT_EYE[:16] + lg.RIGHT_EYE[:16] + lg.NOSE + lg.LIPS)
    p = face.landmarks[idx, :2].astype(np.float64)
    return float(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()))


def nose_position(face: Face, before: Face) -> np.ndarray:
    """The nose tip of ``face`` in ``before``'s crop (for checking where a found eye sits)."""
    t = align_face(before.five_points(), _CROP)
    return t.to_crop(face.landmarks[lg.NOSE_TIP:lg.NOSE_TIP + 1])[0]

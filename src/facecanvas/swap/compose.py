"""One face swapped: the source texture on the target's mesh, recoloured, blended, occluders on top.

``swap_face(out, face, source, settings, state)`` edits ``out`` in place, inside the face's box only:

1. geometry: the target's 468-point mesh, optionally moved towards the source's own shape
   (``settings.shape``: the source mesh brought into the target's pose by a 3D similarity; eyes and
   the lips' opening and corners move only as rigid wholes (the outer lip line may follow the source:
   ``lip_shape``) and the face outline stays put, so gaze, lid and lip articulation and pose stay the
   target's);
2. texture: the source's canonical crop warped piecewise-affinely onto that mesh (triangle raster,
   nearer triangles on top; a pyramid level near the target's scale, so small faces do not alias);
   the eye openings, which MediaPipe's tesselation leaves empty, get a fan from each iris centre
   (``eye_fans``), so the source's eyeballs sit in the target's lids with the target's gaze; where the
   source shows a part of the face badly (turned away, beyond its photo) the target stays;
3. colour: LAB mean/std transfer from the source's skin to the target's (skin pixels only);
4. the target's own open inner mouth (and, with ``keep_eyes``, its eye interiors) go back in;
5. seamless blend: the difference to the target on the blend region's border is spread over the
   region as a harmonic membrane (Poisson blending's correction, solved at low resolution), then a
   feathered alpha; the region is the face oval minus a margin, so nothing outside it changes. Only
   border pixels that are skin in the target and in the swap give the membrane values (``skin_ring``);
   elsewhere it is held at 0 and the alpha ramps in over a wider band, so hair, background or a collar
   at a tight crop's edge no longer lift or darken the whole face;
6. occluders (hands, hair, glasses, a microphone) stay on top: from the learned face parser when its
   model is installed, else from where the target differs grossly from the recoloured source at a
   coarse scale (``occluder_mask``; see its note for what that heuristic can and cannot see).

``naive_swap_face`` is the baseline: the source crop put on the target by a 5-point similarity and
Poisson-blended inside the target's face oval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..analysis import landmark_groups as lg
from ..analysis.align import fit_similarity
from ..analysis.face import Face
from ..blend.poisson import membrane, poisson_blend
from ..masks.parts import feather, mask_box
from .color import LabStats, lab_stats, skin_mask, transfer
from .mesh_warp import MESH_POINTS, PiecewiseWarp, remap, triangles
from .source import SourceFace

# Lid margins (the visible eyeball) and the lips' inner edge (teeth, tongue): kept from the target.
RIGHT_EYE_OPENING = lg.RIGHT_EYE[:16]
LEFT_EYE_OPENING = lg.LEFT_EYE[:16]
_RIGHT_EYE_ALL = tuple(lg.RIGHT_EYE) + tuple(lg.RIGHT_IRIS)
_LEFT_EYE_ALL = tuple(lg.LEFT_EYE) + tuple(lg.LEFT_IRIS)
_LIPS_ALL = tuple(lg.LIPS) + tuple(lg.INNER_LIPS)
OCCLUSION = ("auto", "parser", "heuristic", "off")


@dataclass(frozen=True)
class SwapSettings:
    """The mesh swap's parameters. The defaults were chosen on the development people of ``facecanvas
    eval swap --split dev`` (SFace retrieval, pose and expression error; dlib is never looked at there):
    the source's own eyeballs, the blend region out to the face oval with a short ramp and the source's
    lip thickness each gave SFace identity at little pose or expression cost (docs in README "Face swap")."""

    shape: float = 0.5  # 0: the target's mesh; 1: the source's shape in the target's pose
    blend: float = 1.0  # 1: the full swap; lower mixes the target back in
    color: float = 1.0  # strength of the LAB colour transfer
    margin: float = 0.0  # the blend region stops this fraction of the eye distance inside the oval
    feather: float = 0.015  # alpha ramp width, fraction of the eye distance
    occlusion: str = "auto"
    glasses: bool = True  # glasses the parser sees as a pair stay on top (False: the swap goes over them)
    occluder_threshold: float = 6.0  # chroma distance from the target's skin (robust deviations): an occluder
    keep_eyes: bool = False  # True: the target's eyeballs; False: the source's, warped into the target's lids
    # with its iris centre on the target's (eye_fans: the target's gaze and lid opening stay)
    keep_mouth: bool = True  # the target's open inner mouth (teeth, tongue)
    lip_shape: bool = True  # the outer lip line (not the corners, not the inner edge) follows the source's shape
    foreshortened: float = 0.2  # triangles the source shows this much smaller than the rest (turned away,
    # cut by the photo's edge) fade to the target; 0: off
    texture_level: float = 1.3  # the source pyramid level may be upsampled up to this factor (1: never)
    max_side: int = 512  # the largest face box worked on at full resolution (video: 256)
    parser_every: int = 1  # along a track, run the face parser every N frames (video: 3)
    shading: float = 0.0  # the target's large-scale lighting on the swap's skin: blur sigma in eye distances (0: off)
    soft_edge: float = 0.08  # where the border is not skin on both sides, the alpha ramp's width (eye distances)
    chroma_gain: float = 1.6  # the colour transfer's largest chroma std gain (color.transfer)
    # ... and its largest lightness std gain. 1: the source's shadows and blotches are never deepened (a
    # synthetic texture's dark eye sockets and hairline traces were; dev people, SFace top-1 0.958 both,
    # pose 3.06 -> 2.90 deg, expression 2.13 -> 2.06, tone shift 4.42 -> 4.15; 0.8 lost a pair of SFace)
    light_gain: float = 1.0
    # The colour transfer's chroma model (color.transfer): shift (Reinhard's) or scale (about grey; the swap's,
    # ops/swap SWAP_CHROMA). Deid keeps the shift: on its development people (SFace, 4 keys) scale gave rank-1
    # 0.367 -> 0.375, pose 2.485 -> 2.491 deg, expression 1.788 -> 1.783, tone 2.87 -> 2.90, the rest equal,
    # and its 32-face sheet no better (a synthetic texture has no warm cast of its own to undo).
    chroma: str = "shift"
    skin_ring: bool = True  # the membrane sees only border pixels that are skin on both sides (skin_ring)
    forehead: float = 1.0  # share of the forehead's height above the brows swapped in full; above it the
    # swap fades out to the target at the face's top edge (1: no fade)
    top_feather: float = 0.08  # the alpha ramp's width along the region's edge above the brows (eye distances)


@dataclass
class TrackState:
    """What a track carries between frames: the target's skin colour, averaged (no flicker)."""

    skin: LabStats | None = None
    parser_occ: np.ndarray | None = None  # the parser's occluders in the canonical frame
    parser_skin: np.ndarray | None = None  # its face-skin probability, the same frame
    parser_age: int = 0  # frames since they were computed
    parser_glasses: bool = True  # whether glasses counted as occluders in parser_occ
    glasses: bool = False  # the parser saw a pair of see-through glasses on the face (its last run)


@dataclass
class SwapInfo:
    box: tuple[int, int, int, int]
    alpha: np.ndarray  # float32 over ``box``: how much of each pixel is the swap
    occluder: np.ndarray | None = None  # float32 over ``box``
    timings: dict = field(default_factory=dict)


def _umeyama3(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (scale, R, t) with dst ~ scale * R @ src + t for (N, 3) point sets."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = float((sig * sign).sum() / s.var(0).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


_OUTER_LIP_LINE = tuple(i for i in lg.LIPS if i not in (61, 291))


def target_geometry(target: np.ndarray, source: np.ndarray, shape: float, lip_shape: bool = False) -> np.ndarray:
    """(478, 2) destination mesh: ``target`` (478, 3) moved by ``shape`` towards ``source`` (478, 3)
    brought into the target's pose. Eyes (with irises) and lips move as rigid wholes, the face
    outline does not move."""
    t2 = target[:, :2].astype(np.float64)
    if shape <= 0:
        return t2.copy()
    sc, rot, tr = _umeyama3(source[:MESH_POINTS].astype(np.float64), target[:MESH_POINTS].astype(np.float64))
    posed = (sc * source.astype(np.float64) @ rot.T + tr)[:, :2]
    d = posed - t2
    for group, ref in ((_RIGHT_EYE_ALL, lg.RIGHT_EYE), (_LEFT_EYE_ALL, lg.LEFT_EYE), (_LIPS_ALL, lg.LIPS)):
        keep = d[list(_OUTER_LIP_LINE)].copy() if lip_shape and group is _LIPS_ALL else None
        d[list(group)] = d[list(ref)].mean(0)
        if keep is not None:  # the lips' thickness: the outer line moves, the opening and corners do not
            d[list(_OUTER_LIP_LINE)] = keep
    d[list(lg.FACE_OVAL)] = 0.0
    return t2 + shape * d


def eye_fans(points: np.ndarray, min_open: float = 0.15) -> tuple[np.ndarray, tuple[bool, bool]]:
    """Triangles that cover the eye openings, which MediaPipe's tesselation leaves empty: a fan from
    each iris centre to the 16 lid-margin points, so the source's eyeball (its iris on the target's
    iris centre) fills the target's lids and the target's gaze stays. From the source mesh ``points``
    (478, 2+): an eye gets a fan only when it is open there (lid gap at least ``min_open`` of the
    eye's width) and its iris centre lies inside the opening (every fan triangle keeps its winding);
    a closed or odd source eye leaves that eye's interior to the target. Returns ((K, 3) triangles,
    (right has a fan, left has a fan))."""
    p = np.asarray(points, np.float64)[:, :2]
    out, ok = [], []
    for ring, centre, (top, bottom), (a, b) in ((RIGHT_EYE_OPENING, lg.RIGHT_IRIS[0], (159, 145), (33, 133)),
                                               (LEFT_EYE_OPENING, lg.LEFT_IRIS[0], (386, 374), (362, 263))):
        width = np.linalg.norm(p[a] - p[b])
        fan = np.array([(centre, ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))], np.int32)
        q = p[fan]
        cross = (q[:, 1, 0] - q[:, 0, 0]) * (q[:, 2, 1] - q[:, 0, 1]) - (q[:, 1, 1] - q[:, 0, 1]) * (q[:, 2, 0] - q[:, 0, 0])
        good = width > 0 and np.linalg.norm(p[top] - p[bottom]) >= min_open * width and (
            (cross > 0).all() or (cross < 0).all())
        ok.append(bool(good))
        if good:
            out.append(fan)
    return (np.concatenate(out) if out else np.zeros((0, 3), np.int32)), (ok[0], ok[1])


def face_box(points: np.ndarray, shape: tuple[int, int], pad: int = 3) -> tuple[int, int, int, int]:
    p = points[:MESH_POINTS, :2]
    h, w = shape[:2]
    x0, y0 = np.floor(p.min(0)).astype(int) - pad
    x1, y1 = np.ceil(p.max(0)).astype(int) + pad
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def blend_region(points: np.ndarray, box, margin_px: float) -> np.ndarray:
    """HxW bool over ``box``: the face oval eroded by ``margin_px``."""
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((points[list(lg.FACE_OVAL), :2] - (x0, y0)) * 16).astype(np.int32)], 255,
                 lineType=cv2.LINE_8, shift=4)
    r = int(round(margin_px))
    if r > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return m > 0


def _up_axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(p: the (N, 2) points, up: the face's unit up axis from the chin (152) to the forehead top (10), the
    brows' highest and the top's height along it, measured from the chin)."""
    p = np.asarray(points, np.float64)[:, :2]
    up = p[10] - p[152]
    up /= max(float(np.linalg.norm(up)), 1e-6)
    brows = float(((p[list(lg.RIGHT_BROW + lg.LEFT_BROW)] - p[152]) @ up).max())
    return p, up, brows, float((p[10] - p[152]) @ up)


def forehead_ramp(points: np.ndarray, shape: tuple[int, int], keep: float) -> np.ndarray:
    """HxW float32: 1 up to ``keep`` of the way from the brows to the face's top edge (mesh point 10),
    falling linearly to 0 there, measured along the face's own up axis (chin to forehead)."""
    p, up, brows, top = _up_axis(points)
    if top - brows < 2 or keep >= 1:
        return np.ones(shape, np.float32)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    f = ((xs - p[152, 0]) * up[0] + (ys - p[152, 1]) * up[1] - brows) / (top - brows)
    return np.clip((1 - f) / max(1 - keep, 1e-3), 0, 1).astype(np.float32)


def top_edge_ramp(points: np.ndarray, region: np.ndarray, width: float) -> np.ndarray:
    """HxW float32: 0 at the edge of ``region`` above the brows (along the face's own up axis), rising
    smoothly to 1 ``width`` px inside it; 1 elsewhere. The mesh's top edge runs straight across the
    forehead, where the source's forehead shading meets the target's: a short ramp there left a line."""
    if width < 1:
        return np.ones(region.shape, np.float32)
    p, up, brows, _ = _up_axis(points)
    ys, xs = np.nonzero(region & ~cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool))
    above = (xs - p[152, 0]) * up[0] + (ys - p[152, 1]) * up[1] > brows  # only the edge's pixels are projected
    if not above.any():
        return np.ones(region.shape, np.float32)
    off_edge = np.ones(region.shape, bool)
    off_edge[ys[above], xs[above]] = False
    return feather(off_edge, width)


def openings_mask(points: np.ndarray, box, eyes=True, mouth: bool = True) -> np.ndarray:
    """uint8 over ``box``: 1 inside the eye openings (between the lids), 2 inside the open mouth.
    ``eyes``: a bool for both, or (right, left)."""
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0])
    both = (eyes, eyes) if isinstance(eyes, bool) else tuple(eyes)
    for g, on in zip((RIGHT_EYE_OPENING, LEFT_EYE_OPENING), both):
        if on:
            cv2.fillPoly(m, [np.round((points[list(g), :2] - off) * 16).astype(np.int32)], 1, shift=4)
    if mouth:
        cv2.fillPoly(m, [np.round((points[list(lg.INNER_LIPS), :2] - off) * 16).astype(np.int32)], 2, shift=4)
    return m


def match_shading(swap: np.ndarray, target: np.ndarray, skin: np.ndarray, sigma: float, side: int = 64) -> np.ndarray:
    """``swap`` (uint8 BGR) with the large-scale lightness of its skin replaced by the target's: each
    lightness blurred over the skin pixels only (``skin``, normalised), at ``sigma`` px, the
    difference added to the swap's L. The light stays the target's (a lit cheek, a side shadow); the
    finer shading (the new face's own relief) stays the swap's. Solved at about ``side`` px."""
    h, w = skin.shape
    if skin.sum() < 30 or sigma <= 0:
        return swap
    k = max(1.0, max(h, w) / side)
    sw, sh = max(3, round(w / k)), max(3, round(h / k))
    m = cv2.resize(skin.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    lab_s = cv2.cvtColor(swap, cv2.COLOR_BGR2LAB)
    big = []
    for img in (lab_s[..., 0], cv2.cvtColor(target, cv2.COLOR_BGR2LAB)[..., 0]):
        small = cv2.resize(img.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA) * m
        num = cv2.GaussianBlur(small, (0, 0), sigma / k)
        big.append(num)
    den = cv2.GaussianBlur(m, (0, 0), sigma / k)
    delta = np.where(den > 1e-3, (big[1] - big[0]) / np.maximum(den, 1e-3), 0.0).astype(np.float32)
    delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = lab_s.astype(np.float32)
    lab[..., 0] += delta
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def _low_res_membrane(diff: np.ndarray, region: np.ndarray, ring: np.ndarray, side: int = 80) -> np.ndarray:
    """The harmonic fill over ``region`` of ``diff`` (HxWx3 float32) known on ``ring`` (the pixels just
    outside the region, inside the warped mesh), solved at about ``side`` px and brought back up: the
    smooth correction of Poisson blending. Only ring pixels give boundary values (beyond the mesh the
    warp has no texture, and its difference would tint the face)."""
    h, w = region.shape
    k = max(1.0, max(h, w) / side)
    sw, sh = max(3, round(w / k)), max(3, round(h / k))
    known = ring.astype(np.float32)
    num = cv2.resize(diff * known[..., None], (sw, sh), interpolation=cv2.INTER_AREA)
    den = cv2.resize(known, (sw, sh), interpolation=cv2.INTER_AREA)[..., None]
    have = den[..., 0] > 1e-3
    if not have.any():
        return np.zeros_like(diff)
    vals = np.where(have[..., None], num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
    mem = membrane(vals, ~have, sweeps=24)
    return cv2.resize(mem, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)


def robust_ring(diff: np.ndarray, ring: np.ndarray, spread: float = 3.0, floor: float = 12.0) -> np.ndarray:
    """The ring pixels whose target-minus-swap difference is typical of the ring (within ``spread``
    robust deviations of its median, at least ``floor`` levels, in every channel). A fringe of hair, a
    glasses frame or a hand on the border would otherwise bleed its colour over the whole face (the
    classic Poisson-cloning halo); without them the border there is left to the feathered alpha."""
    d = diff[ring]
    if len(d) < 20:
        return ring
    med = np.median(d, 0)
    mad = np.median(np.abs(d - med), 0) * 1.4826
    ok = (np.abs(d - med) <= np.maximum(spread * mad, floor)).all(1)
    out = np.zeros_like(ring)
    out[ring] = ok
    return out if ok.sum() >= 20 else ring


def _parser_maps(image: np.ndarray, face: Face, box, state: "TrackState | None" = None,
                 every: int = 1, size: tuple[int, int] | None = None,
                 glasses: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(occluder probability, face-skin probability) over ``box`` from the learned face parser, when it
    is installed (else (None, None)); the occluder map is None when nothing covers the face.

    The parser's answer is kept in the face's canonical frame; along a track it is refreshed every
    ``every`` frames and moved with the face in between (an occluder that moves across the face
    lags by at most ``every - 1`` frames). ``size``: (w, h) the box is worked on at (default: its own).
    ``glasses``: a pair of glasses is an occluder (``occluder_classes``)."""
    parser = _face_parser()
    if parser is None:
        return None, None
    from ..analysis.align import align_face
    from ..masks import face_parser as fp

    t = align_face(face.five_points(), parser.input_size)  # the network's own size: no resizing
    if (state is not None and state.parser_occ is not None and state.parser_age < every - 1
            and state.parser_glasses == glasses):
        state.parser_age += 1
        occ, skin = state.parser_occ, state.parser_skin
    else:
        crop = t.warp(image, cv2.INTER_AREA if t.scale < 1 else cv2.INTER_LINEAR)
        prob = parser.probabilities(crop, channels_first=True)
        occ = prob[occluder_classes(fp, prob[fp.GLASSES], glasses)].sum(0)
        occ = np.clip((occ - PARSER_CONFIDENCE) / 0.25, 0, 1).astype(np.float32)  # only what it is sure of
        skin = prob[list(fp.FACE_CLASSES)].sum(0).astype(np.float32)
        if state is not None:
            state.parser_occ, state.parser_skin, state.parser_age = occ, skin, 0
            state.parser_glasses = glasses
            state.glasses = see_through_glasses(fp, prob, crop)
    return (t.unwarp_roi(occ, box, size=size) if occ.any() else None), t.unwarp_roi(skin, box, size=size)


def skin_ring(ring: np.ndarray, target: np.ndarray, swapped: np.ndarray, skin: LabStats | None,
              target_skin: np.ndarray | None = None, spread: float = 3.0, keep: float = 0.2,
              max_diff: float = 70.0) -> np.ndarray:
    """The ring pixels where the target *and* the swap both show face skin: only there does the
    border difference say how the swap's shading should meet the target's. On a tight crop the face
    oval runs over hair, background or a collar on one side and over the texture's own edge (its
    hair, its photo's background) on the other; their difference is no skin-tone difference, and it
    lifted or darkened the whole face (a dark-skinned face came out grey, a fair child brown).

    Both sides must pass the colour test: within ``spread`` robust deviations of the target's skin
    colour ``skin`` in LAB (the swap was recoloured to it); the target side must also be face skin
    by the parser (``target_skin``, over the array) when it is there. Fewer than
    ``keep`` of the ring left: no ring (the feathered alpha alone meets the border)."""
    n = int(ring.sum())
    if skin is None or n < 20:
        return ring
    sd = np.maximum(skin.std, (6.0, 2.5, 2.5)).astype(np.float32)

    def like_skin(px):
        lab = cv2.cvtColor(px.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
        return (np.abs(lab - skin.mean) <= spread * sd).all(1)

    t_px, s_px = target[ring], swapped[ring]
    ok = like_skin(np.clip(s_px, 0, 255).astype(np.uint8)) & like_skin(t_px)
    # Skin against skin, both in the target's colour: a far larger difference is a strand of hair, a
    # shadow's edge or a stray spot, and a sparse ring turns each into a blob on the face.
    ok &= (np.abs(t_px.astype(np.float32) - s_px) <= max_diff).all(1)
    if target_skin is not None:  # and the parser's word: pale hair or a cap can have a skin's colour
        ok &= target_skin[ring] >= 0.5
    out = np.zeros_like(ring)
    if ok.sum() >= max(20, keep * n):
        out[ring] = ok
    return out

_PARSER = []
PARSER_CONFIDENCE = 0.55  # occluder probability where the target starts to be kept


def occluder_classes(fp, glasses: np.ndarray, keep_glasses: bool = True) -> list[int]:
    """Parser classes that cover the face in a crop: hair (a fringe), a hat, another object, and glasses
    when the parser sees a pair (``glasses``: its glasses probability over the crop; ``fp.sees_glasses``):
    a few glasses pixels by the eyes kept the target's lids over the swap, and made holes in the source's
    texture. ``keep_glasses`` False: never glasses."""
    pair = keep_glasses and fp.sees_glasses(glasses > 0.5)
    return [fp.HAIR, fp.GLASSES, fp.HAT, fp.OTHER] if pair else [fp.HAIR, fp.HAT, fp.OTHER]


DARK_LENSES = 0.35  # glasses whose median lightness is below this share of the skin's: sunglasses


def see_through_glasses(fp, prob: np.ndarray, crop: np.ndarray) -> bool:
    """The parser sees a pair of glasses on the face (``prob``: its class probabilities over ``crop``), and
    not dark lenses. A swap put on over sunglasses has no eyes to keep and showed smeared dark lenses (4 of
    77 shared faces in glasses; their lenses 0.05-0.32 of the skin's lightness, clear and tinted ones 0.36
    and up)."""
    lenses = prob[fp.GLASSES] > 0.5
    if not fp.sees_glasses(lenses):
        return False
    skin = prob[list(fp.FACE_CLASSES)].sum(0) > 0.5
    if not skin.any():
        return True
    light = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 0]
    return float(np.median(light[lenses])) >= DARK_LENSES * float(np.median(light[skin]))


def _face_parser():
    if not _PARSER:
        try:
            from ..masks import face_parser as fp

            # One thread: ORT's spinning pool costs more CPU than it saves on a 128 px crop.
            _PARSER.append(fp.FaceParser(threads=1) if fp.default_model_path().is_file() else None)
        except Exception:  # noqa: BLE001 - not landed, no model, no onnxruntime: the heuristic serves
            _PARSER.append(None)
    return _PARSER[0]


def specular(lab: np.ndarray, skin: LabStats) -> np.ndarray:
    """bool per pixel of ``lab`` (...x3 float, OpenCV's 8-bit LAB): the skin plus a white highlight, that is
    lighter than the skin by ``SPECULAR_LIGHTER`` of its spread, with a chroma between the skin's and grey
    (the body colour diluted by the light's; off that line by at most ``SPECULAR_OFF_LINE`` levels). On a
    shiny nose or forehead such a spot is far from the skin's chroma, and the occluder test kept it: the
    target's own nose tip stayed in every swap."""
    s = skin.mean[1:] - 128.0
    n2 = float(s @ s)
    if n2 < 4.0:  # grey skin (a black-and-white photo): no hue to dilute
        return np.zeros(lab.shape[:-1], bool)
    c = lab[..., 1:] - 128.0
    t = (c @ s) / n2  # 1 at the skin's chroma, 0 at grey
    off = np.linalg.norm(c - t[..., None] * s, axis=-1)
    lighter = lab[..., 0] > skin.mean[0] + SPECULAR_LIGHTER * skin.std[0]
    return lighter & (t > -0.1) & (t < 1.0) & (off < SPECULAR_OFF_LINE)


SPECULAR_LIGHTER = 1.0  # skin lightness deviations
SPECULAR_OFF_LINE = 6.0  # chroma levels


def occluder_mask(target: np.ndarray, region: np.ndarray, skip: np.ndarray, lips: np.ndarray, skin: LabStats,
                  iod: float, threshold: float, face: np.ndarray | None = None) -> np.ndarray:
    """float32 0..1: pixels of the face region whose colour the target's own face cannot have.

    HEAR-Net keeps the target where the swap cannot reproduce it (the error of a self-swap). A mesh
    warp reproduces any target exactly, so here the model of "the target's face" is its own skin
    colour: the chroma (LAB a, b) of every pixel against the robust mean and spread of the target's
    skin, in robust deviations, lightly blurred; lips may be redder than skin, never bluer or greener.
    Brows, eyes (lids, lashes) and the open mouth (``skip``) are not judged. Small or thin blobs are
    dropped. It sees opaque objects whose colour differs from the skin (a microphone, a cup, a
    coloured card, sunglasses, a scarf); shading does not count (lightness is left out), so neither
    does a dark beard. A hand of the face's own skin tone looks like skin and is swapped over: that
    needs the face parser. ``face`` (the parser's face-class probability, when it ran): where it is sure of
    the face, a highlight (``specular``) is no occluder; grey hair or a white cup has a highlight's colour
    too, so without the parser's word it still counts."""
    if threshold <= 0:
        return np.zeros(region.shape, np.float32)
    lab = cv2.cvtColor(target, cv2.COLOR_BGR2LAB)
    sigma = max(0.8, 0.03 * iod)
    ab = cv2.GaussianBlur(np.ascontiguousarray(lab[..., 1:]).astype(np.float32), (0, 0), sigma)
    sd = np.maximum(skin.std[1:], 2.5)
    za = (ab[..., 0] - skin.mean[1]) / sd[0]
    zb = (ab[..., 1] - skin.mean[2]) / sd[1]
    za = np.where(lips & (za > 0), 0.0, za)  # redder lips are lips
    z = np.sqrt(za * za + zb * zb)
    if face is not None:  # (judged only where it matters: odd chroma, inside the region, not skipped)
        odd = (z > 0.5 * threshold) & region & ~skip & (face >= 0.5)
        box = mask_box(odd, pad=int(np.ceil(4 * sigma)) + 1)
        if box is not None:
            light = cv2.GaussianBlur(lab[box][..., 0].astype(np.float32), (0, 0), sigma)
            ys, xs = np.nonzero(odd[box])
            shiny = specular(np.column_stack([light[ys, xs], ab[box][ys, xs]]), skin)
            z[box][ys[shiny], xs[shiny]] = 0.0
    hard = (z > threshold) & region & ~skip
    if not hard.any():
        return np.zeros(region.shape, np.float32)
    r = max(1, int(0.06 * iod))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    hard = cv2.morphologyEx(hard.astype(np.uint8), cv2.MORPH_OPEN, k)
    n, lab_ids, stats, _ = cv2.connectedComponentsWithStats(hard)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= (0.2 * iod) ** 2
    hard = keep[lab_ids].astype(np.uint8)
    if not hard.any():
        return np.zeros(region.shape, np.float32)
    # Grow into the object's softer edge (half the threshold), a little past it, and soften.
    soft = ((z > 0.5 * threshold) & region).astype(np.uint8) & cv2.dilate(hard, k, iterations=3)
    soft = cv2.dilate(soft | hard, k)
    return cv2.GaussianBlur(soft.astype(np.float32), (0, 0), max(1.0, 0.03 * iod))


class MeshSwapper:
    """The mesh swap with one prepared source; call it per face (``swap``)."""

    def __init__(self, source: SourceFace, settings: SwapSettings = SwapSettings()):
        self.source = source
        self.settings = settings
        self.tris = triangles(source.points)
        # Which eye interiors stay the target's: both with keep_eyes, else those the source cannot give.
        self.target_eyes = (True, True)
        if not settings.keep_eyes:
            fans, has = eye_fans(source.points)
            self.tris = np.concatenate([self.tris, fans])
            self.target_eyes = (not has[0], not has[1])
        self.warper = PiecewiseWarp(self.tris)
        self._src_iod = float(np.linalg.norm(source.points[lg.LEFT_IRIS[0], :2] - source.points[lg.RIGHT_IRIS[0], :2]))

    def swap(self, out: np.ndarray, face: Face, state: TrackState | None = None) -> SwapInfo | None:
        """Swap ``face`` in ``out`` (edited in place). None when the face is too small or off the image.

        A face box larger than ``settings.max_side`` is worked on at that size (the source texture
        holds no more detail), then brought back up; the eyes, the open mouth and every pixel the
        swap leaves alone stay at the image's full resolution."""
        s = self.settings
        tgt_full = np.asarray(face.landmarks, np.float64)
        box = face_box(tgt_full, out.shape)
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        if w < 8 or h < 8 or face.interocular < 4:
            return None
        target_full = out[y0:y1, x0:x1].copy()
        k = min(1.0, s.max_side / max(w, h))
        tgt = (tgt_full - (x0, y0, 0)) * k  # the work frame: the box, scaled by k
        if k < 1:
            ws, hs = max(8, round(w * k)), max(8, round(h * k))
            target = cv2.resize(target_full, (ws, hs), interpolation=cv2.INTER_AREA)
            k_xy = np.array([ws / w, hs / h])
            tgt[:, :2] = (tgt_full[:, :2] - (x0, y0)) * k_xy
        else:
            ws, hs, target = w, h, target_full
        lbox = (0, 0, ws, hs)
        iod = face.interocular * k
        own = self.source.points if self.source.shape is None else self.source.shape
        dst = target_geometry(tgt, own, s.shape, s.lip_shape)
        # Texture: source crop -> destination mesh, sampled from the pyramid level nearest the scale.
        level, lscale = self.source.level_for(iod / max(self._src_iod, 1e-6), s.texture_level)
        ids = self.warper.raster(dst, lbox, depth=tgt[:, 2])
        aff = _affines(self.source.points, dst, self.tris)
        mx, my = self.warper.apply(ids, aff, lbox, src_scale=lscale)
        warped = remap(level, mx, my)
        valid = ids >= 0
        poor = _foreshortened(aff, ids, s.foreshortened, max(1.0, 0.05 * iod))
        # Colour: the source's skin statistics -> the target's (averaged along a track).
        skin_px = skin_mask(dst, target.shape)
        tskin = lab_stats(target, skin_px)
        if tskin is not None and state is not None:
            state.skin = tskin if state.skin is None else state.skin.blend(tskin, 0.8)
            tskin = state.skin
        if tskin is not None and s.color > 0:
            warped = transfer(warped, self.source.skin, tskin, strength=s.color, max_chroma_gain=s.chroma_gain,
                              max_light_gain=s.light_gain, chroma=s.chroma)
        if s.shading > 0:
            warped = match_shading(warped, target, skin_px & valid, s.shading * iod)
        opening = openings_mask(dst, lbox, self.target_eyes, s.keep_mouth)
        # The openings the target keeps are no holes in the region: its own pixels go there (below),
        # so the alpha does not ramp down around them (which would show the target's lids and lips).
        region = blend_region(dst, lbox, s.margin * iod) & (valid | (opening > 0))
        if region.sum() < 16:
            return None
        swapped = warped.astype(np.float32)
        # Seamless: spread the border mismatch over the region (Poisson's membrane), then feather.
        rr = max(2, int(round(0.05 * iod)))
        ring = (cv2.dilate(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rr + 1, 2 * rr + 1)))
                > 0) & ~region & valid
        # Occluders: things in front of the target's face stay the target's.
        occ = tskin_map = odd_border = None
        if s.occlusion in ("auto", "parser"):
            occ, tskin_map = _parser_maps(out, face, box, state, s.parser_every, (ws, hs), s.glasses)
        diff = target.astype(np.float32) - swapped
        if s.skin_ring:
            # Where the border is not skin on both sides it says nothing about the tone: the membrane
            # is held at 0 there (known, no correction) instead of being left free, which carried
            # one lit edge's difference over the whole face.
            ok = robust_ring(diff, skin_ring(ring, target, swapped, tskin, tskin_map))
            diff = np.where(ok[..., None], diff, np.float32(0))
            odd_border = ring & ~ok
        else:
            ring = robust_ring(diff, ring)
        swapped += _low_res_membrane(diff, region, ring)
        if s.occlusion in ("auto", "heuristic") and tskin is not None:
            skip = np.zeros(opening.shape, np.uint8)
            for g in ("right_brow", "left_brow", "right_eye", "left_eye"):
                cv2.fillConvexPoly(skip, cv2.convexHull(np.round(dst[list(lg.GROUPS[g])]).astype(np.int32)), 1)
            skip = cv2.dilate(skip | (opening == 1), np.ones((3, 3), np.uint8), iterations=max(1, int(0.06 * iod)))
            lips = np.zeros(opening.shape, np.uint8)
            cv2.fillPoly(lips, [np.round(dst[list(lg.LIPS)]).astype(np.int32)], 1)
            lips = cv2.dilate(lips, np.ones((3, 3), np.uint8), iterations=max(1, int(0.04 * iod))) > 0
            heur = occluder_mask(target, region, (skip > 0) | (opening == 2), lips, tskin, iod, s.occluder_threshold,
                                 tskin_map)
            occ = heur if occ is None else np.maximum(occ, heur)
        # Where the source's own face was covered (its hair, glasses, a hand), there is no texture to give.
        if self.source.occluded is not None and s.occlusion != "off":
            socc = remap(self.source.occluded_level(lscale), mx, my)
            occ = socc if occ is None else np.maximum(occ, socc)
        if poor is not None:  # the source's face turned away there: its texture is a smear
            occ = poor if occ is None else np.maximum(occ, poor)
        alpha = feather(region, max(1.0, s.feather * iod)) * np.float32(s.blend)
        if s.forehead < 1:
            alpha *= forehead_ramp(dst, alpha.shape, s.forehead)
        if s.top_feather > 0:
            alpha *= top_edge_ramp(dst, region, s.top_feather * iod)
        if odd_border is not None and odd_border.any() and s.soft_edge > 0:
            # No membrane evens out the border there: fade in over a wider band instead of a seam.
            d = cv2.distanceTransform((~odd_border).astype(np.uint8), cv2.DIST_L2, 3)
            alpha *= np.clip(d / max(1.0, s.soft_edge * iod), 0, 1)
        if occ is not None:
            alpha *= 1 - np.clip(occ, 0, 1)
        if k < 1:  # back to the image's resolution
            swapped = cv2.resize(swapped, (w, h), interpolation=cv2.INTER_LINEAR)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            dst_full = dst / k_xy + (x0, y0)
        else:
            dst_full = dst + (x0, y0)
        # Nothing outside the target's face oval changes (as the face's own mask draws it), whatever
        # the margin and the resampling did at its edge.
        oval = np.zeros(alpha.shape, np.uint8)
        cv2.fillPoly(oval, [np.round(tgt_full[list(lg.FACE_OVAL), :2]).astype(np.int32) - (x0, y0)], 1)
        alpha *= oval
        # The target's own eyes and inner mouth, at full resolution, moved with their (rigid) share
        # of the geometry change.
        opening = openings_mask(dst_full, box, self.target_eyes, s.keep_mouth)
        sigma = max(0.6, 0.02 * face.interocular)
        # Only around the openings (the blur's reach past them): a small part of the box.
        win = mask_box(opening > 0, int(np.ceil(4 * sigma)) + 2)
        inner = None if win is None else _moved_target(
            target_full, tgt_full[:, :2] - (x0, y0), dst_full - (x0, y0), win, opening[win])
        if inner is not None:
            hard = (opening[win] > 0).astype(np.float32)  # all target inside (the mesh has no texture there)
            blur = cv2.GaussianBlur(hard, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
            ia = np.maximum(hard, blur)[..., None]
            swapped[win] = swapped[win] * (1 - ia) + inner.astype(np.float32) * ia
        # The alpha is 0 outside the oval: mix only over its box.
        mwin = mask_box(alpha > 0)
        if mwin is not None:  # alpha 0 gives the target exactly; OpenCV's fused blend is ~7x numpy's
            a = np.ascontiguousarray(alpha[mwin])
            mixed = cv2.blendLinear(np.ascontiguousarray(swapped[mwin]), target_full[mwin].astype(np.float32), a, 1 - a)
            out[y0:y1, x0:x1][mwin] = cv2.convertScaleAbs(np.maximum(mixed, 0, out=mixed))  # rounds, saturates
        if occ is not None and k < 1:
            occ = cv2.resize(occ, (w, h), interpolation=cv2.INTER_LINEAR)
        return SwapInfo(box, alpha, occ)


def _foreshortened(aff: np.ndarray, ids: np.ndarray, limit: float, blur: float) -> np.ndarray | None:
    """float32 over the raster: 1 where the source texture is stretched much more than the face as a
    whole (a triangle's source area per target area, |det| of its affine, below ``limit`` times the
    median over the drawn triangles: the side of a turned source face, or its cheek cut by the photo's
    edge), ramping to 0 at twice that; None when nothing is."""
    if limit <= 0:
        return None
    det = np.abs(aff[:, 0, 0] * aff[:, 1, 1] - aff[:, 0, 1] * aff[:, 1, 0])
    drawn = np.flatnonzero(np.bincount(ids[ids >= 0], minlength=len(det)))
    if len(drawn) < 20:
        return None
    rel = det / max(float(np.median(det[drawn])), 1e-9)
    bad = np.clip((2 * limit - rel) / limit, 0, 1).astype(np.float32)
    if not bad[drawn].any():
        return None
    out = np.where(ids >= 0, bad[np.maximum(ids, 0)], 0).astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), blur)


def _affines(src_pts: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    from .mesh_warp import triangle_affines

    return triangle_affines(np.asarray(src_pts, np.float64), dst, tris)


def _moved_target(target: np.ndarray, tgt2: np.ndarray, dst: np.ndarray, win: tuple[slice, slice],
                  opening: np.ndarray) -> np.ndarray | None:
    """``win`` of the target (points ``tgt2`` in its frame) with the openings (``opening``, over ``win``)
    filled by the target's pixels moved by the translation each opening got to ``dst`` (eyes, lips)."""
    if not opening.any():
        return None
    y0, x0 = win[0].start, win[1].start
    h, w = opening.shape
    gx, gy = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float32), np.arange(y0, y0 + h, dtype=np.float32))
    mx, my = gx.copy(), gy.copy()
    moves = []
    d_r = (dst[list(lg.RIGHT_EYE)] - tgt2[list(lg.RIGHT_EYE)]).mean(0)
    d_l = (dst[list(lg.LEFT_EYE)] - tgt2[list(lg.LEFT_EYE)]).mean(0)
    d_m = (dst[list(lg.LIPS)] - tgt2[list(lg.LIPS)]).mean(0)
    if np.abs(np.concatenate([d_r, d_l, d_m])).max() < 1e-3:
        return target[win]
    # Which opening a pixel belongs to: the eye nearer in x for label 1, the mouth for 2.
    cx = (dst[lg.RIGHT_IRIS[0], 0] + dst[lg.LEFT_IRIS[0], 0]) / 2
    moves = [((opening == 1) & (gx < cx), d_r), ((opening == 1) & (gx >= cx), d_l), (opening == 2, d_m)]
    for m, d in moves:
        mx[m] -= d[0]
        my[m] -= d[1]
    return cv2.remap(target, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def naive_swap_face(out: np.ndarray, face: Face, source: SourceFace, settings: SwapSettings = SwapSettings(),
                    state: TrackState | None = None) -> SwapInfo | None:
    """Baseline: the source's canonical crop by a 5-point similarity onto the target, LAB-recoloured,
    Poisson-blended (exact border) inside the target's face oval minus the margin."""
    tgt = np.asarray(face.landmarks, np.float64)
    iod = face.interocular
    box = face_box(tgt, out.shape)
    x0, y0, x1, y1 = box
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    from ..analysis.face import Face as _F  # noqa: F401 - type only
    src5 = _five(source.points)
    m = fit_similarity(src5, face.five_points() - (x0, y0))
    target = out[y0:y1, x0:x1].copy()
    warped = cv2.warpAffine(source.texture, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    tskin = lab_stats(target, skin_mask(tgt, target.shape, (x0, y0)))
    if tskin is not None:
        warped = transfer(warped, source.skin, tskin, strength=settings.color)
    # The source's own oval, moved the same way: never paste the source's background.
    src_oval = source.points[list(lg.FACE_OVAL), :2] @ m[:, :2].T + m[:, 2]
    so = np.zeros(target.shape[:2], np.uint8)
    cv2.fillPoly(so, [np.round(src_oval).astype(np.int32)], 255)
    region = blend_region(tgt, box, settings.margin * iod) & (so > 0)
    if region.sum() < 16:
        return None
    res = poisson_blend(target, warped, region)
    res = np.clip(np.round(res), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = np.where(region[..., None], res, target)
    return SwapInfo(box, region.astype(np.float32))


def _five(points: np.ndarray) -> np.ndarray:
    eyes = points[[lg.RIGHT_IRIS[0], lg.LEFT_IRIS[0]], :2]
    rest = points[[lg.NOSE_TIP, lg.MOUTH_RIGHT_CORNER, lg.MOUTH_LEFT_CORNER], :2]
    return np.vstack([eyes, rest])

"""The blank-face eraser: detect -> landmarks -> align -> part masks -> fill -> paste back."""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .analysis import Face, FaceAnalyzer
from .analysis.align import CANONICAL_POINTS, AlignTransform, align_face
from .analysis.landmark_groups import FACE_OVAL, LEFT_EYE, NOSE_TIP, RIGHT_EYE
from .blend import paste_back
from .inpaint import FillMethod, PlannedFill, get_fill
from .inpaint.fills import CloneFill
from .inpaint.plan_cache import PlanCache
from .masks import PARTS, face_region, feather, parse_parts, part_mask, part_masks, union
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
    labels: np.ndarray | None = None  # the face parser's labels, canonical crop at its input size (None: none)


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
    min_size: int = 192  # floor of the default size (video: the plan size, so small faces are not upsampled)
    plan_size: int = PLAN_SIZE  # side at which masks and shading are worked out (planned fills only)
    # A face parser (masks/face_parser.py: ``.parse(crop) -> labels``): only skin and facial-part pixels are
    # repainted; hair, glasses and other occluders over the parts stay on top. "auto": the shipped model when
    # its file is there; None: the landmark masks alone (the eraser before the parser).
    parser: object = "auto"
    remove_glasses: bool = False  # with a parser: glasses inside the part masks are erased too

    def __post_init__(self):
        object.__setattr__(self, "parts", parse_parts(self.parts))

    @property
    def face_parser(self):
        """The parser to use, or None."""
        return resolve_parser(self.parser)


def resolve_parser(parser):
    """``parser`` itself, or for "auto" the shipped face parser (None when its model file is missing or bad)."""
    if not isinstance(parser, str):
        return parser
    if parser != "auto":
        raise ValueError(f"parser {parser!r}: expected a FaceParser, None or 'auto'")
    from .masks import face_parser as fp

    # FACECANVAS_PARSER: "none" (no parser) or the path of another parser model, for comparisons.
    env = os.environ.get("FACECANVAS_PARSER", "")
    if env.lower() == "none":
        return None
    try:
        path = env or fp.default_model_path()
        if path not in _PARSERS:
            if not env and not path.is_file():
                return None
            # One thread: the network is a few milliseconds, and a second thread saves little of that (an
            # idle pool no longer spins after each call either: onnx_session).
            _PARSERS[path] = fp.FaceParser(path, threads=1)
        return _PARSERS[path]
    except Exception:  # noqa: BLE001 - a missing runtime or a bad file: erase as without a parser
        return None


_PARSERS: dict = {}


def blank_face(image: np.ndarray, face: Face, settings: EraseSettings = EraseSettings(),
               plans: PlanCache | None = None, key: Hashable | None = None, whole: bool = True) -> FaceErase:
    """The blank face of one face of ``image`` (HxWx3 uint8 BGR) as a crop; ``image`` is not touched.

    The result's ``blank`` and ``crop_alpha`` are what ``erase_face`` pastes; effects paste their own
    composite of them instead, so the face is resampled once. ``alpha`` is None (nothing was pasted).
    ``plans`` and ``key`` (video): reuse this face's clone plan from the previous frame (``PlanCache``).
    ``whole``: False when nothing outside the face is pasted (``erase_face``, the effects): the crop is then
    resampled sharply only where the fill reads (``PlannedFill.reads``; a tracked face, or a fill without
    it: the face's box, ``fill_box``), and bilinearly elsewhere.
    """
    fill = settings.fill
    # A method with a fixed working scale (the neural model's) decides the crop size itself.
    out_size = fill.crop_size or settings.size or work_size(face, settings.min_size,
                                                            max(settings.min_size, settings.max_size))
    planned = isinstance(fill, PlannedFill)
    plan_size = min(settings.plan_size, out_size) if planned else out_size
    points5 = face.five_points()
    cached = plans is not None and key is not None
    on_top = None  # out-size bool: what the parser keeps on top of the edit
    if cached:
        again = _blank_again(image, face, out_size, plans.result(key), whole)
        if again is not None:
            return again
    plan_tf = align_face(points5, plan_size)
    # A plan crop below the pasted size only carries shading: linear is enough there.
    crop = plan_tf.warp(image, _interpolation(plan_tf, plan_size < out_size))
    parser = settings.face_parser
    if parser is None:
        native = None
    elif plans is not None and key is not None:  # video: a tracked face is parsed every few frames
        native = plans.labels(key, lambda: trusted_labels(parser, image, face))
    else:
        native = trusted_labels(parser, image, face)
    labels = None if native is None else _resize_labels(native, plan_size)
    hole, masks, source, known, edge, feather_px, soft, plan_image = _plan_masks(
        crop, plan_tf.to_crop(face.landmarks), settings.parts, labels, settings.remove_glasses)
    if plan_size == out_size and not cached:
        out_tf, out_crop = plan_tf, crop
        alpha = feather(hole, feather_px, soft)
        if native is not None:
            alpha[kept_pixels(native, out_size, settings.remove_glasses)] = 0
        if keeps_eyes(settings.parts):
            alpha *= eye_cut(plan_tf.to_crop(face.landmarks), out_size)
        hole = alpha > 0
        filled = fill.fill(crop, hole, source, known, edge)
    else:
        # (Also at the plan's own size when a video track can reuse the plan on its next frames.)
        plan = plans.reuse(key, hole) if cached else None
        if plan is None:
            # (Grown by the cache's margin, but not into kept parts or what stays on top.)
            grown = plans.grow(hole) & (edge | hole) if cached else hole
            plan = fill.plan(plan_image, grown, source, known, edge)
            if cached:
                plans.store(key, plan, grown)
        if cached:
            # The fill covers the hole it was planned for. Its edge is matched to the pixels around that
            # hole; on a smaller one the margin of skin left in between (darker near the parts) would show
            # as a thin dark outline of the eyes, nose and mouth.
            hole = plans.planned_hole(key)
            soft = None if soft is None else soft & ~hole
        if plan_size == out_size:
            out_tf, out_crop = plan_tf, crop
        else:
            out_tf = align_face(points5, out_size)
            # Sharp only where the render reads: a tracked face's kept blank also reads the skin around it.
            reads = getattr(fill, "reads", None)  # optional in PlannedFill
            sharp = None if whole else fill_box(out_tf, face) if cached or reads is None else \
                reads(plan, hole, out_size)
            out_crop = out_tf.warp(image, _interpolation(out_tf), sharp)
        alpha = cv2.resize(feather(hole, feather_px, soft), (out_size, out_size), interpolation=cv2.INTER_LINEAR)
        if native is not None:  # what stays on top is cut at the parser's resolution, not the plan's
            on_top = kept_pixels(native, out_size, settings.remove_glasses)
            alpha[on_top] = 0
        if keeps_eyes(settings.parts):
            alpha *= eye_cut(out_tf.to_crop(face.landmarks), out_size)
        hole = alpha > 0
        masks = {name: _resize_mask(m, out_size) for name, m in masks.items()}
        filled = fill.render(out_crop, hole, plan)
    done = FaceErase(face, out_tf, masks, hole, None, out_crop, filled, alpha, labels=native)
    if cached:
        plans.store_result(key, _Kept.of(done, on_top))
    return done


# A tracked face whose shape in the aligned crop has not changed gets its last blank face again (the fill
# follows the head through the alignment), for at most PlanCache.result_age frames in a row. Only the
# hole's pixels are taken over, shifted by the change of the skin's colour just around the hole.
SAME_SHAPE = 0.025  # interocular units: the largest move of any landmark in the aligned crop
SAME_LIGHT = 6.0  # levels: a larger change of the skin's mean colour around the hole is a new light


@dataclass
class _Kept:
    """A blank face kept for the next frames of its track."""

    done: FaceErase
    points: np.ndarray  # (478, 2) landmarks in the crop
    fill: np.ndarray  # (n, 3) float32: the blank's pixels in the hole
    ring: np.ndarray  # crop bool: skin just outside the hole, where the colour change is read
    ring_mean: np.ndarray  # (3,) its mean colour in the kept crop
    uses: int = 0

    @classmethod
    def of(cls, done: FaceErase, on_top: np.ndarray | None = None) -> "_Kept":
        """``on_top``: what stays on top of the edit (hair, glasses), which does not say how the skin is lit."""
        pts = done.transform.to_crop(done.face.landmarks)[:, :2].astype(np.float32)
        px = max(2, int(round(0.04 * interocular(pts))))
        ring = cv2.dilate(done.hole.astype(np.uint8), _disk(px)).astype(bool) & ~done.hole
        if on_top is not None:
            ring &= ~on_top
        return cls(done, pts, done.blank[done.hole].astype(np.float32), ring, _mean(done.crop, ring))


def _mean(crop: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.array(cv2.mean(crop, where.astype(np.uint8))[:3], np.float32) if where.any() else np.zeros(3, np.float32)


def _blank_again(image: np.ndarray, face: Face, out_size: int, kept: _Kept | None,
                 whole: bool = True) -> FaceErase | None:
    """The kept blank face on this frame (``FaceErase`` of this frame's crop), or None when it may not serve."""
    if kept is None or kept.done.crop.shape[0] != out_size or not kept.ring.any():
        return None
    tf = align_face(face.five_points(), out_size)
    pts = tf.to_crop(face.landmarks)[:, :2]
    if np.abs(pts - kept.points).max() > SAME_SHAPE * interocular(pts):
        return None
    crop = tf.warp(image, _interpolation(tf), None if whole else fill_box(tf, face))
    shift = _mean(crop, kept.ring) - kept.ring_mean
    if np.abs(shift).max() > SAME_LIGHT:
        return None
    kept.uses += 1
    blank = crop.copy()
    blank[kept.done.hole] = np.clip(kept.fill + shift + 0.5, 0, 255).astype(np.uint8)
    d = kept.done
    return FaceErase(face, tf, d.masks, d.hole, None, crop, blank, d.crop_alpha, labels=d.labels)


def erase_face(image: np.ndarray, face: Face, settings: EraseSettings = EraseSettings(),
               plans: PlanCache | None = None, key: Hashable | None = None) -> FaceErase:
    """Erase one face of ``image`` (HxWx3 uint8 BGR) **in place**: ``blank_face`` pasted back.
    The result's ``alpha`` is the image-space alpha of the paste."""
    done = blank_face(image, face, settings, plans, key, whole=False)
    done.alpha = paste_back(image, done.blank, done.crop_alpha, done.transform)
    return done


def _interpolation(transform: AlignTransform, shading_only: bool = False) -> int:
    return cv2.INTER_LINEAR if shading_only else transform.interpolation


def fill_box(transform: AlignTransform, face: Face) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of ``transform``'s crop that an erase reads: the face oval (the hole lies within
    0.06 iod of it, the grain's sources inside it), grown by the fill's blur window (3 detail sigmas, 1/128
    of the side each) with room to spare. tests/test_effects.py checks effects come out the same as with a
    crop resampled sharply all over."""
    pts = transform.to_crop(face.landmarks[list(FACE_OVAL)])
    pad = 0.1 * face.interocular * transform.scale + 0.05 * transform.size + 2
    (x0, y0), (x1, y1) = np.floor(pts.min(0) - pad), np.ceil(pts.max(0) + pad) + 1
    return int(x0), int(y0), int(x1), int(y1)


def face_labels(parser, image: np.ndarray, points5: np.ndarray, size: int = 256) -> np.ndarray | None:
    """The parser's labels of the face in a canonical crop at the parser's own input size (``size`` for a
    parser that has none); None without a parser. The crop is warped straight at that size (no second
    resampling)."""
    if parser is None:
        return None
    side = int(getattr(parser, "input_size", size) or size)
    tf = align_face(points5, side)
    crop = tf.warp(image, cv2.INTER_LINEAR)
    if not hasattr(parser, "probabilities"):  # a parser of labels only (the data's own, a test's)
        return parser.parse(crop)
    # Keep a pixel when the parser gives hair, glasses or another occluder more than KEEP_BELIEF in all: a
    # strand painted over shows more than a few skin pixels left at a fringe's edge.
    return cut_off_face(parser.parse(crop, occluder_belief=KEEP_BELIEF), crop)


# The parser's belief in an occluder (hair, glasses, a hand) above which a pixel stays; 0.5 = its own labels.
KEEP_BELIEF = 0.35

# CIE76 colour difference (L* 0-100) between the skin of a face region cut off from the face and the face's own
# skin above which that region is not face. The parser can take a white hat or band over the brows for a
# forehead (a tight crop's replicated border makes it look like one): as skin it gave the brows' fill its
# white. Foreheads cut off by a pair of glasses were 5 and 16 from the cheeks on the development faces, such
# hats 65.
CUT_OFF_TONE = 40.0


def cut_off_face(labels: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """``labels`` (HxW parser classes of the HxWx3 uint8 BGR ``crop``) with every face region that no face
    pixel joins to the face proper (the largest) and whose skin is not the face's colour (``CUT_OFF_TONE``)
    taken as an occluder (``OTHER``): it stays on top of an edit and gives the fill neither colour nor grain."""
    from .masks.face_parser import FACE_CLASSES, OTHER, SKIN

    n, comp, stats, _ = cv2.connectedComponentsWithStats(np.isin(labels, FACE_CLASSES).astype(np.uint8),
                                                         connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(area[1:])) if n > 1 else 0
    # Specks are left alone: _may_erase erases small islands again.
    others = [i for i in range(1, n) if i != main and area[i] >= ISLAND * labels.size]
    if not others:
        return labels
    skin = labels == SKIN
    face_tone = _median_tone(crop, skin & (comp == main))
    if face_tone is None:
        return labels
    out = labels.copy()
    for i in others:
        tone = _median_tone(crop, skin & (comp == i))
        if tone is not None and np.linalg.norm(tone - face_tone) > CUT_OFF_TONE:
            out[comp == i] = OTHER
    return out


def _median_tone(bgr: np.ndarray, where: np.ndarray, least: int = 10, most: int = 4000) -> np.ndarray | None:
    """(3,) median L*a*b* (L 0-100) of the ``where`` pixels of uint8 ``bgr`` (at most ``most`` of them,
    evenly spread), or None for fewer than ``least``."""
    px = bgr[where]
    if len(px) < least:
        return None
    # OpenCV's 8-bit Lab (L scaled to 0-255, a and b offset by 128): its float path is slower.
    lab = cv2.cvtColor(np.ascontiguousarray(px[:: max(1, len(px) // most), None]), cv2.COLOR_BGR2LAB)[:, 0]
    return (np.median(lab, 0) - (0, 128, 128)) * (100 / 255, 1, 1)


def trusted_labels(parser, image: np.ndarray, face: Face) -> np.ndarray | None:
    """``face_labels`` when they agree with the face's landmarks (``labels_fit``), else None: where the
    parser fails on a face, that face is edited as without a parser."""
    native = face_labels(parser, image, face.five_points())
    if native is None:
        return None
    s = PLAN_SIZE
    pts = align_face(face.five_points(), s).to_crop(face.landmarks)
    return native if labels_fit(_resize_labels(native, s), pts, face_region(pts, (s, s))) else None


def _resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    if labels.shape[0] == size:
        return labels
    return cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)


def _may_erase(labels: np.ndarray, remove_glasses: bool) -> np.ndarray:
    """HxW bool: pixels an edit of the face may repaint (skin and facial parts, and glasses if asked)."""
    from .masks.face_parser import FACE_CLASSES, GLASSES

    erasable = remove_glasses or not wears_glasses(labels)
    may = np.isin(labels, FACE_CLASSES + ((GLASSES,) if erasable else ()))
    # Specks of another class inside the face (a few pixels the parser got wrong) are not occluders.
    may = cv2.morphologyEx(may.astype(np.uint8), cv2.MORPH_CLOSE, _disk(labels.shape[0] / 128)).astype(bool)
    # Nor are small islands wholly inside it (a glasses' nose pad, the loose tip of a strand): kept, they
    # float over the blank face as dark or pale dots, cut off from the frame or the fringe they belong to.
    n, comp, stats, _ = cv2.connectedComponentsWithStats((~may).astype(np.uint8), connectivity=8)
    if n > 2:
        s = labels.shape[0]
        x, y, w, h, area = stats[1:].T
        small = (area < ISLAND * s * s) & (x > 0) & (y > 0) & (x + w < s) & (y + h < s)
        if small.any():
            may |= np.isin(comp, 1 + np.flatnonzero(small))
    return may


def wears_glasses(labels: np.ndarray) -> bool:
    """Do the parser's labels of a canonical crop show a pair of glasses (``face_parser.sees_glasses``)?"""
    from .masks.face_parser import GLASSES, sees_glasses

    return sees_glasses(labels == GLASSES)


ISLAND = 0.0012  # of the crop's area (about 0.15 x 0.15 iod): a smaller island of hair or glasses in the face is erased


def kept_pixels(labels: np.ndarray, size: int, remove_glasses: bool = False) -> np.ndarray:
    """size x size bool: what stays on top of an edit (hair, glasses, hands, background), from labels of
    any canonical crop size, resized smoothly (the cut follows the parser's boundary, not its pixels)."""
    kept = (~_may_erase(labels, remove_glasses)).astype(np.float32)
    if kept.shape[0] != size:
        kept = cv2.resize(kept, (size, size), interpolation=cv2.INTER_LINEAR)
    return kept > 0.5


def _plan_masks(crop: np.ndarray, pts: np.ndarray, parts, labels: np.ndarray | None = None,
                remove_glasses: bool = False) -> tuple:
    """Hole, per-part masks, grain source, known skin, edge (what the fill's edge may match), feather
    radius and the soft border (where the feather may ramp; None: all of the hole's border), all in
    ``crop``'s frame. ``labels``: the face parser's, at ``crop``'s size: only skin and facial-part pixels
    are repainted, and what stays on top (hair, glasses, a hand) sets neither colour nor grain."""
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
    kept_px = None
    if labels is not None:
        from .masks.face_parser import SKIN

        may = _may_erase(labels, remove_glasses)
        kept_px = ~may
        hole &= may
        masks = {name: m & may for name, m in masks.items()}
        source &= labels == SKIN
    # Only skin-coloured pixels of the face set the fill's colour: not hair, glasses or background.
    nose_y = int(pts[NOSE_TIP, 1])
    inner = cv2.erode(face_mask.astype(np.uint8), _disk(0.04 * iod)).astype(bool)
    if kept_px is None:
        known = skin_like(crop, source, dark_floor_above=nose_y) & inner
    else:
        # The parser says what is skin: a shiny forehead or a shaded cheek counts, hair and glasses do not.
        known = source & inner & ~kept_px
    plan_image = crop
    if keeps_eyes(masks):
        # Kept eyes stay whole: the dilated brow mask (closed, as above) reaches into the upper lid and
        # the eye, and would paint over half of it.
        # (Planned a pixel into the margin: the hole is cut at the eyes on the pasted crop, ``eye_cut``, along
        # the lid rather than in the plan's coarse pixels.)
        eyes_kept = cv2.erode(part_mask(pts, "eyes", (s, s), KEPT_EYE_MARGIN).astype(np.uint8),
                              np.ones((3, 3), np.uint8)).astype(bool)
        if labels is not None:
            # The brow's own pixels as the parser finds them: the landmark hull misses a long tail.
            from .masks.face_parser import BROWS

            own = cv2.dilate((labels == BROWS).astype(np.uint8), _disk(0.04 * iod)).astype(bool)
            hole |= own & near_face & ~kept_px
        hole &= ~eyes_kept
        masks["brows"] = masks["brows"] & ~eyes_kept
        # Brows erased over kept eyes: below them lie the socket's shade and the eyes, and a membrane that
        # takes its colour from there (or from the cheeks beyond) leaves a grey band where the brows were.
        # The plan sees the forehead carried down over them instead, so the fill is the forehead's.
        below = _under(hole, every_part["eyes"], 0.6 * iod)
        plan_image, known = _forehead_down(crop, known, hole, below)
        source &= ~below
    known = cv2.morphologyEx(known.astype(np.uint8), cv2.MORPH_OPEN, _disk(0.02 * iod)).astype(bool)
    kept = [m for name, m in every_part.items() if name not in masks]
    if any(n in masks for n in ("eyes", "nose", "mouth")):
        # Folds and highlights that touch the hole (smile folds, a socket's shadow, a lit cheek) are taken
        # in, so the fill's border runs over plain skin and does not carry them inwards as dents.
        # A smile fold may lie in the unknown margin just outside the hole (the parts' dilation keeps that
        # margin out of ``known``): below the eyes it is looked for on any face skin there, kept parts and
        # the skin next to hair excepted (a strand there is dark too, and stays).
        skin = face_mask & ~union(kept, (s, s))
        skin[: int(pts[list(RIGHT_EYE + LEFT_EYE), 1].max()) + 1] = False
        if kept_px is not None:
            skin &= ~cv2.dilate(kept_px.astype(np.uint8), _disk(0.1 * iod)).astype(bool)
        folds = _folds(crop, hole, known, iod, skin)
        if kept:
            # Not next to a part that stays (an effect puts a nose back over the blank): the fold there (the
            # nose's shaded side, a moustache) ran on under the part, and the fill's light skin met its dark
            # rest in a blocky step of the plan's pixels.
            folds &= ~cv2.dilate(union(kept).astype(np.uint8), _disk(FOLD_KEPT_MARGIN * iod)).astype(bool)
        grown = hole | folds
        hole = grown & near_face & (True if kept_px is None else ~kept_px)
    edge = ~union(kept, (s, s))
    hole |= _slivers(hole, kept_px, face_mask & edge, iod)
    soft = None
    if kept_px is not None:
        edge &= ~kept_px
        # The feather ramps in from the skin around the hole only: at hair or glasses that stay on top the
        # fill runs right up to them (their own edge is the boundary), so no half-erased brow shows there.
        soft = ~hole & ~kept_px
    return hole, masks, source & known, known, edge, 0.03 * iod, soft, plan_image


def labels_fit(labels: np.ndarray, pts: np.ndarray, face_mask: np.ndarray) -> bool:
    """Do the parser's labels agree with the landmarks? Inside the face oval, pixels labelled as the part
    the landmarks put there, skin elsewhere, or an occluder (hair, glasses, a hand) anywhere, must make up
    most of it, and occluders must not hide most of the face."""
    from .masks.face_parser import BROWS, EYES, FACE_CLASSES, GLASSES, HAIR, HAT, LIPS, INNER_MOUTH, NOSE, OTHER, SKIN

    s = labels.shape[0]
    expect = np.full((s, s), SKIN, np.uint8)
    for part, cls in (("nose", NOSE), ("brows", BROWS), ("eyes", EYES), ("mouth", LIPS)):
        expect[part_masks(pts, (s, s), (part,), dilation_scale=0.0)[part]] = cls
    inside = labels[face_mask]
    exp = expect[face_mask]
    if inside.size == 0:
        return False
    occluded = np.isin(inside, (HAIR, GLASSES, HAT, OTHER))
    agree = (inside == exp) | ((exp == LIPS) & (inside == INNER_MOUTH)) | occluded
    # Part borders are fuzzy: a neighbouring face class counts half.
    near = np.isin(inside, FACE_CLASSES) & ~agree
    return bool(occluded.mean() < 0.6 and (agree.mean() + 0.5 * near.mean()) > 0.75)


KEPT_EYE_MARGIN = 0.03  # interocular units: the lashes and lid margin around an eye that is not erased
# Interocular units: the soft edge from a kept eye's contour into erased brows. The plan keeps
# KEPT_EYE_MARGIN clear of the eyes; the pasted alpha then rises from the contour itself over this ramp, so
# the lid's shade fades into the fill (on the development faces, against a hard cut at the margin in plan
# pixels: seam 0.0700 -> 0.0668, tone gap 2.28 -> 2.24, brow contrast 0.13 -> 0.11).
EYE_RAMP = 0.04


def keeps_eyes(parts) -> bool:
    """Are the brows erased over eyes that stay?"""
    return "brows" in parts and "eyes" not in parts


def eye_cut(pts: np.ndarray, size: int) -> np.ndarray:
    """size x size float32: 0 on kept eyes, rising to 1 over ``EYE_RAMP`` iod outside their contour: the
    alpha of erased brows is cut by it at the pasted crop's own resolution (at the plan's, its edge ran in
    steps along the lashes, and hard)."""
    return feather(~part_mask(pts, "eyes", (size, size), 0.0), max(1.0, EYE_RAMP * interocular(pts)))


FOLD_BAND = 0.18  # interocular units: how far past the part masks a fold or highlight is taken into the hole
FOLD_LEVELS = 7.0  # Lab lightness levels (0-255) a fold lies below, or a highlight above, the skin's broad shading
# Interocular units round a part that stays (not erased) where no fold is taken. Development look faces (79),
# medians (means) before -> after: seam comic 0.0362 (0.0430) -> 0.0364 (0.0418), transplant 0.0219 (0.0287)
# -> 0.0216 (0.0280), mono-eye 0.0413 both; tone gap comic 1.68 (2.38) -> 1.78 (2.34), mono-eye 1.42 (1.86)
# -> 1.58 (1.90), transplant 2.12 -> 2.17 (2.35 both): the kept shade next to the nose reads as a tone gap.
# Taken for the look: light blocky patches beside the nose on most side-lit and bearded look-sheet faces
# are gone (0.05 left part of them; dropping every fold that touches the part left dark socket arcs).
FOLD_KEPT_MARGIN = 0.1


def _folds(crop: np.ndarray, hole: np.ndarray, known: np.ndarray, iod: float,
           skin: np.ndarray | None = None) -> np.ndarray:
    """HxW bool: narrow dark valleys and bright bumps of the skin within ``FOLD_BAND`` iod of ``hole`` and
    joined to it: the skin's lightness, lightly blurred, against its broad shading (a wide blur of the skin).
    ``skin``: where else than ``known`` a dark valley may lie (bright bumps only on ``known``). A side-lit
    half of the face is broad shading, not a fold, and is left alone."""
    from .inpaint.harmonic import masked_blur

    skin = known if skin is None else (skin | known)
    band = cv2.dilate(hole.astype(np.uint8), _disk(FOLD_BAND * iod)).astype(bool) & ~hole & skin
    if not band.any():
        return np.zeros_like(hole)
    bx, by, bw, bh = cv2.boundingRect((band | hole).astype(np.uint8))
    pad = int(0.3 * iod) + 2
    y0, x0 = max(0, by - pad), max(0, bx - pad)
    win = (slice(y0, by + bh + pad), slice(x0, bx + bw + pad))
    light = cv2.cvtColor(crop[win], cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    ok = skin[win] & ~hole[win]
    fine = masked_blur(light, ok, max(0.8, 0.03 * iod))
    broad = masked_blur(light, ok, 0.25 * iod)
    # Bright bumps only on the known skin: the margin beside the parts is lit cheek as often as not,
    # and a lit cheek is no fold.
    odd = band[win] & (((broad - fine) > FOLD_LEVELS) | (known[win] & ((fine - broad) > FOLD_LEVELS)))
    # Only what is joined to the hole: grow the hole through the odd pixels (a geodesic dilation).
    reach = hole[win].copy()
    k = np.ones((3, 3), np.uint8)
    for _ in range(max(1, int(FOLD_BAND * iod) + 1)):
        reach = (cv2.dilate(reach.astype(np.uint8), k).astype(bool) & (odd | hole[win])) | reach
    out = np.zeros_like(hole)
    grown = cv2.morphologyEx((reach & ~hole[win]).astype(np.uint8), cv2.MORPH_CLOSE, _disk(0.03 * iod)).astype(bool)
    out[win] = grown & band[win]
    return out


SLIVER = 0.05  # interocular units: skin narrower than this between two arms of the hole is filled too


def _slivers(hole: np.ndarray, kept: np.ndarray | None, skin: np.ndarray, iod: float) -> np.ndarray:
    """HxW bool: thin strips and specks of skin pinched between two arms of ``hole`` (under a fringe's dip
    between the brows), which the part masks stopped short of: left as they are they show as pale lines in
    the fill. Skin between the hole and what stays on top (``kept``: hair, glasses) is not taken: the parser
    draws that edge only roughly, and filling up to it would repaint the ends of the strands."""
    closed = cv2.morphologyEx(hole.astype(np.uint8), cv2.MORPH_CLOSE, _disk(SLIVER * iod)).astype(bool)
    out = closed & ~hole & skin
    if kept is not None:
        out &= ~cv2.dilate(kept.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return out


def _column(height: float, up: bool) -> np.ndarray:
    h = max(1, int(round(height)))
    k = np.zeros((2 * h + 1, 1), np.uint8)
    if up:
        k[h:] = 1  # dilating with the lower half of a column reaches upwards
    else:
        k[:h + 1] = 1
    return k


def _under(hole: np.ndarray, eyes: np.ndarray, height: float) -> np.ndarray:
    """HxW bool: what lies under the brow hole down to the eyes' lower edge (socket and eyes)."""
    down = cv2.dilate(hole.astype(np.uint8), _column(height, up=False)).astype(bool)
    above_eyes = cv2.dilate(eyes.astype(np.uint8), _column(height, up=True)).astype(bool)
    return down & above_eyes & ~hole


def _forehead_down(crop: np.ndarray, known: np.ndarray, hole: np.ndarray, below: np.ndarray):
    """(crop with ``below`` painted in the colour of the known skin straight above the hole, ``known`` with
    ``below`` added): the plan's view of an eyebrowless face."""
    from .inpaint.harmonic import masked_blur

    bx, by, bw, bh = cv2.boundingRect((hole | below).astype(np.uint8))
    if bw == 0 or not below.any():
        return crop, known
    sub = (slice(0, by + bh), slice(bx, bx + bw))
    ok = known[sub] & ~hole[sub] & ~below[sub]
    smooth = masked_blur(crop[sub].astype(np.float32), ok, 1.5)
    rows = np.where(ok, np.arange(ok.shape[0])[:, None], -1)
    last = np.maximum.accumulate(rows, axis=0)  # per column, the nearest known row at or above
    take = below[sub] & (last >= 0)
    ys, xs = np.nonzero(take)
    out = crop.copy()
    region = out[sub]
    region[ys, xs] = np.clip(smooth[last[ys, xs], xs] + 0.5, 0, 255).astype(np.uint8)
    k = known.copy()
    k[sub] |= take
    return out, k


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

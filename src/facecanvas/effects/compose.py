"""One face: erase the parts, paste chosen parts back (moved, scaled, from a donor) with Poisson
blending, paste the crop back into the photo, then draw stickers.

Everything happens in the aligned crop the eraser works in, so positions, scales and offsets are the
same for every face whatever its size or roll.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..analysis import Face
from ..analysis.align import AlignTransform, align_face
from ..blend import paste_back
from ..blend.poisson import membrane, poisson_blend
from ..eraser import (EraseSettings, FaceErase, blank_face, fill_box, kept_pixels, resolve_parser, trusted_labels,
                      wears_glasses, work_size)
from ..inpaint.harmonic import masked_blur
from ..inpaint.plan_cache import PlanCache, track_key
from ..masks import face_region, feather, grow, mask_box
from ..masks.parts import interocular
from .geometry import Placement, anchor_point, midline_x, part_center, part_region
from .spec import Paste, Resolved, Sticker
from .sticker import StickerImage, draw_sticker, sticker_in_crop, sticker_to_crop


@dataclass
class PartSource:
    """An aligned crop and its landmarks (crop pixels) that parts are cut from: the face itself, or a donor."""

    crop: np.ndarray
    points: np.ndarray
    labels: np.ndarray | None = None  # the face parser's labels of ``crop`` (filled in on first use)
    kept: np.ndarray | None = None  # crop-size bool: what stays on top (hair, glasses, hands), from ``labels``
    remove_glasses: bool = False  # glasses do not stay on top (they are edited like skin)

    def kept_pixels(self) -> np.ndarray:
        if self.kept is None or self.kept.shape != self.crop.shape[:2]:
            self.kept = kept_pixels(self.labels, self.crop.shape[0], self.remove_glasses)
        return self.kept


@dataclass
class FaceEffect:
    """What was done to one face."""

    face: Face
    transform: AlignTransform
    regions: list[np.ndarray] = field(default_factory=list)  # crop-space bool: each paste, in paint order
    unchanged: list[bool] = field(default_factory=list)  # per region: a part put back where it was
    hole: np.ndarray | None = None  # crop-space bool: what was erased
    erased: FaceErase | None = None
    alpha: np.ndarray | None = None  # image-space float: coverage of the crop paste-back
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for benchmarks
    notes: list[str] = field(default_factory=list)  # what the user should know (glasses kept over the eyes)


_FADE = 0.08  # interocular units: the band where a pasted part's fine detail fades into the target's


def eye_line_roll(pts: np.ndarray) -> float:
    """Degrees (counter-clockwise as seen) that level a sticker with the eye line in the crop.

    The crop's own rotation is a fit to five points (eyes, nose, mouth corners), which can differ from
    the eye line by a few degrees; a sticker should sit level with the eyes, as a person sees roll."""
    d = anchor_point(pts, "left_eye") - anchor_point(pts, "right_eye")
    return -float(np.degrees(np.arctan2(d[1], d[0])))


def place(paste: Paste | Sticker, part_or_none: str | None, target_pts: np.ndarray,
          source_pts: np.ndarray | None, anchor_default: str | int) -> tuple[np.ndarray, np.ndarray]:
    """(source centre, target point) in crop pixels for a paste or a sticker."""
    iod = interocular(target_pts)
    target = anchor_point(target_pts, paste.anchor if paste.anchor is not None else anchor_default)
    target = target + np.asarray(paste.offset) * iod
    spread = getattr(paste, "spread", 0.0)
    if spread:
        side = np.sign(target[0] - midline_x(target_pts)) or 1.0
        target[0] += side * spread * iod
    center = part_center(source_pts, part_or_none) if part_or_none else target
    return center, target


def _reshade_blank(canvas: np.ndarray, blank: np.ndarray, original: np.ndarray, hole: np.ndarray,
                   restored: np.ndarray, regions: list[np.ndarray], reach: float | None = None) -> None:
    """Bend the blank (in place) to meet parts put back unchanged over it.

    Such a part keeps its own shading (an eye in its shaded socket), but the blank around it was filled
    to match the hole's outer border, often lighter: they would meet in a step. A membrane over the
    blank that is still showing takes the difference at the restored parts' edges to zero at the hole's
    border (and at moved parts, already matched to the blank)."""
    free = hole.copy()
    for r in regions:
        free &= ~r
    box = mask_box(free, pad=3)
    if box is None:
        return
    f, rest = free[box], restored[box]
    # The shading difference along the restored parts' edges (a band as wide as their soft edge),
    # smoothed along them: the socket's shade carries on into the blank, a lash or a crease does not.
    sigma = max(2.0, 0.04 * canvas.shape[0])
    k = 2 * int(sigma) + 1
    edge = rest & cv2.dilate(f.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    # (The normalised blur runs on a smaller copy at this width: two full-size 20 px blurs took 4 ms.)
    smooth = masked_blur(original[box].astype(np.float32) - blank[box], edge, sigma)
    h = membrane(np.where(rest[..., None], smooth, 0.0).astype(np.float32), f)
    if reach is not None:
        # Only near the restored parts: a socket's shade bends the blank next to the eye, and the skin where
        # the brows were keeps the forehead's tone instead of a grey band.
        d = cv2.distanceTransform((~rest).astype(np.uint8), cv2.DIST_L2, 3)
        h *= np.exp(-((d / reach) ** 2))[..., None]
    canvas[box] += np.where(f[..., None], h, 0.0)


# Paste part -> the parser classes that are the part itself (inner_face: the whole region, less occluders).
def _part_classes(part: str) -> tuple[int, ...] | None:
    from ..masks.face_parser import BROWS, EYES, INNER_MOUTH, LIPS, NOSE

    if part.endswith("brow") or part == "brows":
        return (BROWS,)
    if part.endswith("eye") or part == "eyes":
        return (EYES,)
    return {"nose": (NOSE,), "mouth": (LIPS, INNER_MOUTH)}.get(part)


_RESHADE_REACH = 0.12  # interocular units: how far a restored part's shade bends the blank
_MARGIN = 0.14  # interocular units: the skin kept around a moved part's own pixels (lids; where its border runs)
_MARGIN_KEPT = 0.05  # the same for a part put back where it was (only its edge over a neighbour's hole)
# With a parser: the share of the blank's shading change that a moved part's own pixels take on, by the part's
# source. All of it lifts a shaded eye's white into a glare patch on a lighter blank; its skin margin takes
# all of it. The face's own parts take none (was 0.35): comic's shrunk eyes, whose margin is narrow, came out
# washed out, the iris lifted to grey on side-lit and fringe faces, and a lit nose tip moved by toonized got a
# white glare; kept, they read clearly (look sheet at 384 px, comic, toonized, mono-eye: no dark eye patch).
# A donor's parts were lit elsewhere and keep 0.35 (none left a donor's lips purple on a pale face).
# Development look faces (79), medians: tone gap and seam within 0.015 for every edit.
_PART_SHADING = {"self": 0.0, "donor": 0.35}


def source_region(src: PartSource, part: str, shape: tuple[int, int],
                  moved: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(HxW bool: what is cut from ``src`` to paste ``part``, HxW bool: the part's own pixels or None).

    Without parser labels, the dilated landmark region and None. With them, never an occluder (hair,
    glasses, a hand), and the part is its own pixels with a margin of skin for the lids and the border
    to run through (the dilated region brought the old socket's shade along as a band); ``moved``: the
    part goes elsewhere, else it is put back where it was."""
    region = part_region(src.points, part, shape)
    if src.labels is None:
        return region, None
    labels = src.labels
    region &= ~src.kept_pixels()
    classes = _part_classes(part)
    if classes is None or not (moved or classes == _part_classes("eyes")):
        # A nose or mouth put back where it was keeps its wide region: its border runs through plain skin
        # rather than along its own shaded sides. Only eyes put back under erased brows are cut close, so
        # the socket's shade does not come back above them as a band.
        return region, None
    own = np.isin(labels, classes).astype(np.float32)
    if own.shape[0] != shape[0]:
        own = cv2.resize(own, shape[::-1], interpolation=cv2.INTER_LINEAR)
    own = (own > 0.5) & region
    if own.sum() < 16:  # the parser did not find the part here: the landmark region as it is
        return region, None
    iod = interocular(src.points)
    region &= grow(own, (_MARGIN if moved else _MARGIN_KEPT) * iod)
    return region, own


def paste_part(canvas: np.ndarray, paste: Paste, src: PartSource, target_pts: np.ndarray,
               allowed: np.ndarray, blank: np.ndarray | None = None,
               bend: np.ndarray | None = None) -> np.ndarray | None:
    """Move one part from ``src`` onto ``canvas`` (float32 crop, in place); returns the region it covers.

    ``blank`` (crop bool): the blank face still showing. Where a Poisson-pasted part with ``shading`` < 1
    meets it, the part takes only that share of their shading difference and the rest goes into ``bend``
    (crop float32, on the border's blank side), by which ``bend_blank`` then bends the blank to meet it."""
    s = canvas.shape[0]
    center, target = place(paste, paste.part, target_pts, src.points, paste.part)
    m = Placement(center, target, paste.scale, paste.rotate).matrix()
    region, own = source_region(src, paste.part, (s, s), not _unchanged(paste))
    region = region.astype(np.uint8) * 255
    # Warp only the box the part lands in: the crop outside it is never looked at.
    x, y, w, h = cv2.boundingRect(region)
    if w == 0:
        return None
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64) @ m[:, :2].T + m[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 3, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 4, s)
    if x1 <= x0 or y1 <= y0:
        return None
    box = (slice(y0, y1), slice(x0, x1))
    mb = m.copy()
    mb[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    r = (cv2.warpAffine(region, mb, size, flags=cv2.INTER_LINEAR) > 127) & allowed[box]
    if not r.any():
        return None
    part = cv2.warpAffine(src.crop, mb, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    part = part.astype(np.float32)
    dst = canvas[box]
    iod = interocular(target_pts)
    if _unchanged(paste):
        # A part put back where it was (over a neighbour's hole) keeps its own pixels: matching it to
        # the blank would re-shade an untouched eye. The blank is bent towards it afterwards, and a
        # soft edge hides what is left (lashes, a lid crease cut by the edge).
        a = feather(r, 0.05 * iod)[..., None]
        out = a * part + (1 - a) * dst
    elif paste.blend == "alpha":
        a = feather(r, 0.05 * iod)[..., None]
        out = a * part + (1 - a) * dst
    else:
        share = 1.0
        if blank is not None and bend is not None and paste.shading < 1.0:
            share = np.where(blank[box], np.float32(paste.shading), np.float32(1.0))
        out = poisson_blend(dst, part, r, mode="gain" if paste.blend == "poisson" else "mixed",
                            fade=_FADE * iod, max_gain=3.0 if paste.source == "donor" else 1.5,
                            share=share, rest=None if bend is None else bend[box])
        if own is not None and paste.blend == "poisson":
            # The part's own pixels (iris, white, lips) keep most of their tone; the skin around them takes
            # the blank's shading in full, so the border still matches exactly.
            w = cv2.warpAffine(own.astype(np.float32), mb, size, flags=cv2.INTER_LINEAR)
            w = cv2.GaussianBlur(w, (0, 0), max(0.8, 0.02 * iod)) * r
            out -= ((1.0 - _PART_SHADING[paste.source]) * w)[..., None] * (out - part)
    if paste.opacity < 1.0:
        out = paste.opacity * out + (1.0 - paste.opacity) * dst
    canvas[box] = out
    moved = np.zeros((s, s), bool)
    moved[box] = r
    return moved


def bend_blank(canvas: np.ndarray, free: np.ndarray, bend: np.ndarray) -> None:
    """Bend the blank face still showing (``free``, crop bool) in place: by ``-bend`` where moved parts meet
    it (``paste_part``), to nothing at the rest of its border (the face around the hole, hair on top)."""
    fixed = free & np.any(bend != 0, axis=-1)
    box = mask_box(free, pad=2)
    if box is None or not fixed.any():
        return
    f, fx = free[box], fixed[box]
    h = membrane(np.where(fx[..., None], -bend[box], 0.0).astype(np.float32), f & ~fx)
    canvas[box] += np.where(f[..., None], h, 0.0)


def paste_sticker_in_crop(canvas: np.ndarray, sticker: Sticker, image: StickerImage, pts: np.ndarray,
                          allowed: np.ndarray) -> np.ndarray | None:
    """Poisson/mixed stickers: blended in the crop so they take on the skin's shading (or texture)."""
    s = canvas.shape[0]
    _, target = place(sticker, None, pts, None, "face")
    to_crop = sticker_to_crop(image, target, sticker.width * interocular(pts), sticker.rotate + eye_line_roll(pts))
    color, alpha = sticker_in_crop(image, to_crop, s)
    region = (alpha > 0.5) & allowed
    box = mask_box(region, pad=3)
    if box is None:
        return None
    blended = poisson_blend(canvas[box], color[box], region[box],
                            mode="normal" if sticker.blend == "poisson" else "mixed")
    a = (np.minimum(alpha[box], region[box]) * sticker.opacity)[..., None]
    canvas[box] = a * blended + (1 - a) * canvas[box]
    return region


# Erase part -> the paste parts that together restore all of it.
_RESTORES = {"brows": ({"brows"}, {"left_brow", "right_brow"}), "eyes": ({"eyes"}, {"left_eye", "right_eye"}),
             "nose": ({"nose"},), "mouth": ({"mouth"},)}


def _unchanged(p: Paste) -> bool:
    return (p.source == "self" and p.scale == 1.0 and p.rotate == 0.0 and p.offset == (0.0, 0.0)
            and p.spread == 0.0 and p.anchor in (None, p.part) and p.opacity == 1.0)


def plan(effect: Resolved) -> tuple[str, ...]:
    """The parts to erase: those not pasted back unchanged.

    A part pasted back unchanged is simply not erased: same picture, less work, and it keeps its own
    shading, where pasted onto the blank face it would take on the blank's (usually lighter: the fill
    takes its colour from lit skin). Its unchanged paste still runs where an erased neighbour's hole
    reaches into it (low brows over the eyes), or where a moved part may have covered it."""
    same = {p.part for p in effect.pastes if _unchanged(p)}
    if "inner_face" in same:
        same |= {"brows", "eyes", "nose", "mouth"}
    return tuple(e for e in effect.erase if not any(opt <= same for opt in _RESTORES[e]))


def _composite(canvas: np.ndarray, a: np.ndarray, erased: FaceErase | None,
               crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crop to paste (uint8) and its alpha: ``canvas`` with soft edge ``a`` over the blank face and
    the blank's own soft edge, as one colour and one alpha, so the face is resampled once. Only the box
    under the alpha is computed (a fraction of a 512 px crop)."""
    a_blank = erased.crop_alpha if erased is not None else None
    box = mask_box((a > 0) if a_blank is None else (a > 0) | (a_blank > 0), pad=3)
    base = erased.blank if erased is not None else crop
    out = base.copy()
    alpha = np.zeros_like(a)
    if box is None:
        return out, alpha
    ab, c = a[box], canvas[box]
    if a_blank is not None:
        a_all = 1.0 - (1.0 - ab) * (1.0 - a_blank[box])
        w = np.divide(ab, a_all, out=np.ones_like(ab), where=a_all > 0)[..., None]
        c = w * c + (1.0 - w) * base[box]
        ab = a_all
    out[box] = np.clip(c + 0.5, 0, 255).astype(np.uint8)
    alpha[box] = ab
    return out, alpha


def apply_to_face(image: np.ndarray, face: Face, effect: Resolved, stickers: dict,
                  donor_for_size=None, size: int | None = None, plans: PlanCache | None = None,
                  parser="auto", remove_glasses: bool = False) -> FaceEffect:
    """Apply ``effect`` to one face of ``image`` (HxWx3 uint8 BGR), in place.

    ``stickers``: loaded sticker images by path. ``donor_for_size(size)`` gives the donor's aligned
    crop at this face's crop size (for ``source = "donor"`` pastes). ``plans``: in video, the eraser
    reuses a tracked face's clone plan from the previous frame (see inpaint/plan_cache.py).
    ``parser``: the face parser the eraser and the pastes use (EraseSettings.parser: "auto", None or one).
    ``remove_glasses``: glasses are edited like skin instead of staying on top.
    """
    clock = time.perf_counter
    times = {}
    c0 = clock()
    s = size or work_size(face)
    erase_parts = plan(effect)
    erased = None
    if erase_parts:
        # Not pasted here: the composite below goes in with one paste, so the face is resampled once.
        # (whole=False: nothing outside the face's box of the crop reaches the composite's paste.)
        erased = blank_face(image, face, EraseSettings(erase_parts, size=s, parser=parser, remove_glasses=remove_glasses),
                            plans, track_key(face), whole=False)
        transform, crop, blank, hole = erased.transform, erased.crop, erased.blank, erased.hole
        labels = erased.labels
    else:
        transform = align_face(face.five_points(), s)
        crop = transform.warp(image, cv2.INTER_CUBIC, fill_box(transform, face))
        blank, hole = crop, np.zeros((s, s), bool)
        labels = trusted_labels(resolve_parser(parser), image, face)
    c1 = clock()
    times["erase"] = c1 - c0
    pts = transform.to_crop(face.landmarks)
    iod = interocular(pts)
    t = min(effect.strength, 1.0)
    canvas = blank.astype(np.float32)
    if t < 1.0 and erase_parts:  # a weaker effect erases less: the parts show through
        canvas = t * canvas + (1.0 - t) * crop.astype(np.float32)
    # Parts may land anywhere on the face (an enlarged mouth reaches the cheeks), never on background.
    allowed = grow(face_region(pts, (s, s)), 0.05 * iod)
    allowed[:2] = allowed[-2:] = False
    allowed[:, :2] = allowed[:, -2:] = False
    self_src = PartSource(crop, pts, labels, remove_glasses=remove_glasses)
    notes = [] if remove_glasses else _glasses_note(labels, pts, s, effect)
    if labels is not None:  # hair, glasses and hands stay on top of whatever is pasted
        allowed &= ~self_src.kept_pixels()
    the_parser = resolve_parser(parser) if labels is not None else None
    regions = []
    moved_before = False
    blank_before = canvas.copy()
    restored = np.zeros((s, s), bool)
    showing = hole.copy()  # the blank face not yet covered by a paste
    # (Only for pastes that share their shading with the blank: no full-crop array and scan per frame else.)
    bend = np.zeros((s, s, 3), np.float32) if any(p.shading < 1.0 for p in effect.pastes) else None
    unchanged: list[bool] = []
    for p in effect.pastes:
        if _unchanged(p) and not moved_before and not (part_region(pts, p.part, (s, s)) & hole).any():
            continue  # nothing of it was erased or covered: the original is already there
        moved_before |= not _unchanged(p)
        src = self_src if p.source == "self" else donor_for_size(s)
        if src.labels is None and the_parser is not None:  # a donor: parsed once per crop size
            src.labels = the_parser.parse(src.crop)
        r = paste_part(canvas, p, src, pts, allowed, showing, bend)
        if r is not None:
            regions.append(r)
            unchanged.append(_unchanged(p))
            showing &= ~r
            if _unchanged(p):
                restored |= r
    if bend is not None and bend.any():
        bend_blank(canvas, showing, bend)
    if (restored & hole).any():
        _reshade_blank(canvas, blank_before, crop, hole, restored, regions,
                       _RESHADE_REACH * iod)
    for st in effect.stickers:
        if st.blend in ("poisson", "mixed"):
            r = paste_sticker_in_crop(canvas, st, stickers[st.image], pts, allowed)
            if r is not None:
                regions.append(r)
                unchanged.append(False)
    c2 = clock()
    times["compose"] = c2 - c1
    cover = hole.copy()
    for r in regions:
        cover |= r
    alpha = None
    if regions or (erase_parts and t < 1.0):
        alpha = paste_back(image, *_composite(canvas, feather(cover, 0.03 * iod), erased, crop), transform)
    elif erased is not None:
        alpha = paste_back(image, erased.blank, erased.crop_alpha, transform)
    c3 = clock()
    times["paste"] = c3 - c2
    for st in effect.stickers:
        if st.blend not in ("poisson", "mixed"):
            _, target = place(st, None, pts, None, "face")
            to_crop = sticker_to_crop(stickers[st.image], target, st.width * iod, st.rotate + eye_line_roll(pts))
            cov = draw_sticker(image, stickers[st.image], to_crop, transform, st.blend, st.opacity)
            alpha = cov if alpha is None else np.maximum(alpha, cov)
    times["stickers"] = clock() - c3
    return FaceEffect(face, transform, regions, unchanged, hole, erased, alpha, times, notes)


GLASSES_OVER_EYES = 0.3  # share of the eye regions under glasses above which an eye edit is said to be kept


def _glasses_note(labels: np.ndarray | None, pts: np.ndarray, size: int, effect: Resolved) -> list[str]:
    """A note when glasses (kept on top by default) cover the eyes that the effect erases or moves."""
    if labels is None or not wears_glasses(labels):
        return []
    eyes = "eyes" in effect.erase or any(p.part == "eyes" and not _unchanged(p) for p in effect.pastes)
    if not eyes:
        return []
    from ..masks.face_parser import GLASSES

    region = part_region(pts, "eyes", (size, size))
    lab = labels if labels.shape[0] == size else cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
    if not region.any() or (lab[region] == GLASSES).mean() < GLASSES_OVER_EYES:
        return []
    return ["glasses cover the eyes and stay on top, so the eyes under them are left as they are "
            "(--remove-glasses edits under them)"]

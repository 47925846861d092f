"""Synthetic blank faces for the eraser's evaluation (FaceEraser, Hua et al. 2021, section 3.2).

A face has no ground truth for "the same face without brows, eyes, nose and mouth", so the paper builds one:
the forehead above the eyebrows is real, part-free skin. Crop it, resize it to 256x128, flip it vertically and
stitch ``[forehead; flipped forehead]`` into a 256x256 "blank face". Facial-part holes cut into it (taken from
other faces, see ``erase_eval``) then have a known answer.

Data layout: ``DIR/images/*.jpg`` with CelebAMask-HQ parsing masks ``DIR/masks/<same stem>.png`` (palette
indices, see ``LABELS``). Without masks (``DIR/images`` or ``DIR`` holding images only) the brows come from the
MediaPipe landmarks, and the box must lie between the sides of the face oval, match the face's skin colour and
be of nearly one colour (there is no parsing to find a fringe, so this test is strict).

The crop box: centred on the brows, ``width_factor`` x the brows' horizontal span wide (a bit wider than the
brows), half as high, its bottom just above the brows' top line. Most CelebA-HQ foreheads are partly covered by
a fringe at that size (on the 1000-image CelebAMask-HQ sample 5 pass), so when the full box is not (almost) all
skin the box shrinks in steps down to ``min_width_factor``, keeping its bottom edge and its centre, and the face
is skipped only when no size passes (444 of those 1000 are kept). The boxes are then ~100-250 px wide in a
512 px image, so the 256x128 forehead is upsampled ~1.7x (median): its grain is coarser and softer than a
native 256 px face's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..analysis import Face, FaceAnalyzer
from ..masks import face_region, part_masks, union
from ..masks.skin import skin_like

# CelebAMask-HQ label order of the parsing masks.
LABELS = ("background", "skin", "nose", "eyeglasses", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
          "mouth", "u_lip", "l_lip", "hair", "hat", "earring", "necklace", "neck", "cloth")
SKIN, EYEGLASSES, L_BROW, R_BROW, HAIR, HAT = 1, 3, 6, 7, 13, 14
OCCLUDERS = (EYEGLASSES, HAIR, HAT)

BLANK_SIZE = 256
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class BlankFace:
    """A 256x256x3 uint8 BGR blank face: a forehead crop over its own vertical mirror image."""

    image: np.ndarray
    name: str
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # forehead crop (x0, y0, x1, y1) in the source image
    source: str = "mask"  # what found the brows: "mask" (parsing) or "landmarks"


@dataclass(frozen=True)
class ForeheadRules:
    """When a forehead box is accepted."""

    width_factor: float = 1.1  # box width / brows' span, first try
    min_width_factor: float = 0.6  # smallest box tried before the face is skipped
    step: float = 0.05
    gap: float = 0.04  # space between the box's bottom and the brows' top, as a fraction of the brows' span
    min_skin: float = 0.97  # parsing mode: fraction of the box that must be class 1 (skin)
    max_occluder: float = 0.002  # parsing mode: most hair + hat + eyeglasses allowed (grown by edge_margin)
    edge_margin: float = 0.02  # parsing mode: label edges are trusted to this fraction of the brows' span
    min_span: float = 40.0  # brows' span in source pixels below which the face is too small
    max_nonskin: float = 0.12  # most pixels of the box off the face's own skin colour (paint, tape, glare)
    max_nonskin_landmarks: float = 0.03  # the same without a parsing mask, where colour is the only hair test
    max_dark_detail: float = 0.05  # most pixels much darker than their surroundings (strands, nets, paint lines)
    dark_detail: float = 12.0  # how much darker (8-bit Lab lightness) than a blur of ~2% of the box width
    # Landmark mode only (no parsing to find a fringe): the box must be of nearly one colour.
    max_outliers: float = 0.02  # most pixels farther than outlier_delta_e from the box's median Lab colour
    outlier_delta_e: float = 22.0  # 8-bit Lab units
    max_lightness_std: float = 14.0  # 8-bit Lab lightness


DEFAULT_RULES = ForeheadRules()


@dataclass
class BlankFaceScan:
    """What ``scan_blank_faces`` found: kept faces, and the reason each other file was skipped."""

    faces: list[BlankFace]
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    n_read: int = 0


# ------------------------------------------------------------------ files


def list_face_files(data_dir: str | Path, limit: int | None = None) -> list[tuple[Path, Path | None]]:
    """Sorted (image, parsing mask or None) pairs of ``data_dir``; at most ``limit`` of them."""
    root = Path(data_dir)
    img_dir = root / "images" if (root / "images").is_dir() else root
    if not img_dir.is_dir():
        raise FileNotFoundError(f"no such data directory: {root}")
    mask_dir = root / "masks"
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    out = []
    for p in files[: None if limit is None else max(0, int(limit))]:
        m = mask_dir / f"{p.stem}.png"
        out.append((p, m if m.is_file() else None))
    return out


def read_bgr(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def read_parsing(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """HxW uint8 label map of a palette (or grayscale) parsing mask, resized (nearest) to ``shape``."""
    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            raise ValueError(f"{path}: expected a palette or grayscale label mask, got mode {im.mode}")
        labels = np.array(im, np.uint8)
    if shape is not None and labels.shape != tuple(shape[:2]):
        labels = cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return labels


# ------------------------------------------------------------------ geometry


def forehead_box(brow_top: float, x0: float, x1: float, factor: float, gap: float) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), 2:1, ``factor`` x the span ``x1 - x0`` wide, centred, bottom just above ``brow_top``."""
    span = x1 - x0
    w = max(2, int(round(span * factor)))
    h = max(1, int(round(w / 2)))
    bx0 = int(round((x0 + x1) / 2 - w / 2))
    by1 = int(np.floor(brow_top - gap * span))
    return bx0, by1 - h, bx0 + w, by1


def _inside(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> bool:
    x0, y0, x1, y1 = box
    return x0 >= 0 and y0 >= 0 and x1 <= shape[1] and y1 <= shape[0] and x1 > x0 and y1 > y0


def _factors(rules: ForeheadRules) -> np.ndarray:
    n = int(np.floor((rules.width_factor - rules.min_width_factor) / rules.step + 1e-6)) + 1
    return rules.width_factor - rules.step * np.arange(max(1, n))


def stitch_forehead(image: np.ndarray, box: tuple[int, int, int, int], size: int = BLANK_SIZE) -> np.ndarray:
    """Crop ``box``, resize to ``size`` x ``size/2``, and stack it over its vertical flip: ``size`` x ``size``."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    half = size // 2
    interp = cv2.INTER_AREA if crop.shape[1] > size else cv2.INTER_CUBIC
    top = cv2.resize(crop, (size, half), interpolation=interp)
    return np.ascontiguousarray(np.vstack([top, top[::-1]]))


# ------------------------------------------------------------------ parsing-mask mode


def forehead_from_parsing(labels: np.ndarray, rules: ForeheadRules = DEFAULT_RULES, image: np.ndarray | None = None
                          ) -> tuple[tuple[int, int, int, int] | None, str]:
    """(box, "") for the largest passing forehead box of a label map, or (None, reason).

    With the BGR ``image`` the box must also look like the face's skin (face paint, tape, blown-out glare and
    hair strands that the parsing calls skin are turned away)."""
    left, right = labels == L_BROW, labels == R_BROW
    if left.sum() < 30 or right.sum() < 30:
        return None, "brows not both visible"
    ys, xs = np.nonzero(left | right)
    top = float(np.percentile(ys, 1))
    x0, x1 = (float(v) for v in np.percentile(xs, [0.5, 99.5]))
    if x1 - x0 < rules.min_span:
        return None, "face too small"
    # Parsing edges are a few pixels off: count skin only away from its border, and hair near the box as in it.
    r = max(1, int(round(rules.edge_margin * (x1 - x0))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    skin = cv2.erode((labels == SKIN).astype(np.uint8), kernel)
    occluder = cv2.dilate(np.isin(labels, OCCLUDERS).astype(np.uint8), kernel)
    skin_map = None
    reason = "forehead box leaves the image"
    for f in _factors(rules):
        box = forehead_box(top, x0, x1, f, rules.gap)
        if not _inside(box, labels.shape):
            continue
        x, y, xe, ye = box
        if skin[y:ye, x:xe].mean() < rules.min_skin or occluder[y:ye, x:xe].mean() > rules.max_occluder:
            reason = "forehead not clear skin (hair, hat or glasses)"
            continue
        if image is None:
            return box, ""
        if skin_map is None:
            skin_map = _skin_map(image, labels == SKIN)
        if _colour_ok(image, box, skin_map, rules.max_nonskin, rules):
            return box, ""
        reason = "forehead colour unlike skin (paint, glare or strands)"
    return None, reason


# ------------------------------------------------------------------ landmark mode


def _skin_map(image: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """``skin_like`` at half resolution (4x cheaper; enough for a fraction over a box), back at full size."""
    half = skin_like(image[::2, ::2], sample[::2, ::2])
    return np.repeat(np.repeat(half, 2, 0), 2, 1)[: image.shape[0], : image.shape[1]]


def _colour_ok(image: np.ndarray, box: tuple[int, int, int, int], skin_map: np.ndarray,
               max_nonskin: float, rules: ForeheadRules) -> bool:
    """The box looks like the face's skin (``skin_map`` from ``skin_like``) and has few dark strands or lines."""
    x0, y0, x1, y1 = box
    if 1.0 - skin_map[y0:y1, x0:x1].mean() > max_nonskin:
        return False
    light = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    detail = light - cv2.GaussianBlur(light, (0, 0), max(1.5, 0.02 * (x1 - x0)))
    return (detail < -rules.dark_detail).mean() <= rules.max_dark_detail


def _uniform(patch: np.ndarray, rules: ForeheadRules) -> bool:
    """Few pixels far (Lab) from the patch's median colour, and little spread of lightness."""
    lab = cv2.cvtColor(patch, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    far = np.sqrt(((lab - np.median(lab, 0)) ** 2).sum(1)) > rules.outlier_delta_e
    return far.mean() <= rules.max_outliers and lab[:, 0].std() <= rules.max_lightness_std


def forehead_from_landmarks(image: np.ndarray, face: Face, rules: ForeheadRules = DEFAULT_RULES
                            ) -> tuple[tuple[int, int, int, int] | None, str]:
    """(box, "") from the brows' landmarks, the box within the face's width and skin-coloured;
    or (None, reason)."""
    brows = np.vstack([face.points("right_brow"), face.points("left_brow")])
    top = float(brows[:, 1].min())
    x0, x1 = float(brows[:, 0].min()), float(brows[:, 0].max())
    if x1 - x0 < rules.min_span:
        return None, "face too small"
    if abs(face.pose.yaw) > 20 or abs(face.pose.roll) > 15:
        return None, "face not frontal"
    # MediaPipe's oval stops low on the forehead, so only its sides bound the box; colour does the rest.
    oval = face.points("face_oval")
    sample = face_region(face.landmarks, image.shape) & ~union(part_masks(face.landmarks, image.shape,
                                                                           dilation_scale=1.5))
    skin_map = _skin_map(image, sample)
    reason = "forehead box leaves the image"
    for f in _factors(rules):
        box = forehead_box(top, x0, x1, f, rules.gap)
        if not _inside(box, image.shape):
            continue
        reason = "forehead box wider than the face"
        if box[0] < oval[:, 0].min() or box[2] > oval[:, 0].max():
            continue
        if (_colour_ok(image, box, skin_map, rules.max_nonskin_landmarks, rules)
                and _uniform(image[box[1]:box[3], box[0]:box[2]], rules)):
            return box, ""
        reason = "forehead colour unlike skin (hair, shadow or glare)"
    return None, reason


# ------------------------------------------------------------------ one image, a directory


def blank_face(image: np.ndarray, name: str = "", labels: np.ndarray | None = None, face: Face | None = None,
               rules: ForeheadRules = DEFAULT_RULES) -> tuple[BlankFace | None, str]:
    """Blank face of one BGR image, from its parsing ``labels`` if given, else from the landmarks of ``face``."""
    if labels is not None:
        box, reason = forehead_from_parsing(labels, rules, image)
        source = "mask"
    elif face is not None:
        box, reason = forehead_from_landmarks(image, face, rules)
        source = "landmarks"
    else:
        return None, "no face found"
    if box is None:
        return None, reason
    return BlankFace(stitch_forehead(image, box), name, box, source), ""


def scan_blank_faces(data_dir: str | Path, limit: int | None = None, analyzer: FaceAnalyzer | None = None,
                     rules: ForeheadRules = DEFAULT_RULES, progress: bool = False) -> BlankFaceScan:
    """Blank faces of the first ``limit`` images of ``data_dir`` (sorted by name), with skip reasons."""
    files = list_face_files(data_dir, limit)
    own = None
    scan = BlankFaceScan([], {}, len(files))
    try:
        for img_path, mask_path in tqdm(files, desc="blank faces", file=sys.stderr, disable=not progress):
            image = read_bgr(img_path)
            labels = face = None
            if mask_path is not None:
                labels = read_parsing(mask_path, image.shape)
            else:
                if analyzer is None:
                    analyzer = own = FaceAnalyzer(max_faces=1)
                faces = analyzer.detect(image)
                face = faces[0] if faces else None
            bf, reason = blank_face(image, img_path.stem, labels, face, rules)
            if bf is None:
                scan.skipped[img_path.stem] = reason
            else:
                scan.faces.append(bf)
    finally:
        if own is not None:
            own.close()
    return scan


def load_blank_faces(data_dir: str | Path, limit: int | None = None, analyzer: FaceAnalyzer | None = None,
                     rules: ForeheadRules = DEFAULT_RULES, progress: bool = False) -> list[BlankFace]:
    """The blank faces of the first ``limit`` images of ``data_dir``; faces without a clear forehead are skipped."""
    return scan_blank_faces(data_dir, limit, analyzer, rules, progress).faces

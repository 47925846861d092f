"""Face-parser data: CelebAMask-HQ labels remapped to the parser's label set, warped once to the project's
canonical aligned crop and cached, then augmented on the fly (geometry, photometric, blur/JPEG, synthetic
occluders labelled "other").

Layout expected under ``--data``: ``images/*.jpg`` (512x512) and ``masks/*.png`` (palette PNGs, same stem,
CelebAMask-HQ order). Nothing here needs torch; the ``torch`` Dataset wrapper lives in parser_train.

The cache (``build_cache``) holds, per stem: the 256 canonical crop (BGR, borders replicated as at
inference) and its label map (INTER_NEAREST), with IGNORE where the crop falls outside the source image,
so those pixels carry no loss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# The parser's label set (kept in sync with facecanvas.masks.face_parser.CLASSES, which must not import this
# module's training dependencies; a unit test checks they agree).
CLASSES = ("background", "skin", "brows", "eyes", "nose", "lips", "inner_mouth", "hair", "glasses", "ears",
           "neck", "hat", "other")
NUM_CLASSES = len(CLASSES)
IGNORE = 255
OTHER = CLASSES.index("other")

# CelebAMask-HQ ids: 0 bg, 1 skin, 2 nose, 3 eyeglasses, 4 l_eye, 5 r_eye, 6 l_brow, 7 r_brow, 8 l_ear,
# 9 r_ear, 10 mouth (inner), 11 u_lip, 12 l_lip, 13 hair, 14 hat, 15 earring, 16 necklace, 17 neck, 18 cloth.
# Earrings join the ears, the necklace joins the neck, cloth is background.
CELEBAMASK_TO_PARSER = np.array([0, 1, 4, 8, 3, 3, 2, 2, 9, 9, 6, 5, 5, 7, 11, 9, 10, 10, 0], np.uint8)


def remap_celebamask(mask: np.ndarray) -> np.ndarray:
    lut = np.full(256, IGNORE, np.uint8)
    lut[: len(CELEBAMASK_TO_PARSER)] = CELEBAMASK_TO_PARSER
    return lut[mask]


def load_celebamask(path: Path) -> np.ndarray:
    """The raw palette indices (cv2.imread would expand the palette to colours)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode != "P" and im.mode != "L":
            raise ValueError(f"{path}: expected a palette or grey mask, got mode {im.mode}")
        return np.array(im)


def split_of(stem: str, test_fraction: float = 0.15) -> str:
    """Deterministic split by the md5 of the file stem: 'test' or 'train'."""
    h = int(hashlib.md5(stem.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def split_stems(stems: list[str], n_test: int = 150) -> tuple[list[str], list[str]]:
    """Exactly ``n_test`` held-out stems: the ones with the smallest md5 of their name (order-free)."""
    ranked = sorted(stems, key=lambda s: hashlib.md5(s.encode()).hexdigest())
    test = sorted(ranked[:n_test])
    train = sorted(ranked[n_test:])
    return train, test


def list_stems(data: Path) -> list[str]:
    data = Path(data)
    return sorted(p.stem for p in (data / "images").glob("*.jpg") if (data / "masks" / f"{p.stem}.png").exists())


def canonical_crop(bgr: np.ndarray, mask: np.ndarray | None, points5: np.ndarray, size: int = 256):
    from facecanvas.analysis.align import align_face

    t = align_face(points5, size)
    crop = t.warp(bgr)
    lab = None
    if mask is not None:
        lab = cv2.warpAffine(mask, t.matrix, (size, size), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    return crop, lab, t


def build_cache(data: Path, cache: Path, size: int = 256, log=print) -> dict:
    """Detect each face once, warp image and remapped mask to the canonical crop, save as npz under cache.

    Returns the index {stem: {"ok": bool, ...}}; images without a detected face are left out of training."""
    data, cache = Path(data), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    index_path = cache / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    stems = list_stems(data)
    todo = [s for s in stems if s not in index]
    if not todo:
        return index
    from facecanvas.analysis import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        for i, stem in enumerate(todo):
            bgr = cv2.imread(str(data / "images" / f"{stem}.jpg"), cv2.IMREAD_COLOR)
            raw = load_celebamask(data / "masks" / f"{stem}.png")
            if raw.shape[:2] != bgr.shape[:2]:
                raw = cv2.resize(raw, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST)
            faces = analyzer.detect(bgr)
            if not faces:
                index[stem] = {"ok": False}
                continue
            crop, lab, _ = canonical_crop(bgr, remap_celebamask(raw), faces[0].five_points(), size)
            np.savez(cache / f"{stem}.npz", image=crop, label=lab)
            index[stem] = {"ok": True, "faces": len(faces)}
            if (i + 1) % 100 == 0:
                log(f"cache: {i + 1}/{len(todo)}")
                index_path.write_text(json.dumps(index))
    index_path.write_text(json.dumps(index))
    return index


def load_cached(cache: Path, stems: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    imgs, labs, kept = [], [], []
    for s in stems:
        p = Path(cache) / f"{s}.npz"
        if p.exists():
            z = np.load(p)
            imgs.append(z["image"])
            labs.append(z["label"])
            kept.append(s)
    return np.stack(imgs), np.stack(labs), kept


# ---------------------------------------------------------------------------------------------- augmentation

@dataclass
class AugConfig:
    out_size: int = 256
    p_flip: float = 0.5
    scale: tuple[float, float] = (0.85, 1.2)
    rotate_deg: float = 15.0
    shift: float = 0.06  # of the crop size
    p_photo: float = 0.9
    p_side_light: float = 0.3
    p_blur: float = 0.25
    p_jpeg: float = 0.3
    p_noise: float = 0.2
    p_occluder: float = 0.4
    p_gray: float = 0.05


def _geometry(img, lab, rng, cfg: AugConfig):
    n = img.shape[0]
    s = cfg.out_size / n
    if rng.random() < cfg.p_flip:
        img, lab = img[:, ::-1], lab[:, ::-1]
    scale = rng.uniform(*cfg.scale) * s
    ang = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
    m = cv2.getRotationMatrix2D((n / 2, n / 2), ang, scale)
    m[:, 2] += (cfg.out_size / 2 - n / 2) + rng.uniform(-cfg.shift, cfg.shift, 2) * cfg.out_size
    o = cfg.out_size
    img = cv2.warpAffine(np.ascontiguousarray(img), m, (o, o), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lab = cv2.warpAffine(np.ascontiguousarray(lab), m, (o, o), flags=cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    return img, lab


def _photometric(img, rng, cfg: AugConfig):
    f = img.astype(np.float32)
    if rng.random() < cfg.p_photo:
        f = f * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)  # contrast, brightness
        f = f * rng.uniform(0.8, 1.2, 3)[None, None, :]  # colour cast
        mean = f.mean(2, keepdims=True)
        f = mean + (f - mean) * rng.uniform(0.5, 1.4)  # saturation
    if rng.random() < cfg.p_side_light:
        h, w = f.shape[:2]
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / (w / 2)
        f = f * (1 + rng.uniform(0.2, 0.6) * np.clip(ramp, -1, 1))[..., None]
    if rng.random() < cfg.p_gray:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    if rng.random() < cfg.p_noise:
        f = f + rng.normal(0, rng.uniform(2, 10), f.shape).astype(np.float32)
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < cfg.p_blur:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0) if rng.random() < 0.7 else cv2.blur(img, (k, 1))
    if rng.random() < cfg.p_jpeg:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 70))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def _blob(rng, size, center, radius, n=10):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius * rng.uniform(0.5, 1.0, n)
    pts = np.stack([center[0] + r * np.cos(ang), center[1] + r * np.sin(ang)], 1)
    return pts.astype(np.int32)


def _occlude(img, lab, rng, donors, donor_labels):
    """Paste one random opaque object over the face region; its pixels become OTHER."""
    o = img.shape[0]
    face = np.isin(lab, (1, 2, 3, 4, 5, 6, 8))
    ys, xs = np.nonzero(face)
    if len(ys) < 50:
        return img, lab
    k = rng.integers(len(ys))
    c = np.array([xs[k], ys[k]], np.float64)
    kind = rng.choice(["polygon", "patch", "hand", "bar"], p=[0.3, 0.3, 0.3, 0.1])
    shape = np.zeros((o, o), np.uint8)
    rad = rng.uniform(0.08, 0.25) * o
    if kind == "bar":
        ang = rng.uniform(0, np.pi)
        d = np.array([np.cos(ang), np.sin(ang)]) * rad * 2
        cv2.line(shape, tuple((c - d).astype(int)), tuple((c + d).astype(int)), 1, int(rng.uniform(0.03, 0.08) * o))
    elif kind == "hand":
        cv2.fillPoly(shape, [_blob(rng, o, c, rad, 14)], 1)
        # fingers: a few rounded strokes out of the palm
        base = rng.uniform(0, 2 * np.pi)
        for j in range(int(rng.integers(0, 5))):
            a = base + j * rng.uniform(0.25, 0.4)
            tip = c + rad * rng.uniform(1.3, 1.9) * np.array([np.cos(a), np.sin(a)])
            cv2.line(shape, tuple(c.astype(int)), tuple(tip.astype(int)), 1, max(3, int(rad * 0.3)))
    else:
        nv = int(rng.integers(3, 9))
        cv2.fillPoly(shape, [_blob(rng, o, c, rad, nv)], 1)
    # fill
    if kind == "hand":
        skin = np.array([rng.uniform(60, 200), rng.uniform(90, 210), rng.uniform(130, 240)])  # BGR skin-ish
        fill = np.ones((o, o, 3), np.float32) * skin
        yy, xx = np.mgrid[0:o, 0:o].astype(np.float32)
        fill *= (1 + 0.15 * np.cos((xx - c[0]) / rad * 2))[..., None] * (1 + 0.1 * ((yy - c[1]) / o))[..., None]
        fill += rng.normal(0, 3, fill.shape)
    elif kind == "patch" and donors is not None:
        j = int(rng.integers(len(donors)))
        dl = donor_labels[j]
        src = donors[j]
        # prefer background/cloth texture of another image: take a random window and tile it
        bg = (dl == 0)
        if bg.sum() > 500:
            ys2, xs2 = np.nonzero(bg)
            k2 = rng.integers(len(ys2))
            cy, cx = ys2[k2], xs2[k2]
        else:
            cy, cx = rng.integers(src.shape[0]), rng.integers(src.shape[1])
        w = 48
        y0 = int(np.clip(cy - w, 0, src.shape[0] - 2 * w))
        x0 = int(np.clip(cx - w, 0, src.shape[1] - 2 * w))
        win = src[y0:y0 + 2 * w, x0:x0 + 2 * w]
        fill = cv2.resize(win, (o, o), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    else:
        col = rng.uniform(0, 255, 3)
        fill = np.ones((o, o, 3), np.float32) * col
        if rng.random() < 0.5:
            g = rng.normal(0, 1, (8, 8, 3)).astype(np.float32)
            fill += cv2.resize(g, (o, o)) * rng.uniform(5, 40)
    shape_f = cv2.GaussianBlur(shape.astype(np.float32), (3, 3), 0)[..., None]
    out = img.astype(np.float32) * (1 - shape_f) + np.clip(fill, 0, 255) * shape_f
    lab = lab.copy()
    lab[(shape > 0) & (lab != IGNORE)] = OTHER
    return out.astype(np.uint8), lab


def augment(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator, cfg: AugConfig,
            donors: np.ndarray | None = None, donor_labels: np.ndarray | None = None):
    img, lab = _geometry(img, lab, rng, cfg)
    if rng.random() < cfg.p_occluder:
        img, lab = _occlude(img, lab, rng, donors, donor_labels)
        if rng.random() < 0.2:
            img, lab = _occlude(img, lab, rng, donors, donor_labels)
    img = _photometric(img, rng, cfg)
    return img, lab


def resize_eval(img: np.ndarray, lab: np.ndarray, size: int):
    """A held-out crop at the network's resolution (labels stay at 256 for scoring)."""
    if img.shape[0] != size:
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img, lab


def confusion(pred: np.ndarray, gt: np.ndarray, n: int = NUM_CLASSES) -> np.ndarray:
    keep = gt != IGNORE
    return np.bincount(n * gt[keep].astype(np.int64) + pred[keep], minlength=n * n).reshape(n, n)


def miou_present(cm: np.ndarray) -> float:
    """Mean IoU over the non-background classes that occur in the truth (a class with no true pixel, e.g.
    "other" on clean faces, has an IoU of 0 as soon as it is predicted anywhere; its false positives are
    reported separately)."""
    iou = iou_from_confusion(cm)
    present = cm.sum(1) > 0
    present[0] = False
    return float(np.mean(iou[present]))


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


# BGR colours for overlays (index = class id).
PALETTE = np.array([[0, 0, 0], [128, 178, 255], [0, 60, 120], [255, 255, 0], [0, 200, 255], [60, 20, 220],
                    [130, 0, 100], [20, 70, 150], [255, 0, 200], [0, 128, 255], [200, 160, 120],
                    [180, 0, 0], [0, 255, 0]], np.uint8)


def overlay(img: np.ndarray, lab: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    col = PALETTE[np.where(lab == IGNORE, 0, lab)]
    out = img.astype(np.float32) * (1 - alpha) + col.astype(np.float32) * alpha
    out[lab == 0] = img[lab == 0]
    out[lab == IGNORE] = img[lab == IGNORE] * 0.3
    return out.astype(np.uint8)

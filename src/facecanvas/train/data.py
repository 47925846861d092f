"""Training pairs from a prepared data set (``facecanvas prepare``): blank face x hole, augmented (paper 3.2).

The data set holds blank faces (256x256 BGR PNG) and a mask bank: per face, a part-label PNG in the canonical
256 alignment whose bits say which part covers a pixel (1 brows, 2 eyes, 4 nose, 8 mouth), and real
eyeglasses masks. A training sample pairs a random blank face with a random mask:

* blank face: horizontal / vertical flips, colour jitter (brightness, contrast, saturation) and a smooth random
  lighting gradient;
* hole: all parts, or with ``part_drop`` a random subset; flipped, slightly scaled, rotated and shifted; often
  closed morphologically (as the eraser closes the gaps between parts); merged with a real glasses mask with
  ``glasses_fraction``;
* a random ``crop`` x ``crop`` window at the native scale, chosen to contain some hole.

Batch ``k`` is a pure function of (seed, k), so a resumed run sees exactly the batches of an uninterrupted one.
Everything here is numpy; ``to_tensors`` imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..inpaint.neural import edge_map
from ..masks.parts import PART_BITS
from .config import DataConfig
SIZE = 256


@dataclass
class Split:
    """One split of a prepared data set, in memory."""

    blanks: list[np.ndarray]  # 256x256x3 uint8 BGR
    parts: list[np.ndarray]  # 256x256 uint8 part bits
    glasses: list[np.ndarray]  # 256x256 bool
    names: list[str]
    pairs: list[tuple[str, np.ndarray, np.ndarray]]  # fixed (name, truth, hole) pairs (val split)


def _read(path: Path, flags: int) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    if img is None:
        raise InputError(f"{path}: cannot read image")
    return img


def load_split(dataset: str | Path, split: str) -> Split:
    """Read ``DATASET/<split>/`` written by ``facecanvas prepare``."""
    root = Path(dataset)
    if not (root / "manifest.json").is_file():
        raise InputError(f"{root}: not a prepared data set (no manifest.json); run `facecanvas prepare` first")
    d = root / split
    names = sorted(p.stem for p in (d / "blanks").glob("*.png"))
    blanks = [_read(d / "blanks" / f"{n}.png", cv2.IMREAD_COLOR) for n in names]
    parts = [_read(p, cv2.IMREAD_GRAYSCALE) for p in sorted((d / "parts").glob("*.png"))]
    glasses = [_read(p, cv2.IMREAD_GRAYSCALE) > 0 for p in sorted((d / "glasses").glob("*.png"))]
    pairs = []
    for p in sorted((d / "pairs").glob("*_truth.png")):
        stem = p.name[: -len("_truth.png")]
        pairs.append((stem, _read(p, cv2.IMREAD_COLOR), _read(d / "pairs" / f"{stem}_hole.png", 0) > 0))
    return Split(blanks, parts, glasses, names, pairs)


def manifest(dataset: str | Path) -> dict:
    return json.loads((Path(dataset) / "manifest.json").read_text())


# ------------------------------------------------------------------ augmentation


def jitter_colour(img: np.ndarray, rng: np.random.Generator, amount: float, light: float) -> np.ndarray:
    """Brightness, contrast, saturation jitter and a smooth lighting gradient; float32 0..255 in and out."""
    out = img.astype(np.float32)
    if amount > 0:
        mean = out.mean((0, 1), keepdims=True)
        gray = out.mean(2, keepdims=True)
        sat = 1 + rng.uniform(-amount, amount) * 2
        out = gray + (out - gray) * sat
        out = mean + (out - mean) * (1 + rng.uniform(-amount, amount) * 2)
        out = out * (1 + rng.uniform(-amount, amount)) + rng.uniform(-amount, amount) * 40
        out = out * (1 + rng.uniform(-amount, amount, 3) * 0.5)  # white balance
    if light > 0:
        h, w = out.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(ang) * (xx / w - 0.5) + np.sin(ang) * (yy / h - 0.5))
        out = out * (1 + rng.uniform(0, light) * 2 * ramp)[..., None]
    return np.clip(out, 0, 255)


def augment_blank(img: np.ndarray, rng: np.random.Generator, cfg: DataConfig) -> np.ndarray:
    if cfg.flip and rng.random() < 0.5:
        img = img[:, ::-1]
    if cfg.flip and rng.random() < 0.5:  # a blank face is its own vertical mirror, so this flip is natural
        img = img[::-1]
    return np.clip(jitter_colour(img, rng, cfg.colour_jitter, cfg.light_jitter) + 0.5, 0, 255).astype(np.uint8)


def make_hole(parts: np.ndarray, rng: np.random.Generator, cfg: DataConfig,
              glasses: list[np.ndarray] | None = None) -> np.ndarray:
    """A 256x256 bool hole from one face's part bits, randomly reduced, moved, closed and merged with glasses."""
    bits = list(PART_BITS.values())
    if rng.random() < cfg.part_drop:
        keep = [b for b in bits if rng.random() < 0.5] or [bits[rng.integers(len(bits))]]
    else:
        keep = bits
    hole = (parts & np.uint8(sum(keep))) > 0
    if glasses and rng.random() < cfg.glasses_fraction:
        g = glasses[rng.integers(len(glasses))]
        r = int(rng.integers(0, 4))
        if r:
            g = cv2.dilate(g.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
        hole = hole | g
    m = hole.astype(np.uint8)
    if cfg.flip and rng.random() < 0.5:
        m = m[:, ::-1]
    c = SIZE / 2
    a = cv2.getRotationMatrix2D((c, c), rng.uniform(-6, 6), rng.uniform(0.92, 1.08))
    a[:, 2] += rng.uniform(-8, 8, 2)
    m = cv2.warpAffine(np.ascontiguousarray(m), a, (SIZE, SIZE), flags=cv2.INTER_NEAREST)
    if rng.random() < 0.5:  # the eraser closes the skin bridges between parts; so do half the training holes
        r = int(rng.integers(3, 13))
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    return m > 0


def pick_crop(hole: np.ndarray, crop: int, rng: np.random.Generator, tries: int = 8) -> tuple[int, int]:
    """Top-left of a crop x crop window with at least 5% hole (the best of a few random tries)."""
    if crop >= SIZE:
        return 0, 0
    best, best_frac = (0, 0), -1.0
    for _ in range(tries):
        y, x = (int(v) for v in rng.integers(0, SIZE - crop + 1, 2))
        frac = hole[y:y + crop, x:x + crop].mean()
        if frac > best_frac:
            best, best_frac = (y, x), frac
        if 0.05 <= frac <= 0.6:
            return y, x
    return best


def make_sample(blank: np.ndarray, parts: np.ndarray, rng: np.random.Generator, cfg: DataConfig,
                glasses: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(truth crop uint8 BGR, hole crop bool) of one augmented pair."""
    truth = augment_blank(blank, rng, cfg)
    hole = make_hole(parts, rng, cfg, glasses)
    y, x = pick_crop(hole, cfg.crop, rng)
    c = min(cfg.crop, SIZE)
    return np.ascontiguousarray(truth[y:y + c, x:x + c]), np.ascontiguousarray(hole[y:y + c, x:x + c])


def make_batch(split: Split, cfg: DataConfig, seed: int, step: int, scale: int = 1,
               sigma: float = 2.0) -> dict[str, np.ndarray]:
    """Batch ``step`` (a pure function of seed and step): truth, mask and edges as float32 NCHW arrays."""
    if not split.blanks or not split.parts:
        raise InputError("the training split has no blank faces or no masks")
    rng = np.random.default_rng([seed, step])
    truths, holes, edges, targets = [], [], [], []
    for _ in range(cfg.batch_size):
        b = split.blanks[rng.integers(len(split.blanks))]
        p = split.parts[rng.integers(len(split.parts))]
        t, h = make_sample(b, p, rng, cfg, split.glasses)
        truths.append(t)
        holes.append(h)
        edges.append(edge_map(np.where(h[..., None], 0, t).astype(np.uint8), h, scale, sigma))
        targets.append(truth_edges(t, scale, sigma))
    return pack(truths, holes, edges, targets)


def pack(truths: list[np.ndarray], holes: list[np.ndarray], edges: list[np.ndarray],
         targets: list[np.ndarray]) -> dict[str, np.ndarray]:
    """float32 NCHW: truth 0..1 BGR, mask (1 = hole), edges (input, at the edge scale), edge_truth (target)."""
    return {"truth": np.stack(truths).astype(np.float32).transpose(0, 3, 1, 2) / 255.0,
            "mask": np.stack(holes).astype(np.float32)[:, None],
            "edges": np.stack(edges).astype(np.float32)[:, None],
            "edge_truth": np.stack(targets).astype(np.float32)[:, None]}


def hole_depth(mask: np.ndarray, unit: float = 16.0) -> np.ndarray:
    """Bx1xHxW float32: each hole pixel's distance to the nearest visible one, in ``unit`` px (0 outside)."""
    m = (np.asarray(mask)[:, 0] > 0.5).astype(np.uint8)
    depth = np.stack([cv2.distanceTransform(np.pad(x, 1), cv2.DIST_L2, 5)[1:-1, 1:-1] for x in m]) / unit
    return depth[:, None].astype(np.float32)


def truth_edges(truth: np.ndarray, scale: int, sigma: float) -> np.ndarray:
    """The phase-1 target: Canny edges of the whole truth crop at the edge scale (no hole)."""
    return edge_map(truth, np.zeros(truth.shape[:2], bool), scale, sigma)


def to_tensors(batch: dict[str, np.ndarray], device) -> dict:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}


def contact_sheet(dataset: str | Path, path: str | Path, count: int = 12, seed: int = 0) -> Path:
    """PNG grid of augmented training pairs as the trainer draws them (truth with the hole shown in green)."""
    from ..eval.blank_faces import BLANK_SIZE

    split = load_split(dataset, "train")
    cfg = DataConfig(crop=BLANK_SIZE)
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(count):
        t, h = make_sample(split.blanks[rng.integers(len(split.blanks))], split.parts[rng.integers(len(split.parts))],
                           rng, cfg, split.glasses)
        shown = t.copy()
        shown[h] = (0.5 * shown[h] + 0.5 * np.array([60, 200, 60])).astype(np.uint8)
        tiles.append(np.hstack([t, shown]))
    cols = 3
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise OSError(f"cannot write {path}")
    return Path(path)

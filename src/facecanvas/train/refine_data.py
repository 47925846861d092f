"""Training pairs of the refiner variant (``clone_unet_ca``): augmented (blank face, hole) pairs and their
classical clone fill, precomputed once into a cache, since the clone fill is numpy/OpenCV and too slow to run
per training step.

Pair ``k`` is a pure function of (seed, k): ``data.make_sample`` draws the blank face, the hole and the
augmentation from ``np.random.default_rng([seed, k])`` out of the prepared data set's **train** split (the
held-out faces of ``facecanvas prepare`` never enter it), and the coarse fill is the library's own
``inpaint.methods.clone_fill`` of the holed image, exactly as ``facecanvas eval erase`` calls it.

Layout under the cache folder: ``shard_NNNN.npz`` (``truth`` Nx256x256x3 uint8 BGR, ``hole`` Nx256x256 bool,
``coarse`` Nx256x256x3 uint8), written atomically one shard at a time, and ``cache.json`` (data set, seed,
count, shard size). A stopped build resumes at the first missing shard. ``val.npz``: a few pairs drawn with
another seed from the same training faces, for the training log only (not a held-out test).

``folds`` (a probability, default 0): the pair also gets synthetic folds and shadows *outside* the hole that
end at its border (smooth dark or light strokes and blobs crossing the border, as a smile fold or a nose
shadow meets an erased part on a real face), while the truth inside the hole stays plain skin. The clone
fill carries such border shading inwards as a dent or bulge; these pairs teach the refiner to take it out.
Blank faces alone have no folds (they are foreheads), so without them there is little shading to fix.

The cache holds images derived from the data set: keep it under out/ (gitignored), never commit it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..inpaint.methods import clone_fill
from .config import DataConfig
from .data import SIZE, Split, load_split, make_sample

SHARD = 250
VAL_SEED_OFFSET = 100_003  # the log's val pairs: another seed, same training faces


def add_folds(truth: np.ndarray, hole: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``truth`` with 1-4 smooth strokes or blobs of shade (mostly dark) that cross the hole's border, applied
    outside the hole only (uint8 in and out)."""
    h8 = hole.astype(np.uint8)
    ring = (cv2.dilate(h8, np.ones((3, 3), np.uint8)) > 0) & ~hole
    ys, xs = np.nonzero(ring)
    if len(ys) == 0:
        return truth
    field = np.zeros(hole.shape, np.float32)
    for _ in range(int(rng.integers(1, 5))):
        j = int(rng.integers(len(ys)))
        cy, cx = float(ys[j]), float(xs[j])
        amp = rng.uniform(-0.35, -0.08) if rng.random() < 0.8 else rng.uniform(0.05, 0.15)
        layer = np.zeros(hole.shape, np.float32)
        if rng.random() < 0.6:  # a fold: a line through the border point
            ang, half = rng.uniform(0, np.pi), rng.uniform(12, 40)
            dx, dy = np.cos(ang) * half, np.sin(ang) * half
            cv2.line(layer, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1.0, 1, cv2.LINE_AA)
            sigma = rng.uniform(3.0, 7.0)
        else:  # a shadow: a soft blob on the border
            cv2.circle(layer, (int(cx), int(cy)), int(rng.integers(6, 16)), 1.0, -1, cv2.LINE_AA)
            sigma = rng.uniform(6.0, 14.0)
        layer = cv2.GaussianBlur(layer, (0, 0), sigma)
        field += amp * layer / max(float(layer.max()), 1e-6)
    shaded = truth.astype(np.float32) * (1 + np.clip(field, -0.6, 0.4))[..., None]
    return np.where(hole[..., None], truth, np.clip(shaded + 0.5, 0, 255)).astype(np.uint8)


def make_pair(split: Split, seed: int, k: int, cfg: DataConfig | None = None,
              folds: float = 0.0) -> tuple[np.ndarray, ...]:
    """(truth 256x256x3 uint8, hole 256x256 bool, coarse clone fill uint8) of pair ``k``."""
    cfg = cfg or DataConfig(crop=SIZE)
    rng = np.random.default_rng([seed, k])
    b = split.blanks[rng.integers(len(split.blanks))]
    p = split.parts[rng.integers(len(split.parts))]
    truth, hole = make_sample(b, p, rng, cfg, split.glasses)
    if folds > 0 and rng.random() < folds:
        truth = add_folds(truth, hole, rng)
    masked = np.where(hole[..., None], 0, truth).astype(np.uint8)
    coarse = clone_fill(masked, hole) if hole.any() else masked
    return truth, hole, coarse


def _pairs(split: Split, seed: int, ks, cfg: DataConfig, desc: str, progress: bool,
           folds: float = 0.0) -> dict[str, np.ndarray]:
    out = [make_pair(split, seed, k, cfg, folds) for k in tqdm(ks, desc=desc, file=sys.stderr, disable=not progress,
                                                        leave=False)]
    return {"truth": np.stack([o[0] for o in out]), "hole": np.stack([o[1] for o in out]),
            "coarse": np.stack([o[2] for o in out])}


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def build_cache(dataset: str | Path, cache: str | Path, count: int = 4000, seed: int = 0, val_count: int = 64,
                shard: int = SHARD, cfg: DataConfig | None = None, progress: bool = True,
                log=print, folds: float = 0.0) -> Path:
    """Write (or finish) the cache of ``count`` pairs; shards already there are kept (resumable)."""
    cfg = cfg or DataConfig(crop=SIZE)
    if cfg.crop != SIZE:
        raise InputError(f"the refiner's cache holds whole {SIZE} px blank faces; got data.crop {cfg.crop}")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    meta = {"dataset": str(dataset), "seed": seed, "count": count, "shard": shard, "val_count": val_count,
            "folds": folds,
            "note": "derived from non-commercial research data; internal use only, never commit"}
    meta_path = cache / "cache.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        keys = ("dataset", "seed", "shard", "folds")
        if {k: old.get(k, 0.0 if k == "folds" else None) for k in keys} != {k: meta[k] for k in keys}:
            raise InputError(f"{cache}: a cache of another data set, seed, shard size or folds is there; "
                             "use another folder")
    meta_path.write_text(json.dumps(meta, indent=2))
    split = load_split(dataset, "train")
    n_shards = (count + shard - 1) // shard
    t0 = time.perf_counter()
    todo = [i for i in range(n_shards) if not (cache / f"shard_{i:04d}.npz").is_file()]
    if len(todo) < n_shards:
        log(f"{cache}: {n_shards - len(todo)} of {n_shards} shards already there; building the other {len(todo)}")
    for n, i in enumerate(todo):
        ks = range(i * shard, min(count, (i + 1) * shard))
        _save(cache / f"shard_{i:04d}.npz", _pairs(split, seed, ks, cfg, f"shard {i + 1}/{n_shards}", progress,
                                                              folds))
        done = n + 1
        eta = (time.perf_counter() - t0) / done * (len(todo) - done)
        log(f"shard {i + 1}/{n_shards} written ({done}/{len(todo)} this run, ~{eta / 60:.1f} min left)")
    if val_count and not (cache / "val.npz").is_file():
        _save(cache / "val.npz", _pairs(split, seed + VAL_SEED_OFFSET, range(val_count), cfg, "val", progress,
                                        folds))
    return cache


@dataclass
class RefineCache:
    """The cache in memory: truth, hole, coarse arrays (all shards, in pair order)."""

    truth: np.ndarray
    hole: np.ndarray
    coarse: np.ndarray

    def __len__(self) -> int:
        return len(self.truth)


def _read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in ("truth", "hole", "coarse")}


def load_cache(cache: str | Path, which: str = "train") -> RefineCache:
    """All shards (``which="train"``) or the log's val pairs (``"val"``) of a cache made by ``build_cache``."""
    cache = Path(cache)
    files = sorted(cache.glob("shard_*.npz")) if which == "train" else [cache / "val.npz"]
    files = [f for f in files if f.is_file()]
    if not files:
        raise InputError(f"{cache}: no refiner cache ({which}); build it with "
                         "`python -m facecanvas.train.refine_data --dataset out/dataset --cache {cache}`")
    parts = [_read(f) for f in files]
    return RefineCache(*(np.concatenate([p[k] for p in parts]) for k in ("truth", "hole", "coarse")))


def make_refine_batch(cache: RefineCache, batch_size: int, seed: int, step: int, flip: bool = True
                      ) -> dict[str, np.ndarray]:
    """Batch ``step`` (a pure function of seed and step): truth, mask, coarse as float32 NCHW, 0..1.

    Only horizontal flips are added (applied to truth, hole and fill together); the pairs themselves were
    augmented when the cache was made."""
    rng = np.random.default_rng([seed, step, 7])
    idx = rng.integers(len(cache), size=batch_size)
    flips = rng.random(batch_size) < 0.5 if flip else np.zeros(batch_size, bool)
    t, h, c = cache.truth[idx], cache.hole[idx], cache.coarse[idx]
    t = np.where(flips[:, None, None, None], t[:, :, ::-1], t)
    c = np.where(flips[:, None, None, None], c[:, :, ::-1], c)
    h = np.where(flips[:, None, None], h[:, :, ::-1], h)
    return {"truth": t.astype(np.float32).transpose(0, 3, 1, 2) / 255.0,
            "mask": h.astype(np.float32)[:, None],
            "coarse": c.astype(np.float32).transpose(0, 3, 1, 2) / 255.0}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m facecanvas.train.refine_data",
                                 description="Precompute the refiner's clone-fill training pairs (resumable).")
    ap.add_argument("--dataset", default="out/dataset", help="prepared data set (facecanvas prepare)")
    ap.add_argument("--cache", default="out/refine_cache", help="output folder (under out/: never commit)")
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--val-count", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=float, default=0.0,
                    help="share of pairs with synthetic folds/shadows ending at the hole's border (default 0)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)  # a shared 2-core machine
    path = build_cache(a.dataset, a.cache, a.count, a.seed, a.val_count, progress=not a.quiet,
                       log=lambda m: print(m, flush=True), folds=a.folds)
    print(f"{path}: {a.count} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

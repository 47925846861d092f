"""Data for the de-identification network (Gafni, Wolf, Taigman, ICCV 2019): canonical aligned face crops, a
deterministic held-out split, and the paper's training pairs (a geometrically distorted input, the undistorted
image as the target).

The crops are facecanvas's canonical crop (``align_face(face.five_points(), size).warp(bgr)``) of the largest
detected face in each photo, cached **outside the repository** (default ``/tmp/deid_cache``): the source
photos are non-commercial research data, and neither they nor crops of them may be committed.

Cache layout under ``cache``::

    points.json          {"<dataset>/<file name>": [[x, y] x 5] or null (no face)}
    s<size>/<key>.png    the canonical crop at that size (key: dataset and file name, "/" -> "__")

The five points are detected once; another crop size only re-warps. The split is a pure function of the file
name (SHA-1): ``heldout_fraction`` of the names are held out, the same ones on every machine and run.

Batches: batch ``k`` of a run is a pure function of (seed, k), so a resumed run sees the batches a
single long run would. Each sample is (optionally mirrored) ``target`` = the crop, ``input`` = the crop
after a random similarity (scale, rotation, a small shift) composed with a smooth elastic displacement field,
one ``cv2.remap`` with reflected borders (section 3.3 of the paper: "the input is distorted ... the target is
the undistorted image").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SOURCES = ("celebahq512", "celebamaskhq/train/images", "utkface/images")
DEFAULT_ROOT = "/work/shared/data/faces"
DEFAULT_CACHE = "/tmp/deid_cache"
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class DeidDataConfig:
    data: str = DEFAULT_ROOT  # folder holding the SOURCES sub-folders (or any folder of face photos)
    cache: str = DEFAULT_CACHE
    crop: int = 128  # the network's input side (canonical crop)
    batch_size: int = 4
    heldout_fraction: float = 0.05
    flip: bool = True
    scale_jitter: float = 0.06  # input scale in [1 - j, 1 + j]
    rotate_deg: float = 8.0  # input rotation in [-r, r]
    shift: float = 0.02  # input shift, fraction of the side
    elastic_px: float = 3.0  # elastic displacement amplitude (pixels at a 128 crop; scaled with the side)
    elastic_sigma: float = 0.08  # smoothness of the displacement field, fraction of the side


def is_heldout(name: str, fraction: float) -> bool:
    """Deterministic split by the file name's SHA-1 (first 8 bytes as an integer in [0, 1))."""
    h = int.from_bytes(hashlib.sha1(Path(name).name.encode("utf-8", "surrogateescape")).digest()[:8], "big")
    return h / 2.0 ** 64 < fraction


def _key(rel: str) -> str:
    return rel.replace("/", "__")


def list_sources(root: str | Path) -> list[str]:
    """Relative paths ("<source>/<file>") of the photos under ``root``: the known SOURCES sub-folders when
    present, otherwise the image files directly in ``root``."""
    root = Path(root)
    found = []
    subs = [s for s in SOURCES if (root / s).is_dir()]
    for s in subs or ["."]:
        for p in sorted((root / s).iterdir()):
            if p.suffix.lower() in IMAGE_EXT and p.is_file():
                found.append(str(Path(s) / p.name) if s != "." else p.name)
    return found


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def build_cache(root: str | Path, cache: str | Path, size: int, limit: int | None = None,
                log=print) -> dict[str, list]:
    """Detect (once) and warp the canonical ``size`` crops of every photo under ``root`` into ``cache``.
    Resumable: points already in ``points.json`` and crops already written are reused."""
    from ..analysis import FaceAnalyzer
    from ..analysis.align import align_face

    root, cache = Path(root), Path(cache)
    out = cache / f"s{size}"
    out.mkdir(parents=True, exist_ok=True)
    pts_file = cache / "points.json"
    points: dict[str, list | None] = json.loads(pts_file.read_text()) if pts_file.is_file() else {}
    names = list_sources(root)[:limit]
    analyzer = None
    try:
        for i, rel in enumerate(names):
            dst = out / f"{_key(rel)}.png"
            if rel in points and (points[rel] is None or dst.is_file()):
                continue
            bgr = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
            if bgr is None:
                points[rel] = None
                continue
            if rel not in points:
                if analyzer is None:
                    analyzer = FaceAnalyzer()
                faces = analyzer.detect(bgr)
                points[rel] = faces[0].five_points().tolist() if faces else None
            if points[rel] is not None:
                crop = align_face(np.asarray(points[rel], np.float64), size).warp(bgr)
                cv2.imwrite(str(dst), crop)
            if i % 100 == 0:
                _atomic_write_text(pts_file, json.dumps(points))
                log(f"cache {i}/{len(names)}")
    finally:
        if analyzer is not None:
            analyzer.close()
        _atomic_write_text(pts_file, json.dumps(points))
    return points


@dataclass
class CropSet:
    names: list[str]
    images: np.ndarray  # N x S x S x 3 uint8 BGR

    def __len__(self) -> int:
        return len(self.names)


def load_crops(cache: str | Path, size: int, heldout_fraction: float = 0.05) -> tuple[CropSet, CropSet]:
    """(train, held-out) crops of ``size`` from a built cache."""
    cache = Path(cache)
    pts_file = cache / "points.json"
    if not pts_file.is_file():
        raise FileNotFoundError(f"{pts_file}: no crop cache; build it with `python -m facecanvas.train.deid_data`")
    points = json.loads(pts_file.read_text())
    sets: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for rel in sorted(points):
        p = cache / f"s{size}" / f"{_key(rel)}.png"
        if points[rel] is None or not p.is_file():
            continue
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None or img.shape[:2] != (size, size):
            continue
        names, imgs = sets[is_heldout(rel, heldout_fraction)]
        names.append(rel)
        imgs.append(img)

    def pack(v):
        return CropSet(v[0], np.stack(v[1]) if v[1] else np.zeros((0, size, size, 3), np.uint8))

    return pack(sets[False]), pack(sets[True])


def distortion_maps(size: int, rng: np.random.Generator, cfg: DeidDataConfig) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (x, y) of a random similarity composed with a smooth elastic field."""
    c = (size - 1) / 2.0
    s = 1.0 + rng.uniform(-cfg.scale_jitter, cfg.scale_jitter)
    a = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    t = rng.uniform(-cfg.shift, cfg.shift, 2) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # output pixel -> source pixel: inverse similarity about the centre
    cos, sin = np.cos(a) / s, np.sin(a) / s
    dx, dy = xx - c - t[0], yy - c - t[1]
    mx = cos * dx + sin * dy + c
    my = -sin * dx + cos * dy + c
    amp = cfg.elastic_px * size / 128.0
    if amp > 0:
        sigma = max(1.0, cfg.elastic_sigma * size)
        for m in (mx, my):
            f = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
            f *= amp / (np.abs(f).max() + 1e-8)
            m += f
    return mx.astype(np.float32), my.astype(np.float32)


def distort(img: np.ndarray, rng: np.random.Generator, cfg: DeidDataConfig) -> np.ndarray:
    mx, my = distortion_maps(img.shape[0], rng, cfg)
    return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def make_batch(crops: CropSet, cfg: DeidDataConfig, seed: int, step: int,
               batch_size: int | None = None) -> dict[str, np.ndarray]:
    """{"input", "target"}: B x 3 x S x S float32 **BGR** 0..1 (the network's colour order), batch ``step``."""
    rng = np.random.default_rng([seed, step])
    n = batch_size or cfg.batch_size
    idx = rng.integers(0, len(crops), n)
    ins, tgs = [], []
    for i in idx:
        img = crops.images[i]
        if cfg.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        tgs.append(img)
        ins.append(distort(img, rng, cfg))

    def t(v):
        return np.stack(v).astype(np.float32).transpose(0, 3, 1, 2) / 255.0

    return {"input": t(ins), "target": t(tgs)}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build the de-identification crop cache (outside the repo).")
    ap.add_argument("--data", default=DEFAULT_ROOT)
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--size", type=int, action="append", help="crop side(s); default 128")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    for size in a.size or [128]:
        pts = build_cache(a.data, a.cache, size, a.limit)
        ok = sum(v is not None for v in pts.values())
        print(f"s{size}: {ok} faces of {len(pts)} photos in {a.cache}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

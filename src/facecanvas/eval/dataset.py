"""The training data of the neural eraser (FaceEraser 3.2), written once by ``facecanvas prepare``.

From folders of aligned face photos (CelebAMask-HQ layout ``DIR/images`` + optional parsing ``DIR/masks``):

* blank faces: ``blank_faces.blank_face`` (forehead above the brows, 256x128, over its vertical flip); faces with
  glasses, hats or hair over the forehead are skipped (parsing masks where present, landmarks + colour else);
* a mask bank: the MediaPipe landmarks of every face joined into brow, eye, nose and mouth regions and dilated
  (``masks.part_masks``) in the canonical 256 alignment, stored as part bits (1 brows, 2 eyes, 4 nose, 8 mouth);
* real eyeglasses masks: the eyeglasses class of the parsing masks, warped into the same alignment.

Held-out split: the first ``holdout`` images (sorted by name) of the first folder are the validation split.
They are exactly the images ``facecanvas eval erase --limit <holdout>`` reads, and the fixed validation pairs
are the eval's own pairs (``erase_eval.pair_masks`` with the same seed), so no eval face or eval hole is
trained on. Training images that look like a held-out image (a 16x16 thumbnail correlation > 0.98; CelebA-HQ
copies in other folders) are dropped as well.

Layout: ``DATASET/{train,val}/{blanks,parts,glasses}/NAME.png``, ``DATASET/val/pairs/NAME_{truth,hole}.png``,
``DATASET/manifest.json``, ``DATASET/contact_sheet.png``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..analysis import FaceAnalyzer, align_face
from ..masks import PARTS, part_masks
from ..masks.parts import PART_BITS
from .blank_faces import BLANK_SIZE, EYEGLASSES, BlankFace, blank_face, list_face_files, read_bgr, read_parsing
from .erase_eval import pair_masks

MIN_GLASSES_PX = 300  # eyeglasses pixels (in the 512 px source) before a mask counts as glasses
DUPLICATE_CORR = 0.98


@dataclass
class FaceRecord:
    name: str
    source: str  # folder it came from
    blank: np.ndarray | None = None
    parts: np.ndarray | None = None  # 256x256 uint8 part bits
    glasses: np.ndarray | None = None  # 256x256 bool
    skip: str = ""


@dataclass
class PrepareReport:
    out: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        c = self.counts
        return (f"{self.out}: train {c['train']['blanks']} blank faces, {c['train']['parts']} masks, "
                f"{c['train']['glasses']} glasses masks; val (held out) {c['val']['blanks']} blank faces, "
                f"{c['val']['pairs']} fixed pairs; {self.duplicates} near-duplicates of held-out faces dropped; "
                f"{self.seconds:.0f} s")


def part_bits(points_crop: np.ndarray, size: int = BLANK_SIZE) -> np.ndarray:
    """uint8 size x size: bit b set where part b's dilated landmark region lies."""
    out = np.zeros((size, size), np.uint8)
    for name, m in part_masks(points_crop, (size, size), PARTS).items():
        out[m] |= PART_BITS[name]
    return out


def thumb(image: np.ndarray) -> np.ndarray:
    t = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)
    t = t.ravel() - t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def read_face(img_path: Path, mask_path: Path | None, analyzer: FaceAnalyzer, source: str) -> tuple[FaceRecord, np.ndarray]:
    """One image -> blank face, part bits and glasses (each None when not available), and its thumbnail."""
    image = read_bgr(img_path)
    rec = FaceRecord(img_path.stem, source)
    faces = analyzer.detect(image)
    face = faces[0] if faces else None
    labels = read_parsing(mask_path, image.shape) if mask_path is not None else None
    if face is not None:
        t = align_face(face.five_points(), BLANK_SIZE)
        rec.parts = part_bits(t.to_crop(face.landmarks))
        if labels is not None and (labels == EYEGLASSES).sum() >= MIN_GLASSES_PX:
            g = t.warp((labels == EYEGLASSES).astype(np.uint8) * 255, cv2.INTER_NEAREST)
            rec.glasses = g > 127
    bf, reason = blank_face(image, rec.name, labels, face)
    rec.blank = bf.image if bf is not None else None
    rec.skip = reason
    return rec, thumb(image)


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def prepare_dataset(data_dirs: list[str | Path], out: str | Path, holdout: int = 300, seed: int = 0,
                    limit: int | None = None, progress: bool = True) -> PrepareReport:
    """Write the data set (see the module docstring) to ``out``, which must not exist yet or be empty."""
    t0 = time.perf_counter()
    out = Path(out)
    report = PrepareReport(out)
    records: dict[str, list[FaceRecord]] = {"train": [], "val": []}
    held_thumbs: list[np.ndarray] = []
    skipped: Counter = Counter()
    with FaceAnalyzer(max_faces=1) as analyzer:
        for k, d in enumerate(data_dirs):
            files = list_face_files(d, limit)
            for i, (img_path, mask_path) in enumerate(tqdm(files, desc=Path(d).name, file=sys.stderr,
                                                           disable=not progress)):
                split = "val" if k == 0 and i < holdout else "train"
                rec, th = read_face(img_path, mask_path, analyzer, str(d))
                if split == "val":
                    held_thumbs.append(th)
                elif held_thumbs and float(np.max(np.stack(held_thumbs) @ th)) > DUPLICATE_CORR:
                    report.duplicates += 1
                    continue
                if rec.blank is None:
                    skipped[rec.skip] += 1
                records[split].append(rec)
    for split, recs in records.items():
        base = out / split
        for r in recs:
            name = f"{Path(r.source).name}_{r.name}" if split == "train" else r.name
            if r.blank is not None:
                _write(base / "blanks" / f"{name}.png", r.blank)
            if r.parts is not None:
                _write(base / "parts" / f"{name}.png", r.parts)
            if r.glasses is not None:
                _write(base / "glasses" / f"{name}.png", r.glasses.astype(np.uint8) * 255)
    # The validation pairs are the eval's pairs: its blank faces with the holes of other held-out faces.
    val = records["val"]
    blanks = [BlankFace(r.blank, r.name) for r in val if r.blank is not None]
    masks = [(r.name, part_bits_to_hole(r.parts)) for r in val if r.parts is not None]
    pairs = pair_masks(blanks, masks, seed) if len(blanks) and len(masks) >= 2 else []
    for p in pairs:
        _write(out / "val" / "pairs" / f"{p.name}_truth.png", p.truth)
        _write(out / "val" / "pairs" / f"{p.name}_hole.png", p.hole.astype(np.uint8) * 255)
    for split, recs in records.items():
        report.counts[split] = {"images": len(recs), "blanks": sum(r.blank is not None for r in recs),
                                "parts": sum(r.parts is not None for r in recs),
                                "glasses": sum(r.glasses is not None for r in recs)}
    report.counts["val"]["pairs"] = len(pairs)
    report.skipped = dict(skipped)
    report.seconds = time.perf_counter() - t0
    manifest = {"sources": [str(d) for d in data_dirs], "holdout": holdout, "holdout_from": str(data_dirs[0]),
                "seed": seed, "limit": limit, "counts": report.counts, "skipped": report.skipped,
                "near_duplicates_dropped": report.duplicates, "blank_size": BLANK_SIZE, "part_bits": PART_BITS,
                "note": "derived from non-commercial research data; internal use only, never commit"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return report


def part_bits_to_hole(bits: np.ndarray) -> np.ndarray:
    return bits > 0

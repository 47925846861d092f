#!/usr/bin/env python
"""Before/after contact sheet of facecanvas's blank-face eraser on deliberately varied faces.

Faces come from ``<repo>/../shared/data`` (internal research data, non-commercial terms):

* ``faces/utkface``    tight 200x200 crops; a spread of ages (0-100+) over all five race codes of labels.csv
* ``faces/celebahq512`` aligned 512x512 portraits, a random range of files
* ``wild/codeformer``, ``wild/face_recognition``  in-the-wild photos (the largest face is shown)

Each tile shows the face before and after ``erase()`` side by side (about 256 px high each), with a label.
Images where no face is found are skipped and listed on stderr.

THE SHEET CONTAINS DATASET FACES: it is for internal review only. Never commit it or share it.

Usage::

    PYTHONPATH=src python scripts/contact_sheet.py [-o out/contact_sheet.png] [--count 24] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from facecanvas.analysis import FaceAnalyzer  # noqa: E402
from facecanvas.eraser import erase  # noqa: E402

DATA = REPO.parent / "shared" / "data"
RACES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Other"}
AGE_BINS = [(0, 5), (6, 12), (13, 19), (20, 29), (30, 44), (45, 59), (60, 74), (75, 89), (90, 120)]
WILD_DIRS = ("wild/codeformer", "wild/face_recognition")
TILE_H = 256
LABEL_H = 22
REMINDER = ("REMINDER: this contact sheet shows dataset faces (non-commercial research data). "
            "It is for internal review only: never commit it (keep it under an ignored folder such as out/) "
            "and never share it.")


@dataclass
class Item:
    path: Path
    label: str
    group: str  # utkface / celebahq / wild
    small: bool = False  # tight crop: try upscaled / padded versions when nothing is found


# ----------------------------------------------------------------------------------------- picking

def pick_utkface(n: int, rng: random.Random) -> list[Item]:
    """``n`` crops that walk the age bins and cycle the five race codes, so both spread evenly."""
    root = DATA / "faces" / "utkface"
    labels = root / "labels.csv"
    if not labels.is_file():
        return []
    rows = []
    with labels.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)  # the header's column names hold unquoted commas: read by position
        for r in reader:
            if len(r) >= 4 and r[1].isdigit():
                rows.append((r[0], int(r[1]), int(r[2]), int(r[3])))
    out, used = [], set()
    for i in range(n * 4):  # enough tries to fill n even when some (bin, race) cells are empty
        if len(out) >= n:
            break
        lo, hi = AGE_BINS[i % len(AGE_BINS)]
        race = i % len(RACES)
        cell = [r for r in rows if lo <= r[1] <= hi and r[3] == race and r[0] not in used]
        if not cell:
            continue
        name, age, gender, race = rng.choice(cell)
        used.add(name)
        out.append(Item(root / name, f"utk {Path(name).name.split('.')[0]} {age}y {'MF'[gender]} "
                        f"{RACES[race]}", "utkface", small=True))
    return out


def pick_celebahq(n: int, rng: random.Random) -> list[Item]:
    files = sorted((DATA / "faces" / "celebahq512").glob("*.jpg"))
    return [Item(p, f"celebahq {p.name}", "celebahq") for p in rng.sample(files, min(n, len(files)))]


def pick_wild(n: int, rng: random.Random) -> list[Item]:
    files = sorted(p for d in WILD_DIRS for p in (DATA / d).glob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng.shuffle(files)
    return [Item(p, f"wild {p.parent.name}/{p.name}", "wild") for p in files[:n]]


def candidates(count: int, seed: int) -> list[list[Item]]:
    """Three queues (utkface, celebahq, wild) with spares, to refill when a face is not found."""
    rng = random.Random(seed)
    n_utk = max(1, round(count * 0.5))
    n_wild = max(1, round(count * 0.2))
    n_celeb = max(1, count - n_utk - n_wild)
    return [pick_utkface(n_utk + 6, rng), pick_celebahq(n_celeb + 4, rng), pick_wild(n_wild + 3, rng)], \
        [n_utk, n_celeb, n_wild]


# ----------------------------------------------------------------------------------------- erasing

def erase_item(item: Item, analyzer: FaceAnalyzer):
    """(before, after, face box, note) for the largest face, or None if no face is found.

    Tight crops (UTKFace) are retried 2x upscaled and then 2x upscaled with a reflected border, since
    the detector and the face mesh want some context around the face.
    """
    img = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    tries = [("", img)]
    if item.small:
        up = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        pad = up.shape[0] // 4
        tries += [("2x", up), ("2x+pad", cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_REFLECT_101))]
    for note, im in tries:
        faces = analyzer.detect(im)
        if faces:
            res = erase(im, analyzer=analyzer, faces=faces)
            return im, res.image, faces[0].box, note, len(faces)
    return None


def crop_pair(before: np.ndarray, after: np.ndarray, box: np.ndarray, note: str, label: str) -> np.ndarray:
    """Before | after, square crops around ``box`` (1.7x its size, at most the photo), each TILE_H high,
    label below."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = before.shape[:2]
    side = min(int(round(1.7 * max(x1 - x0, y1 - y0))), h, w)  # tight crops: use the whole photo
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2 - 0.05 * side))
    left, top = min(max(left, 0), w - side), min(max(top, 0), h - side)  # slide inside the photo
    pad = max(0, -left, -top, left + side - w, top + side - h)
    tiles = []
    for im in (before, after):
        if pad:  # grey outside the photo, so padding is visibly not part of it
            im = cv2.copyMakeBorder(im, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(96, 96, 96))
        c = im[top + pad:top + pad + side, left + pad:left + pad + side]
        interp = cv2.INTER_AREA if side > TILE_H else cv2.INTER_CUBIC
        tiles.append(cv2.resize(c, (TILE_H, TILE_H), interpolation=interp))
    pair = np.hstack([tiles[0], np.full((TILE_H, 4, 3), 255, np.uint8), tiles[1]])
    strip = np.full((LABEL_H, pair.shape[1], 3), 24, np.uint8)
    text = f"{label}  [{note}]" if note else label
    cv2.putText(strip, text[:70], (4, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (240, 240, 240), 1,
                cv2.LINE_AA)
    return np.vstack([pair, strip])


def make_sheet(tiles: list[np.ndarray], cols: int, gap: int = 8) -> np.ndarray:
    th, tw = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (th + gap) + gap, cols * (tw + gap) + gap, 3), 60, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + th, x:x + tw] = t
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="The sheet shows dataset faces: internal review only, never commit it.")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "out" / "contact_sheet.png",
                    help="PNG to write (default out/contact_sheet.png; the folder is created)")
    ap.add_argument("--count", type=int, default=24, help="faces on the sheet (default 24)")
    ap.add_argument("--seed", type=int, default=0, help="random seed for picking files (default 0)")
    ap.add_argument("--cols", type=int, default=4, help="tiles per row (default 4)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: {DATA} not found (the shared data folder is needed)", file=sys.stderr)
        return 2
    if args.count < 1:
        ap.error("--count must be >= 1")

    queues, wanted = candidates(args.count, args.seed)
    skipped: list[str] = []
    tiles: list[np.ndarray] = []
    analyzer = FaceAnalyzer()
    try:
        # Each group fills its share; a group that runs dry hands the rest to the next one.
        carry = 0
        for queue, want in zip(queues, wanted):
            want += carry
            got = 0
            for item in queue:
                if got >= want:
                    break
                r = erase_item(item, analyzer)
                if r is None:
                    skipped.append(str(item.path.relative_to(DATA)))
                    continue
                before, after, box, note, nfaces = r
                label = item.label + (f" ({nfaces} faces)" if nfaces > 1 else "")
                tiles.append(crop_pair(before, after, box, note, label))
                got += 1
            carry = want - got
    finally:
        analyzer.close()

    if skipped:
        print(f"skipped (no face found): {len(skipped)}", file=sys.stderr)
        for s in skipped:
            print(f"  {s}", file=sys.stderr)
    if not tiles:
        print("error: no face found in any picked image", file=sys.stderr)
        return 1
    sheet = make_sheet(tiles, max(1, min(args.cols, len(tiles))))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.output), sheet):
        print(f"error: could not write {args.output}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({len(tiles)} faces, {sheet.shape[1]}x{sheet.shape[0]} px)")
    print(REMINDER)
    return 0


if __name__ == "__main__":
    sys.exit(main())

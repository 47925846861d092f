#!/usr/bin/env python
"""Contact sheet of every AR effect on deliberately varied internal faces, with measurements.

Faces come from ``<repo>/../shared/data`` (internal research data, non-commercial terms): CelebA-HQ
portraits (a fixed spread of files, glasses included), UTKFace crops over ages and the five race codes
(upscaled and padded: the detector wants context), and in-the-wild photos. One row per face: original,
blank face, then each effect (transplant takes the next row's face as its donor). Each tile is the face
crop; the label under an effect gives what the measures in ``facecanvas.effects.measure`` read:

* comic: the mouth's and eyes' scale found again in the output (wanted 1.5 and 0.7)
* mono-eye: how many eyes are found (wanted 1)
* small-face: the re-detected inner-face spread ratio (wanted 0.75)
* seam: the paste-boundary / natural-skin gradient ratio (about 1 = invisible)

A text summary goes next to the PNG. THE SHEET SHOWS DATASET FACES: for internal review only; never
commit it (keep it under out/, which git ignores) and never share it.

Usage::

    PYTHONPATH=src python scripts/effects_sheet.py [-o out/effects_sheet.png] [--count 14] [--tile 192]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from facecanvas.analysis import FaceAnalyzer  # noqa: E402
from facecanvas.effects import Effect, builtin_names  # noqa: E402
from facecanvas.effects.measure import find_eyes, find_part, inner_spread, seam_score  # noqa: E402
from facecanvas.eraser import erase  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CELEBA = ("00000.jpg", "00004.jpg", "00006.jpg", "00011.jpg", "00013.jpg", "00019.jpg", "00023.jpg",
          "00030.jpg", "00043.jpg", "00061.jpg")
WILD = ("wild/face_recognition/obama_and_biden.jpg", "wild/codeformer/03.jpg", "wild/deepface/couple.jpg")
LABEL_H = 30


def utk_picks(n: int, seed: int) -> list[tuple[Path, str]]:
    root = DATA / "faces" / "utkface"
    rows = []
    with (root / "labels.csv").open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            if len(r) >= 4 and r[1].isdigit():
                rows.append((r[0], int(r[1]), int(r[3])))
    rng = random.Random(seed)
    out = []
    for i, (lo, hi) in enumerate([(5, 15), (20, 35), (40, 60), (65, 90), (20, 40), (50, 80)][:n]):
        cell = [r for r in rows if lo <= r[1] <= hi and r[2] == i % 5]
        if cell:
            name, age, race = rng.choice(cell)
            out.append((root / name, f"utk {age}y race{race}"))
    return out


def load(path: Path, small: bool) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is not None and small:  # tight 200 px crops: upscale and pad so the detector sees context
        img = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        pad = img.shape[0] // 4
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    return img


def tile(img: np.ndarray, box, size: int, text: str) -> np.ndarray:
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    side = int(min(round(1.8 * max(x1 - x0, y1 - y0)), h, w))
    left = int(min(max(round((x0 + x1) / 2 - side / 2), 0), w - side))
    top = int(min(max(round((y0 + y1) / 2 - 0.55 * side), 0), h - side))
    body = cv2.resize(img[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
    strip = np.full((LABEL_H, size, 3), 24, np.uint8)
    for i, line in enumerate(text.split("\n")[:2]):
        cv2.putText(strip, line[:34], (4, 12 + 13 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 235, 235), 1,
                    cv2.LINE_AA)
    return np.vstack([body, strip])


def measure(name: str, img, out, face, result, analyzer) -> str:
    if not result.faces:
        return "skipped: " + (result.warnings[0].split(": ", 1)[-1][:30] if result.warnings else "no face")
    done = result.faces[0]
    score = seam_score(img, out, done)
    seam = f"seam {score.ratio:.2f}" if score else "no paste"
    after = analyzer.detect(out)
    after = min(after, key=lambda f: np.linalg.norm(f.box - face.box)) if after else None
    if after is None:
        return f"{seam}; face lost"
    if name == "comic":
        m = find_part(img, out, face, after, "mouth")
        e = find_part(img, out, face, after, "right_eye")
        return f"{seam}\nmouth x{m.scale:.2f} eye x{e.scale:.2f}"
    if name == "mono-eye":
        return f"{seam}\neyes found: {len(find_eyes(img, out, face, after))}"
    if name == "small-face":
        return f"{seam}\nspread x{inner_spread(after) / inner_spread(face):.2f}"
    return seam


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=REPO / "out" / "effects_sheet.png")
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--utk", type=int, default=4, help="UTKFace rows (default 4)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: {DATA} not found (the shared data folder is needed)", file=sys.stderr)
        return 2
    items = [(DATA / "faces" / "celebahq512" / n, f"celeba {n}", False) for n in CELEBA]
    items += [(p, label, True) for p, label in utk_picks(args.utk, args.seed)]
    items += [(DATA / w, w.split("/", 1)[1], False) for w in WILD]
    names = builtin_names()
    rows, summary = [], []
    with FaceAnalyzer() as analyzer:
        loaded = []
        for path, label, small in items:
            img = load(path, small)
            faces = analyzer.detect(img) if img is not None else []
            if faces:
                loaded.append((img, faces, label))
            else:
                print(f"skipped (no face): {path}", file=sys.stderr)
        for i, (img, faces, label) in enumerate(loaded):
            face = faces[0]
            extra = f" ({len(faces)} faces)" if len(faces) > 1 else ""
            row = [tile(img, face.box, args.tile, f"{label}{extra}\nyaw {face.pose.yaw:.0f}"),
                   tile(erase(img, faces=faces).image, face.box, args.tile, "blank face")]
            donor = loaded[(i + 1) % len(loaded)][0]
            for name in names:
                result = Effect(name, donor=donor, analyzer=analyzer).apply(img, faces)
                text = measure(name, img, result.image, face, result, analyzer)
                summary.append(f"{label}\t{name}\t{text.replace(chr(10), '; ')}")
                row.append(tile(result.image, face.box, args.tile, f"{name}: {text}"))
            rows.append(np.hstack(row))
            print(f"{label}: done", file=sys.stderr)
    sheet = np.vstack([np.pad(r, ((0, 6), (0, 0), (0, 0)), constant_values=255) for r in rows])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), sheet)
    args.output.with_suffix(".txt").write_text("\n".join(summary) + "\n")
    print(f"wrote {args.output} ({len(rows)} faces) and {args.output.with_suffix('.txt')}")
    print("REMINDER: dataset faces, internal review only: never commit or share this sheet.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Before/after contact sheets of erase and every effect on varied internal faces (bangs, glasses, beards,
side light, dark skin, children), to look at what the numbers of ``facecanvas eval look`` miss.

Internal data (../shared/data): **never commit the sheets or any crop of them**; they go to out/ or /tmp.

    # the faces are chosen once (written to OUT/faces.json) and reused by every run
    PYTHONPATH=/tmp/base/src python scripts/look_sheet.py --out /tmp/look --tag before   # an older checkout
    PYTHONPATH=src python scripts/look_sheet.py --out /tmp/look --tag after
    PYTHONPATH=src python scripts/look_sheet.py --out /tmp/look --combine before,after     # OUT/<edit>.png

Each run writes OUT/<tag>/<edit>/<n>.png (the output's canonical crop, 192 px); ``--combine`` lays them out
as one sheet per edit, the tags side by side for each face, with the face's group written on it.
Sources: CelebAMask-HQ held-out faces (the face parser never trained on them; bangs and glasses found from
the masks), UTKFace (labels.csv: children under 11, dark skin, men of 30-60 for beards) and CelebA-HQ 512
(the most side-lit of the first 60: the largest left/right difference of cheek luminance).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "faces"
EDITS = ("erase", "comic", "eyebrowless", "mono-eye", "small-face", "toonized", "transplant")
TILE = 192


def _read(path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    return img


def choose_faces(analyzer) -> list[dict]:
    from facecanvas.eval.blank_faces import read_parsing
    from facecanvas.eval.look_eval import C_GLASSES, C_HAIR, PART_IDS, held_out_stems

    chosen: list[dict] = []
    cm = SHARED / "celebamaskhq" / "train"
    bangs, glasses, plain = [], [], []
    for stem in held_out_stems(cm):
        lab = read_parsing(cm / "masks" / f"{stem}.png")
        parts = cv2.dilate(np.isin(lab, PART_IDS).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
        if (lab == C_GLASSES).sum() > 2000:
            glasses.append(stem)
        elif (parts & (lab == C_HAIR)).sum() > 2500:
            bangs.append(stem)
        else:
            plain.append(stem)
    for group, stems, n in (("bangs", bangs, 6), ("glasses", glasses, 3), ("celebamask", plain, 3)):
        chosen += [{"path": str(cm / "images" / f"{s}.jpg"), "group": group} for s in stems[:n]]
    utk = SHARED / "utkface"
    # file, age, gender (0 male, 1 female), race (0 White, 1 Black, 2 Asian, 3 Indian, 4 Others); the header's
    # own names hold commas, so columns are read by position.
    rows = [dict(zip(("file", "age", "gender", "race"), r)) for r in list(csv.reader(open(utk / "labels.csv")))[1:]
            if len(r) == 4]
    age = lambda r: int(r["age"])  # noqa: E731
    race = lambda r: int(r["race"])  # noqa: E731
    male = lambda r: r["gender"] == "0"  # noqa: E731
    picks = (("child", [r for r in rows if age(r) <= 10], 3), ("dark skin", [r for r in rows if race(r) == 1 and 18 <= age(r) <= 60], 4),
             ("man 30-60", [r for r in rows if male(r) and 30 <= age(r) <= 60 and race(r) != 1], 3))
    for group, cand, n in picks:
        got = 0
        for r in cand[:: max(1, len(cand) // (4 * n))]:
            p = utk / r["file"]
            if got < n and p.exists() and analyzer.detect(_read(p)):
                chosen.append({"path": str(p), "group": group})
                got += 1
    hq = sorted((SHARED / "celebahq512").glob("*.jpg"))[:60]
    lit = []
    for p in hq:
        img = _read(p)
        faces = analyzer.detect(img)
        if not faces:
            continue
        f = faces[0]
        pts = f.landmarks[:, :2]
        y = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        def patch(i):
            x, yy = np.round(pts[i]).astype(int)
            r = max(3, int(0.15 * f.interocular))
            return float(np.median(y[max(0, yy - r):yy + r, max(0, x - r):x + r]))
        lit.append((abs(patch(205) - patch(425)), str(p)))
    for _, p in sorted(lit, reverse=True)[:4]:
        chosen.append({"path": p, "group": "side light"})
    return chosen


def run(out: Path, tag: str) -> None:
    from facecanvas import FaceAnalyzer
    from facecanvas.analysis.align import align_face
    from facecanvas.effects.apply import _Donor
    from facecanvas.eval.look_eval import run_edit

    with FaceAnalyzer(max_faces=1) as analyzer:
        faces_json = out / "faces.json"
        if faces_json.exists():
            chosen = json.loads(faces_json.read_text())
        else:
            chosen = choose_faces(analyzer)
            out.mkdir(parents=True, exist_ok=True)
            faces_json.write_text(json.dumps(chosen, indent=1))
        found = []
        for c in chosen:
            img = _read(c["path"])
            f = analyzer.detect(img)
            found.append((img, f[0] if f else None))
    effects: dict = {}
    for i, (img, face) in enumerate(found):
        if face is None:
            continue
        donor_img, donor_face = found[(i + 1) % len(found)]
        donor = _Donor(donor_img, donor_face) if donor_face is not None else None
        t = align_face(face.five_points(), TILE)
        for e in EDITS:
            res, _ = run_edit(e, img, face, "auto", donor, effects)
            tile = t.warp(res if res is not None else img)
            d = out / tag / e
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{i:02d}.png"), tile)
        d = out / "input"
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:02d}.png"), t.warp(img))
    print(f"{tag}: {len(found)} faces -> {out / tag}")


def combine(out: Path, tags: list[str], per_row: int = 3) -> None:
    chosen = json.loads((out / "faces.json").read_text())
    for e in EDITS:
        cells = []
        for i, c in enumerate(chosen):
            tiles = [cv2.imread(str(out / "input" / f"{i:02d}.png"))]
            tiles += [cv2.imread(str(out / tag / e / f"{i:02d}.png")) for tag in tags]
            if any(t is None for t in tiles):
                continue
            for t, name in zip(tiles, ["input"] + tags):
                cv2.putText(t, name, (4, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1, cv2.LINE_AA)
            cv2.putText(tiles[0], f"{i} {c['group']}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1,
                        cv2.LINE_AA)
            cell = np.hstack(tiles)
            cells.append(np.pad(cell, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        if not cells:
            continue
        while len(cells) % per_row:
            cells.append(np.full_like(cells[0], 255))
        rows = [np.hstack(cells[k:k + per_row]) for k in range(0, len(cells), per_row)]
        sheet = np.vstack(rows)
        cv2.imwrite(str(out / f"{e}.png"), sheet)
        print(out / f"{e}.png", sheet.shape)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "out" / "look")
    ap.add_argument("--tag", default="after", help="name of this run's outputs (before, after, ...)")
    ap.add_argument("--combine", metavar="TAGS", help="comma-separated tags to lay side by side, instead of a run")
    a = ap.parse_args(argv)
    if not SHARED.exists():
        print(f"needs the internal faces at {SHARED}", file=sys.stderr)
        return 2
    if a.combine:
        combine(a.out, [t.strip() for t in a.combine.split(",") if t.strip()])
    else:
        run(a.out, a.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())

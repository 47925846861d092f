"""Contact sheet of de-identified faces for looking at: >= 24 varied shared faces, original | deid.

    .venv/bin/python scripts/deid_sheet.py [-o /tmp/deid_sheet.png] [--per-row 4]

The faces are picked deterministically for variety: UTKFace by age band (children, adults, the old)
and by its race labels; bearded men (UTKFace men whose lower face is much darker than their cheeks);
glasses (CelebAMask-HQ faces whose parsing mask has an eyeglasses class); side light (CelebA-HQ faces
with the largest left/right brightness difference between the cheeks); in-the-wild photos (the 1927
black-and-white group photo, a couple, a crowd), talking-head video frames and a low-resolution Glint
crop. Every face goes through ``facecanvas deid``'s operation (its defaults, one key); each tile says
the category, the SFace similarity of the output to the input (in the loop; < 0.363 = verified) and
whether the face was escalated or needed the fallback.

The shared data is non-commercial research data: the sheet goes to /tmp (or out/, git-ignored) and must
never be committed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TILE = 192


def read(path: Path) -> np.ndarray:
    if "#" in path.name:
        import av

        file, k = str(path).rsplit("#", 1)
        with av.open(file) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == int(k):
                    return f.to_ndarray(format="bgr24")
    from facecanvas.media.image_io import load_image

    img = load_image(path).bgr
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img


def detect(an, img):
    from facecanvas.analysis.identity import is_tight, pad_for_detection

    faces = an.detect(img)
    if is_tight(img, faces):
        padded = pad_for_detection(img, 0.5)
        pf = an.detect(padded)
        if pf or not faces:
            img, faces = padded, pf
    faces = sorted(faces, key=lambda f: -(f.box[2] - f.box[0]))
    return img, faces


def region_mean(gray, face, idx) -> float:
    m = np.zeros(gray.shape, np.uint8)
    cv2.fillPoly(m, [np.round(face.landmarks[list(idx), :2]).astype(np.int32)], 1)
    return float(gray[m > 0].mean()) if m.any() else float("nan")


# MediaPipe mesh points: the cheeks (left and right of the nose) and the chin/jaw below the lips
RIGHT_CHEEK = (116, 117, 118, 101, 36, 205, 187, 123)
LEFT_CHEEK = (345, 346, 347, 330, 266, 425, 411, 352)
CHIN = (57, 43, 106, 182, 83, 18, 313, 406, 335, 273, 287, 432, 434, 430, 431, 262, 428, 199, 208, 32, 211,
        210, 214, 212)


def pick(an) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    utk = SHARED / "faces" / "utkface"
    rows = sorted(csv.reader((utk / "labels.csv").open())) if (utk / "labels.csv").exists() else []
    rows = [r for r in rows if r[1].isdigit()]
    races = ("white", "black", "asian", "indian", "other")
    want = ([("child", 1, 10, r) for r in range(4)] + [("teen", 12, 18, 4)] + [("adult", 20, 40, r) for r in range(5)]
            + [("old", 65, 120, r) for r in range(4)])
    for name, lo, hi, race in want:  # one per (age band, race label)
        hit = [r for r in rows if lo <= int(r[1]) < hi and int(r[3]) == race]
        if hit:
            r = hit[len(hit) // 2]
            out.append((f"{name} {r[1]} {races[race]}", utk / r[0]))
    # bearded: men 25-60 whose chin area is darkest relative to their cheeks (a few candidates per race)
    men = [r for r in rows if 25 <= int(r[1]) <= 60 and r[2] == "0"][::25][:80]
    scored = []
    for r in men:
        img, faces = detect(an, read(utk / r[0]))
        if faces:
            g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
            cheeks = (region_mean(g, faces[0], RIGHT_CHEEK) + region_mean(g, faces[0], LEFT_CHEEK)) / 2
            scored.append((region_mean(g, faces[0], CHIN) / max(cheeks, 1.0), r))
    for s, r in sorted(scored)[:3]:
        out.append((f"beard? {r[1]} {races[int(r[3])]}", utk / r[0]))
    # glasses: CelebAMask-HQ faces with an eyeglasses class in their mask
    cm = SHARED / "faces" / "celebamaskhq" / "train"
    n = 0
    for m in sorted((cm / "masks").glob("*.png"))[:400]:
        from PIL import Image

        lab = np.array(Image.open(m))
        if (lab == 3).mean() > 0.01:
            img = cm / "images" / (m.stem + ".jpg")
            if img.exists():
                out.append(("glasses", img))
                n += 1
                if n >= 3:
                    break
    # side light: the largest cheek-to-cheek brightness ratio among the first CelebA-HQ faces
    side = []
    for p in sorted((SHARED / "faces" / "celebahq512").glob("*.jpg"))[:150]:
        img, faces = detect(an, read(p))
        if faces:
            g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
            a, b = region_mean(g, faces[0], RIGHT_CHEEK), region_mean(g, faces[0], LEFT_CHEEK)
            side.append((max(a, b) / max(min(a, b), 1.0), p))
    for s, p in sorted(side, reverse=True)[:3]:
        out.append((f"side light {s:.1f}x", p))
    for label, rel in (("1927 b/w group", "wild/gpen/Solvay_conference_1927.png"),
                       ("couple", "wild/deepface/couple.jpg"), ("crowd selfie", "wild/deepface/selfie-many-people.jpg"),
                       ("video frame", "videos/retalking/face_2.mp4#30"),
                       ("video frame", "videos/tpsmm/vox_driving.mp4#60"),
                       ("video 720p", "videos/liveportrait/source_s18.mp4#40")):
        if (SHARED / rel.split("#")[0]).exists():
            out.append((label, SHARED / rel))
    glint = sorted((SHARED / "identity" / "glint").rglob("*.png"))
    if glint:
        out.append(("glint 112 px", glint[len(glint) // 3]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="/tmp/deid_sheet.png")
    p.add_argument("--per-row", type=int, default=4, help="pairs per row")
    p.add_argument("--key", default="sheet")
    a = p.parse_args()
    if not SHARED.exists():
        print(f"needs the shared data at {SHARED}", file=sys.stderr)
        return 2
    if Path(a.output).resolve().is_relative_to(REPO) and not Path(a.output).resolve().is_relative_to(REPO / "out"):
        print("the sheet shows non-commercial research data: write it to /tmp or out/, not into the repository",
              file=sys.stderr)
        return 2
    from facecanvas import FaceAnalyzer
    from facecanvas.analysis.identity import SFACE_THRESHOLD, SFaceEmbedder
    from facecanvas.ops.deid import DeidOperation, DeidOptions

    tiles = []
    sface = SFaceEmbedder()
    with FaceAnalyzer() as an:
        op = DeidOperation(DeidOptions(key=a.key), analyzer=an, embedder=sface)
        for i, (label, path) in enumerate(pick(an)):
            img, faces = detect(an, read(path))
            if not faces:
                print(f"{label} {path.name}: no face", file=sys.stderr)
                continue
            f = faces[0]  # the largest
            op.reset()
            r = op.apply(img, [f])
            d = r.details["deid"]
            emb = sface.embed(img, f)
            sim = float(sface.embed(r.image, f) @ emb)
            x0, y0, x1, y1 = (int(v) for v in f.box)
            pad = int(0.3 * (x1 - x0))
            bx = (max(0, x0 - pad), max(0, y0 - pad), min(img.shape[1], x1 + pad), min(img.shape[0], y1 + pad))

            def crop(im):
                c = im[bx[1]:bx[3], bx[0]:bx[2]]
                interp = cv2.INTER_AREA if c.shape[0] > TILE else cv2.INTER_CUBIC
                return cv2.resize(c, (TILE, TILE), interpolation=interp)

            a_, b_ = crop(img), crop(r.image)
            state = "fallback" if d["fallback"] else ("escalated" if d["escalated"] else "")
            text = f"{len(tiles)}: {label}"
            note = f"sim {sim:.2f}{' ' + state if state else ''}{'' if sim < SFACE_THRESHOLD else ' STILL'}"
            for im, t, y in ((a_, text, 12), (b_, note, 12)):
                cv2.putText(im, t, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(im, t, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
            tile = np.hstack([a_, b_])
            tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=40))
            print(f"{len(tiles) - 1}: {label} ({path.relative_to(SHARED)}): face {x1 - x0} px, sim {sim:.3f} {state}",
                  file=sys.stderr)
    if not tiles:
        return 3
    blank = np.zeros_like(tiles[0])
    while len(tiles) % a.per_row:
        tiles.append(blank)
    rows = [np.hstack(tiles[i:i + a.per_row]) for i in range(0, len(tiles), a.per_row)]
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(a.output, np.vstack(rows))
    n = sum(1 for t in tiles if t.any())
    print(f"wrote {a.output} ({n} faces: original | deid)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Contact sheet of face swaps for looking at: >= 24 varied (source, target) pairs from the shared faces.

    .venv/bin/python scripts/swap_sheet.py [-o out/swap_sheet.png] [--pairs 24]

Each tile row: source | target | mesh (the default) | naive (baseline). Targets are chosen for variety:
UTKFace by age (children, the old) and by its race labels, CelebA-HQ faces, a side-lit or turned video
frame; sources are the SimSwap aligned crops and CelebA-HQ faces. Deterministic. The shared data is
non-commercial research data: the sheet goes to out/ or /tmp (git-ignored) and must never be committed.
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


def pick_targets(n: int) -> list[Path]:
    out: list[Path] = []
    utk = SHARED / "faces" / "utkface"
    rows = list(csv.reader((utk / "labels.csv").open()))[1:] if (utk / "labels.csv").exists() else []
    rows.sort()
    want = [(0, 10, r) for r in range(5)] + [(20, 40, r) for r in range(5)] + [(65, 120, r) for r in range(4)]
    for lo, hi, race in want:  # one per (age band, race label)
        hit = [r for r in rows if lo <= int(r[1]) < hi and int(r[3]) == race]
        if hit:
            out.append(utk / hit[len(hit) // 2][0])
    cele = sorted((SHARED / "faces" / "celebahq512").glob("*.jpg"))
    out += cele[10::3][: max(0, n - len(out) - 3)]
    vids = [("videos/liveportrait/source_s18.mp4", 40), ("videos/retalking/face_1.mp4", 30), ("videos/tpsmm/vox_driving.mp4", 60)]
    for rel, k in vids:
        p = SHARED / rel
        if p.exists():
            out.append(Path(f"{p}#{k}"))
    return out[:n]


def pick_sources(n: int) -> list[Path]:
    s = sorted((SHARED / "faces" / "swap_sources" / "simswap_crop224").glob("*.jpg"))
    s += sorted((SHARED / "faces" / "celebahq512").glob("*.jpg"))[200:260:5]
    return [s[(i * 5) % len(s)] for i in range(n)]


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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default=str(REPO / "out" / "swap_sheet.png"))
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--per-row", type=int, default=2)
    a = p.parse_args()
    if not SHARED.exists():
        print(f"needs the shared data at {SHARED}", file=sys.stderr)
        return 2
    from facecanvas import FaceAnalyzer
    from facecanvas.analysis.identity import is_tight, pad_for_detection
    from facecanvas.ops.swap import SwapOperation, SwapOptions
    from facecanvas.swap import SourceFace

    targets, sources = pick_targets(a.pairs), pick_sources(a.pairs)
    tiles = []
    with FaceAnalyzer() as an:
        for i, (sp, tp) in enumerate(zip(sources, targets)):
            try:
                src = SourceFace.from_paths(str(sp), an, embed=False)
            except Exception as e:  # noqa: BLE001
                print(f"{sp}: {e}", file=sys.stderr)
                continue
            img = read(tp)
            faces = an.detect(img)
            if is_tight(img, faces):
                img = pad_for_detection(img, 0.5)
                faces = an.detect(img)
            if not faces:
                print(f"{tp}: no face", file=sys.stderr)
                continue
            f = faces[0]
            row = [cv2.resize(src.texture[80:432, 80:432], (TILE, TILE), interpolation=cv2.INTER_AREA)]
            x0, y0, x1, y1 = (int(v) for v in f.box)
            pad = int(0.3 * (x1 - x0))
            bx = (max(0, x0 - pad), max(0, y0 - pad), min(img.shape[1], x1 + pad), min(img.shape[0], y1 + pad))

            def crop(im):
                return cv2.resize(im[bx[1]:bx[3], bx[0]:bx[2]], (TILE, TILE), interpolation=cv2.INTER_AREA)

            row.append(crop(img))
            for method in ("mesh", "naive"):
                out = SwapOperation(SwapOptions(source="x", method=method), source=src)(img, [f])
                row.append(crop(out))
            label = f"{i}: {sp.name[:14]} -> {tp.name[:18]}"
            cv2.putText(row[1], label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(np.hstack(row))
            print(label, file=sys.stderr)
    if not tiles:
        return 3
    blank = np.zeros_like(tiles[0])
    while len(tiles) % a.per_row:
        tiles.append(blank)
    rows = [np.hstack(tiles[i:i + a.per_row]) for i in range(0, len(tiles), a.per_row)]
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(a.output, np.vstack(rows))
    print(f"wrote {a.output} ({len(tiles)} pairs: source | target | mesh | naive)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

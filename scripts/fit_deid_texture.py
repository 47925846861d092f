"""Fit the synthetic-identity texture model of ``facecanvas deid`` (src/facecanvas/models/deid_texture.npz).

Each face (one per photo, frontal-ish: |yaw|, |pitch| < 20 degrees) is aligned by its five points into
the canonical crop (``align_face``, SIZE px) and its texture is warped piecewise-affinely (the swap's
mesh warp) onto the mean mesh of all faces. A PCA of those shape-free textures (mean + top K components,
per-component std) and a PCA of the 3D meshes (in the same crop frame) make the model; a synthetic
identity is mean + sum z_k sigma_k u_k with z ~ N(0, 1) (facecanvas.deid.model).

Data (non-commercial research terms, see docs/DEID_TEXTURE_MODEL.md): the shared CelebA-HQ 512 set,
UTKFace images and the CelebAMask-HQ train images, in sorted file order, the first N_PER of each
that pass the checks (one face, frontal-ish, no glasses by the face parser: glasses-wearers leave a
ghost frame in the components; at most 12 % of the face oval covered by hair or another occluder, which
is filled from the skin around it, so fringes leave no dark traces at the hairline and temples). Held out: every file whose sorted index is divisible by 10 is skipped (kept
for checking that samples are not copies of training faces). Deterministic: same files, same model.

    .venv/bin/python scripts/fit_deid_texture.py [--data /work/shared/data/faces] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

SIZE = 128
K_TEX, K_SHAPE = 64, 24
SETS = (("celebahq512", 110), ("utkface/images", 70), ("celebamaskhq/train/images", 100))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src" / "facecanvas" / "models" / "deid_texture.npz"))
    ap.add_argument("--no-clean", dest="clean", action="store_false",
                    help="fit the textures as they are (hair and other occluders inside the face oval included)")
    args = ap.parse_args(argv)
    from facecanvas import FaceAnalyzer
    from facecanvas.analysis.align import align_face
    from facecanvas.swap.mesh_warp import PiecewiseWarp, remap, triangles, triangle_affines

    from facecanvas.masks import face_parser as fp

    parser = fp.FaceParser()
    root = Path(args.data)
    crops, meshes, names = [], [], []
    with FaceAnalyzer() as an:
        for sub, n_per in SETS:
            files = sorted(p for p in (root / sub).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            got = 0
            for i, p in enumerate(files):
                if got >= n_per:
                    break
                if i % 10 == 0:  # held out
                    continue
                bgr = cv2.imread(str(p))
                if bgr is None:
                    continue
                faces = an.detect(bgr)
                if len(faces) != 1:
                    continue
                f = faces[0]
                if abs(f.pose.yaw) > 20 or abs(f.pose.pitch) > 20 or f.interocular < 40:
                    continue
                pt = align_face(f.five_points(), parser.input_size)
                lab = parser.logits(pt.warp(bgr, cv2.INTER_AREA)).argmax(2)
                if (lab == fp.GLASSES).mean() > 0.004:
                    continue
                t = align_face(f.five_points(), SIZE)
                crop = t.warp(bgr, cv2.INTER_AREA)
                pts = np.zeros((len(f.landmarks), 3), np.float32)
                pts[:, :2] = t.to_crop(f.landmarks[:, :2])
                pts[:, 2] = f.landmarks[:, 2] * t.scale
                if args.clean:
                    crop = clean_face(crop, pts, cv2.resize(lab.astype(np.uint8), (SIZE, SIZE),
                                                            interpolation=cv2.INTER_NEAREST), fp.FACE_CLASSES)
                    if crop is None:  # the face oval is mostly covered (a fringe to the eyes)
                        continue
                crops.append(crop)
                meshes.append(pts)
                names.append(f"{sub}/{p.name}")
                got += 1
            print(f"{sub}: {got} faces", file=sys.stderr, flush=True)
    meshes = np.stack(meshes)
    mean_mesh = meshes.mean(0)
    tris = triangles(mean_mesh)
    warper = PiecewiseWarp(tris)
    box = (0, 0, SIZE, SIZE)
    ids = warper.raster(mean_mesh, box)
    inside = ids >= 0
    texs = []
    for crop, pts in zip(crops, meshes):
        mx, my = warper.apply(ids, triangle_affines(pts, mean_mesh, tris), box)
        w = remap(crop, mx, my)
        w[~inside] = crop[~inside]
        texs.append(w.astype(np.float32))
    X = np.stack(texs).reshape(len(texs), -1)
    mu = X.mean(0)
    u, s, vt = np.linalg.svd(X - mu, full_matrices=False)
    sd = s / np.sqrt(len(X) - 1)
    S = meshes.reshape(len(meshes), -1).astype(np.float64)
    smu = S.mean(0)
    su, ss, svt = np.linalg.svd(S - smu, full_matrices=False)
    ssd = ss / np.sqrt(len(S) - 1)
    print(f"{len(X)} faces; texture variance kept by {K_TEX}: {(sd[:K_TEX]**2).sum() / (sd**2).sum():.3f}; "
          f"shape by {K_SHAPE}: {(ssd[:K_SHAPE]**2).sum() / (ssd**2).sum():.3f}", file=sys.stderr)
    np.savez_compressed(
        args.out, size=np.int32(SIZE), mean=mu.reshape(SIZE, SIZE, 3).astype(np.float16),
        components=vt[:K_TEX].reshape(K_TEX, SIZE, SIZE, 3).astype(np.float16), std=sd[:K_TEX].astype(np.float32),
        mesh_mean=mean_mesh.astype(np.float32), shape_components=svt[:K_SHAPE].reshape(K_SHAPE, -1, 3).astype(np.float32),
        shape_std=ssd[:K_SHAPE].astype(np.float32), inside=inside, n_faces=np.int32(len(X)),
        sources=np.array(sorted({n.split("/")[0] for n in names})))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


MAX_COVERED = 0.12  # share of the face oval the parser may give to hair, a hat or another occluder


def clean_face(crop: np.ndarray, pts: np.ndarray, labels: np.ndarray, face_classes) -> np.ndarray | None:
    """``crop`` with what covers its face oval (hair, a hat, a hand: the parser's non-face classes) filled
    from the skin around it (harmonic shading, no grain: the PCA would blur grain anyway), so no fitted
    fringe or hairline leaves a dark trace in the components; None when too much of the oval is covered."""
    from facecanvas.analysis import landmark_groups as lg
    from facecanvas.inpaint import inpaint

    oval = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(pts[list(lg.FACE_OVAL), :2]).astype(np.int32)], 1)
    covered = (oval > 0) & ~np.isin(labels, face_classes)
    if covered.mean() > MAX_COVERED * max(oval.mean(), 1e-6):
        return None
    if not covered.any():
        return crop
    # Grown a little into the oval's surround, so the fill starts from skin, not from the hair's edge.
    hole = cv2.dilate(covered.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2) > 0
    return inpaint(crop, hole, method="ns")


if __name__ == "__main__":
    raise SystemExit(main())

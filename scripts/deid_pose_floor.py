"""Where deid's pose error comes from: whose face the mesh swap puts on, one band of the face at a time.

    .venv/bin/python scripts/deid_pose_floor.py [--bands]

On the development people of ``facecanvas eval deid --split dev`` (Glint people 0-5, 5 probes each),
one texture is put on each face with the mesh swap (no verification, no escalation) and the face mesh
is re-fitted on the output, as the evaluation does. Textures: the person's own (what the pipeline alone
costs), the texture model's mean face, a synthetic identity drawn like a pseudonym, and a real other
person's face (another development probe). For each it prints the pose error (degrees), the mean size
of its rotation about the x (nod), y (turn) and z axes, the mean signed nod, and the expression error.

``--bands`` also puts the synthetic identity on one horizontal band of the face at a time (forehead;
brows and eyes; nose; mouth; chin) over the person's own texture, which says which parts the mesh reads
the rotation from. README "De-identification" has the figures. Nothing here uses dlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# Bands along the eye line -> mouth centre axis (0 at the eye line, 1 at the mouth centre).
BANDS = {"forehead": (-9.0, -0.35), "brows and eyes": (-0.35, 0.3), "nose": (0.3, 0.75), "mouth": (0.75, 1.25),
         "chin": (1.25, 9.0)}


def rotation_axes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3,) rotation vector in degrees between meshes ``a`` and ``b``: the rotation pose_error measures."""
    from scipy.spatial.transform import Rotation

    from facecanvas.analysis.mesh_metrics import mesh_rotation

    return Rotation.from_matrix(mesh_rotation(a, b)).as_rotvec() * 180 / np.pi


def band_mask(face, shape, lo: float, hi: float) -> np.ndarray:
    p = face.landmarks[:, :2].astype(np.float64)
    eye, mouth = (p[468] + p[473]) / 2, (p[13] + p[14]) / 2
    v = mouth - eye
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    t = ((xx - eye[0]) * v[0] + (yy - eye[1]) * v[1]) / (v @ v)
    m = ((t >= lo) & (t < hi)).astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), 0.08 * float(np.linalg.norm(v)))[..., None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bands", action="store_true", help="also one band of the face at a time")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"{DATA}: the shared data is not here", file=sys.stderr)
        return 1
    from facecanvas.analysis import FaceAnalyzer
    from facecanvas.deid.model import TextureModel
    from facecanvas.eval.face_metrics import box_iou, expression_error, pose_error
    from facecanvas.eval.swap_eval import DEV_PEOPLE, _load, load_glint
    from facecanvas.ops.deid import SWAP_SETTINGS
    from facecanvas.swap.compose import MeshSwapper, SwapSettings
    from facecanvas.swap.source import SourceFace

    _, photos = load_glint(DATA)
    by: dict[int, list[int]] = {}
    for k, p in enumerate(photos):
        if p.person in DEV_PEOPLE:
            by.setdefault(p.person, []).append(k)
    probes = [by[p][(j * 6) % len(by[p])] for p in DEV_PEOPLE for j in range(5)]
    settings = SwapSettings(shape=0.25, **SWAP_SETTINGS)  # as deid puts on a pseudonym (photos)
    model = TextureModel.load()
    rows: dict[str, list] = {}
    with FaceAnalyzer() as analyzer:
        loaded = [_load(photos[k], analyzer) for k in probes]

        def measure(name, a, out):
            found = [g for g in analyzer.detect(out) if box_iou(g.box, a.face.box) > 0.3]
            if found:
                g = found[0].landmarks
                rows.setdefault(name, []).append([pose_error(a.face.landmarks, g), *rotation_axes(a.face.landmarks, g),
                                                  expression_error(a.face.landmarks, g)])

        for i, a in enumerate(loaded):
            if a.face is None:
                continue
            b = loaded[(i + 7) % len(loaded)]
            sources = {"own": SourceFace.from_face(a.bgr, a.face), "mean face": model.sample(0, 0.0),
                       "synthetic": model.sample(i, 1.0),
                       "real other": SourceFace.from_face(b.bgr, b.face) if b.face is not None else None}
            outs = {}
            for name, src in sources.items():
                if src is None:
                    continue
                outs[name] = a.bgr.copy()
                MeshSwapper(src, settings).swap(outs[name], a.face)
                measure(name, a, outs[name])
            if args.bands:
                for band, (lo, hi) in BANDS.items():
                    m = band_mask(a.face, a.bgr.shape, lo, hi)
                    mixed = (outs["own"] * (1 - m) + outs["synthetic"] * m).astype(np.uint8)
                    measure(f"synthetic on the {band} only", a, mixed)
    heads = ("pose", "x nod", "y turn", "z roll", "nod +-", "expr")
    print(f"{'texture':36s} {'n':>3s} " + " ".join(f"{h:>6s}" for h in heads))
    for name, r in rows.items():
        r = np.array(r)
        size = np.abs(r[:, 1:4]).mean(0)
        print(f"{name:36s} {len(r):3d} {r[:, 0].mean():6.2f} {size[0]:6.2f} {size[1]:6.2f} {size[2]:6.2f} "
              f"{r[:, 1].mean():+6.2f} {r[:, 4].mean():6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

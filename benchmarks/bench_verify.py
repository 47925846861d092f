#!/usr/bin/env python
"""Face verification accuracy of ``facecanvas verify`` (SFace) on the shared Glint identities.

The data: ``labels.csv`` (columns ``path,identity``) and the 112x112 ArcFace-aligned crops it names
(12 people x 30 crops in ``../shared/data/identity/glint``; internal data, never committed). Every
pair i<j is scored once; a pair of the same identity is genuine, any other an impostor.

Two ways to the embedding, both the code ``facecanvas verify`` runs (``identity.embed_largest_face``):

* ``aligned``  the crop is taken as it is (what ``verify`` does for a 112x112 image by default);
* ``detected`` the crop is padded by 50% per side, detected (YuNet + face mesh) and re-aligned from
  the mesh's five points (what ``verify`` does for any other photo, or with ``--detect``).

Printed per path: pairs, the false-accept rate (FAR) and true-accept rate (TAR) at the embedder's
threshold (SFace's own, 0.363), and TAR at FAR 1e-2 and 1e-3 (the threshold is set so that at most
that fraction of impostor pairs is accepted). A crop without a face (detected path) rejects all its
pairs. Only SFace is used here; dlib / face_recognition_models stay reserved as an independent judge.

Usage::

    PYTHONPATH=src python benchmarks/bench_verify.py [--data DIR] [--paths aligned,detected] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from facecanvas.analysis import FaceAnalyzer  # noqa: E402
from facecanvas.analysis.identity import SFaceEmbedder, embed_largest_face  # noqa: E402
from facecanvas.media.image_io import load_image  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "identity" / "glint"


def load_labels(data: Path) -> tuple[list[Path], list[str]]:
    with open(data / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [data / r["path"] for r in rows], [r["identity"] for r in rows]


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float, float]:
    """(TAR, threshold, FAR achieved): accept sim > the (k+1)-th highest impostor score, k = floor(far * n)."""
    imp = np.sort(impostor)[::-1]
    k = int(np.floor(far * len(imp)))
    if k >= len(imp):
        return 1.0, -1.0, 1.0
    thr = float(imp[k])
    return float(np.mean(genuine > thr)), thr, float(np.mean(impostor > thr))


def evaluate(emb: np.ndarray, ok: np.ndarray, labels: list[str], threshold: float) -> dict:
    sims = emb @ emb.T
    lab = np.array(labels)
    i, j = np.triu_indices(len(labels), 1)
    s = sims[i, j]
    s[~(ok[i] & ok[j])] = -np.inf  # a missing face rejects the pair
    same = lab[i] == lab[j]
    gen, imp = s[same], s[~same]
    out = {"pairs": int(len(s)), "genuine": int(len(gen)), "impostor": int(len(imp)), "no_face": int((~ok).sum()),
           "threshold": threshold, "far_at_threshold": float(np.mean(imp >= threshold)),
           "tar_at_threshold": float(np.mean(gen >= threshold))}
    for far in (1e-2, 1e-3):
        tar, thr, achieved = tar_at_far(gen, imp, far)
        out[f"tar_at_far_{far:g}"] = tar
        out[f"threshold_at_far_{far:g}"] = thr
    # Equal error rate, for reference.
    grid = np.linspace(-0.2, 1.0, 1201)
    frr = np.array([np.mean(gen < t) for t in grid])
    fa = np.array([np.mean(imp >= t) for t in grid])
    k = int(np.argmin(np.abs(frr - fa)))
    out["eer"] = float((frr[k] + fa[k]) / 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with labels.csv (default %(default)s)")
    ap.add_argument("--paths", default="aligned,detected", help="comma-separated: aligned, detected")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"bench_verify: no labels.csv in {args.data} (the internal data is not here)", file=sys.stderr)
        return 2
    paths, labels = load_labels(args.data)
    images = [load_image(p).bgr for p in paths]
    embedder = SFaceEmbedder()
    print(f"{args.data}: {len(images)} crops, {len(set(labels))} identities; embedder {embedder.name} "
          f"(threshold {embedder.threshold})")
    results = {}
    with FaceAnalyzer() as analyzer:
        for path in args.paths.split(","):
            t0 = time.perf_counter()
            emb = np.zeros((len(images), embedder.dim), np.float32)
            ok = np.zeros(len(images), bool)
            for n, bgr in enumerate(images):
                v, _ = embed_largest_face(bgr, analyzer, embedder, aligned=(path == "aligned"))
                if v is not None:
                    emb[n], ok[n] = v, True
            ms = 1000 * (time.perf_counter() - t0) / len(images)
            r = evaluate(emb, ok, labels, embedder.threshold)
            r["ms_per_crop"] = ms
            results[path] = r
            print(f"{path:9s} pairs {r['pairs']} ({r['genuine']} genuine, {r['impostor']} impostor), "
                  f"no face {r['no_face']}, {ms:.1f} ms/crop")
            print(f"          at threshold {r['threshold']}: TAR {r['tar_at_threshold']:.4f}  FAR {r['far_at_threshold']:.5f}")
            print(f"          TAR@FAR=1e-2 {r['tar_at_far_0.01']:.4f} (sim > {r['threshold_at_far_0.01']:.3f})  "
                  f"TAR@FAR=1e-3 {r['tar_at_far_0.001']:.4f} (sim > {r['threshold_at_far_0.001']:.3f})  "
                  f"EER {r['eer']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

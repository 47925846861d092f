"""Speed of the neural eraser: one 256x256 fill (Canny + ONNX + composite), model loading excluded.

    .venv/bin/python benchmarks/bench_neural.py [--model PATH] [--runs 30]

Uses the public-domain astronaut (skimage), aligned to the canonical 256 crop, with its own part masks as the
hole, so the fill sees a real face. Prints the median and the 90th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    a = ap.parse_args()
    from skimage.data import astronaut

    from facecanvas import FaceAnalyzer, align_face
    from facecanvas.inpaint.neural import NeuralEraser
    from facecanvas.masks import part_masks, union

    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    with FaceAnalyzer() as analyzer:
        face = analyzer.detect(img)[0]
    t = align_face(face.five_points(), 256)
    crop = t.warp(img)
    hole = union(part_masks(t.to_crop(face.landmarks), (256, 256)))
    eraser = NeuralEraser(a.model, threads=a.threads)
    for _ in range(3):
        eraser.fill(crop, hole)
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        eraser.fill(crop, hole)
        times.append(1000 * (time.perf_counter() - t0))
    print(json.dumps({"model": str(eraser.path), "size": 256, "runs": a.runs,
                      "median_ms": round(float(np.median(times)), 1),
                      "p90_ms": round(float(np.percentile(times, 90)), 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

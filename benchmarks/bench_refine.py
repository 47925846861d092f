"""Speed of the refiner (``--method refine``): one 256x256 fill = the clone fill + the ONNX correction.

    .venv/bin/python benchmarks/bench_refine.py --model PATH [--runs 30] [--threads 1]

Uses the public-domain astronaut (skimage), aligned to the canonical 256 crop, with its own part masks as the
hole. Prints the median and 90th percentile in ms of the clone fill alone, of the correction alone (ONNX run
and composite) and of the whole refine fill; model loading excluded.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np


def timed(fn, runs: int) -> dict[str, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return {"median_ms": round(float(np.median(times)), 1), "p90_ms": round(float(np.percentile(times, 90)), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="refiner ONNX model (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    a = ap.parse_args()
    from skimage.data import astronaut

    from facecanvas import FaceAnalyzer, align_face
    from facecanvas.inpaint.methods import clone_fill
    from facecanvas.inpaint.refine import CloneRefiner
    from facecanvas.masks import part_masks, union

    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    with FaceAnalyzer() as analyzer:
        face = analyzer.detect(img)[0]
    t = align_face(face.five_points(), 256)
    crop = t.warp(img)
    hole = union(part_masks(t.to_crop(face.landmarks), (256, 256)))
    refiner = CloneRefiner(a.model, threads=a.threads)
    coarse = clone_fill(crop, hole)
    print(json.dumps({"model": str(refiner.path), "size": 256, "runs": a.runs,
                      "clone": timed(lambda: clone_fill(crop, hole), a.runs),
                      "correction": timed(lambda: refiner.refine(crop, hole, coarse), a.runs),
                      "refine": timed(lambda: refiner.refine(crop, hole, clone_fill(crop, hole)), a.runs)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

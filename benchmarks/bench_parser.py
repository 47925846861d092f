"""Speed of the face parser on one 256x256 canonical crop, model loading excluded.

    .venv/bin/python benchmarks/bench_parser.py [--model PATH] [--runs 50] [--threads 0]

Uses the public-domain astronaut (skimage) aligned to the canonical 256 crop. Times three things: the ONNX
network alone at its input size, ``FaceParser.parse`` end to end (resize to the net's size, network, logits
resized back to 256, argmax), and ``parse`` with labels taken at the net's size and upsampled by nearest
(the cheaper variant, for reference). Prints wall-clock medians, 90th percentiles and minima in
milliseconds, the median CPU time of this process (what one idle core would take, single-threaded), and
the load average, since a busy machine inflates the wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2
import numpy as np


def _time(fn, runs):
    for _ in range(5):
        fn()
    ts, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ts.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    return {"median_ms": round(float(np.median(ts)), 2), "p90_ms": round(float(np.percentile(ts, 90)), 2),
            "min_ms": round(float(np.min(ts)), 2), "cpu_median_ms": round(float(np.median(cpu)), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1,
                    help="onnxruntime intra-op threads (0: all cores; 1 is fastest on a busy machine)")
    a = ap.parse_args()
    from skimage.data import astronaut

    from facecanvas import FaceAnalyzer, align_face
    from facecanvas.masks.face_parser import FaceParser

    img = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    with FaceAnalyzer() as analyzer:
        face = analyzer.detect(img)[0]
    t = align_face(face.five_points(), 256)
    crop = t.warp(img)
    parser = FaceParser(a.model, threads=a.threads)
    s = parser.input_size
    x = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)[None].astype(np.float32) / 255

    def nearest():
        small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
        lab = parser.parse(small)
        return cv2.resize(lab, (256, 256), interpolation=cv2.INTER_NEAREST)

    res = {"model": str(parser.path), "model_mb": round(os.path.getsize(parser.path) / 1e6, 3), "crop": 256,
           "net_input": s, "runs": a.runs, "threads": a.threads, "loadavg_1min": round(os.getloadavg()[0], 2),
           "network_only": _time(lambda: parser.session.run(None, {"image": x}), a.runs),
           "parse_256": _time(lambda: parser.parse(crop), a.runs),
           "parse_nearest_upsample": _time(nearest, a.runs)}
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Milliseconds per image for SFaceTorch (train/sface_torch.py) on the CPU: forward, and forward+backward
to the input (what an identity loss costs in a training step), at a batch of 16.

Input: random RGB 0..255 tensors (speed does not depend on the content). Each figure is the median of
``--runs`` timed runs after one warm-up run (the first oneDNN call costs about a second), as wall-clock
and as process CPU time. For reference, onnxruntime on the ONNX file is timed too, one image a call
(the file fixes the batch at 1).

Usage::

    PYTHONPATH=src python benchmarks/bench_sface_torch.py [--batch 16] [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from facecanvas.train.sface_torch import SFaceTorch, identity_distance  # noqa: E402


def median_ms(fn, runs: int) -> tuple[float, float]:
    """(wall, process CPU) medians in ms; CPU time is less sensitive to other programs' load."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def ort_ms_per_image(path: Path, runs: int) -> tuple[float, float]:
    import numpy as np
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))  # drop the weight inputs no node reads (onnxruntime would want feeds)
    used = {n for node in m.graph.node for n in node.input}
    inits = {t.name for t in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name in used and i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
    return median_ms(lambda: sess.run(None, {"data": x}), runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    t = time.perf_counter()
    model = SFaceTorch()
    load_ms = (time.perf_counter() - t) * 1000
    x = torch.rand(args.batch, 3, 112, 112, generator=torch.Generator().manual_seed(0)) * 255
    target = torch.randn(args.batch, 128)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        xi = x.clone().requires_grad_(True)
        identity_distance(model, xi, target).sum().backward()

    n = args.batch
    print(f"SFaceTorch on CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {n}, "
          f"median of {args.runs} (load {load_ms:.0f} ms)")
    from facecanvas.analysis.identity import find_sface_model

    rows = [("forward (no_grad)", *(v / n for v in median_ms(forward, args.runs))),
            ("forward + backward", *(v / n for v in median_ms(forward_backward, args.runs))),
            ("onnxruntime, batch 1", *ort_ms_per_image(find_sface_model(), args.runs * 4))]
    print(f"  {'':22s} {'wall':>8s} {'cpu':>8s}  ms/img")
    for name, wall, cpu in rows:
        print(f"  {name:22s} {wall:8.1f} {cpu:8.1f}")


if __name__ == "__main__":
    main()

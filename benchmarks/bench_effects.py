#!/usr/bin/env python
"""Milliseconds per AR effect for one face in a 1280x720 frame, split into erase / compose / paste.

The frame is ``skimage.data.astronaut()`` (public domain) framed head-and-shoulders at 1280x720, face
about 250 px wide (``bench_erase.frame_1280x720``). Faces are found once (model loading and detection
are excluded; their time is printed for reference); each effect then runs ``Effect.apply(frame, faces)``,
the per-frame call a video would make, ``--runs`` times after ``--warmup`` runs.

Stages (from the real call, not a copy of it):

* ``erase``   ``erase_face`` for the parts the effect erases (fill and its own paste-back included)
* ``compose`` moving the parts onto the blank crop (warps, Poisson blending, crop-space stickers)
* ``paste``   pasting the composed crop back into the frame
* ``total``   the whole ``Effect.apply`` call (also the frame copy and image-space stickers)
* ``cpu``     the process CPU time of that call (both threads; less sensitive to other programs' load)

Crop sizes: 256 (the video setting) and ``auto`` (the eraser's choice, near the face's own resolution).
Threading is left as configured.

Usage::

    PYTHONPATH=src python benchmarks/bench_effects.py [--runs 15] [--warmup 2] [--json out/bench_effects.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
for p in (REPO / "src", REPO / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_erase import frame_1280x720  # noqa: E402

from facecanvas.allocator import keep_freed_memory  # noqa: E402
from facecanvas.analysis import FaceAnalyzer  # noqa: E402
from facecanvas.effects import Effect, builtin_names  # noqa: E402
from facecanvas.eraser import work_size  # noqa: E402

STAGES = ("erase", "compose", "paste", "stickers")
TARGET_MS = 35.0


def sticker_effect(folder: Path) -> Path:
    """A user effect with an RGBA sticker on the forehead (drawn here, so nothing external is needed)."""
    star = np.zeros((256, 256, 4), np.uint8)
    pts = np.array([[128 + 120 * np.cos(a) * (1 if i % 2 == 0 else 0.45),
                     128 + 120 * np.sin(a) * (1 if i % 2 == 0 else 0.45)]
                    for i, a in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1])], np.int32)
    cv2.fillPoly(star, [pts], (40, 200, 255, 255), lineType=cv2.LINE_AA)
    cv2.imwrite(str(folder / "star.png"), star)
    path = folder / "star.toml"
    path.write_text('name = "sticker"\nerase = []\n[[sticker]]\nimage = "star.png"\nanchor = "forehead"\n'
                    'width = 0.8\n')
    return path


def time_effect(effect: Effect, frame: np.ndarray, faces, runs: int, warmup: int) -> dict:
    totals, cpu, stages = [], [], {k: [] for k in STAGES}
    for i in range(warmup + runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = effect.apply(frame, faces)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i < warmup:
            continue
        totals.append(dt * 1e3)
        cpu.append(dc * 1e3)
        for k in STAGES:
            stages[k].append(sum(f.timings.get(k, 0.0) for f in result.faces) * 1e3)
    med = lambda v: float(np.median(v))  # noqa: E731
    return {"total": med(totals), "total_p90": float(np.percentile(totals, 90)), "cpu": med(cpu),
            **{k: med(v) for k, v in stages.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc thresholds alone (the CLI fixes them; see facecanvas/allocator.py)")
    args = ap.parse_args(argv)
    if not args.default_malloc:
        keep_freed_memory()  # as the CLI runs

    frame = frame_1280x720()
    donor = cv2.flip(frame, 1)  # a transplant donor that needs no other photo
    rows = []
    with FaceAnalyzer(max_side=640) as analyzer, tempfile.TemporaryDirectory() as tmp:
        analyzer.detect(frame)
        dt = []
        for _ in range(5):
            t0 = time.perf_counter()
            faces = analyzer.detect(frame)
            dt.append((time.perf_counter() - t0) * 1e3)
        faces = faces[:1]
        auto = work_size(faces[0])
        print(f"frame 1280x720, face {faces[0].detection.size:.0f} px, detect+landmarks "
              f"{np.median(dt):.1f} ms (not counted below); auto crop = {auto} px")
        names = builtin_names() + [str(sticker_effect(Path(tmp)))]
        for size in (256, None):
            for name in names:
                effect = Effect(name, size=size, donor=donor, analyzer=analyzer)
                r = time_effect(effect, frame, faces, args.runs, args.warmup)
                rows.append({"effect": effect.name, "crop": size or auto, **r})
    print(f"\n{'effect':<12} {'crop':>5} {'total':>7} {'p90':>7} {'cpu':>7} {'erase':>7} {'compose':>8} "
          f"{'paste':>7}  (ms, median of {args.runs}; target <= {TARGET_MS:.0f} ms total)")
    for r in rows:
        flag = "" if r["total"] <= TARGET_MS else "  over"
        print(f"{r['effect']:<12} {r['crop']:>5} {r['total']:>7.1f} {r['total_p90']:>7.1f} {r['cpu']:>7.1f} "
              f"{r['erase']:>7.1f} {r['compose']:>8.1f} {r['paste']:>7.1f}{flag}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{load:.1f} (other programs' load inflates wall times), python {platform.python_version()}, "
          f"cv2 threads {cv2.getNumThreads()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "runs": args.runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

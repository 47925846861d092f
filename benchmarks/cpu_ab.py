"""CPU milliseconds of erase_face and each effect on one thread, for one or more source trees run in turn.

    .venv/bin/python benchmarks/cpu_ab.py /path/to/old/checkout . --rounds 3

Each tree (a checkout's root, holding src/facecanvas) runs in its own process, alternating, so two versions
meet the same machine load; CPU time (``time.process_time``) on one OpenCV thread is steadier than wall time
on a shared 2-core machine. The face: the bundled astronaut scaled into a 1280x720 frame (bench_erase's
``frame720``), found once. Prints the 10th percentile and the median of each case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

CASES = ("erase512", "erase256", "eyebrowless", "small-face", "comic", "mono-eye", "toonized")


def measure(runs: int) -> None:
    """In the child: time every case with the facecanvas on sys.path."""
    import time

    import cv2
    import numpy as np

    import facecanvas
    from bench_erase import frame_1280x720
    from facecanvas.allocator import keep_freed_memory
    from facecanvas.analysis import FaceAnalyzer
    from facecanvas.effects import apply_effect
    from facecanvas.eraser import EraseSettings, erase_face

    print("facecanvas from", Path(facecanvas.__file__).parent.parent, file=sys.stderr)

    keep_freed_memory()
    cv2.setNumThreads(1)
    img = frame_1280x720()
    faces = FaceAnalyzer(max_side=640).analyze(img).faces
    jobs = {"erase512": lambda: erase_face(img.copy(), faces[0], EraseSettings()),
            "erase256": lambda: erase_face(img.copy(), faces[0], EraseSettings(max_size=256))}
    for name in CASES[2:]:
        jobs[name] = (lambda n: lambda: apply_effect(img, n, faces=faces))(name)
    out = []
    for name in CASES:
        for _ in range(3):
            jobs[name]()
        ts = []
        for _ in range(runs):
            t = time.process_time()
            jobs[name]()
            ts.append(time.process_time() - t)
        out.append(f"{name} {1000 * np.percentile(ts, 10):.1f}/{1000 * np.median(ts):.1f}")
    print("  ".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="*", help="checkout roots to compare (each holds src/facecanvas)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of all trees (default 2)")
    ap.add_argument("--runs", type=int, default=25, help="timed runs per case (default 25)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        measure(a.runs)
        return
    if not a.trees:
        ap.error("give at least one checkout root (e.g. . for this one)")
    print("CPU ms on one thread, 10th percentile/median; cases:", ", ".join(CASES))
    for r in range(a.rounds):
        for tree in a.trees:
            src = Path(tree).resolve() / "src"
            if not (src / "facecanvas").is_dir():
                sys.exit(f"{tree}: no src/facecanvas there")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
            res = subprocess.run([sys.executable, __file__, "--child", "--runs", str(a.runs)], env=env,
                                 capture_output=True, text=True)
            line = res.stdout.strip().splitlines()[-1] if res.returncode == 0 and res.stdout.strip() else \
                f"failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
            print(f"round {r + 1} {tree}: {line}", flush=True)


if __name__ == "__main__":
    main()

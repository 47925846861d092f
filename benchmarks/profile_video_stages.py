"""Per-stage profile of the video erase on multi-face clips, one thread (no decode/track/edit overlap, no
encode): full-frame detection, the per-face mesh, the per-face erase (fill + paste), and the tracker's own
counts (MediaPipe graphs built, detections run, tracks started; a track lost and found again shows as
extra detections, graphs and tracks).

    .venv/bin/python benchmarks/profile_video_stages.py            # builds the clips below into out/
    .venv/bin/python benchmarks/profile_video_stages.py CLIP.mp4 --frames 90

Clips (made from ../shared/data into out/profile_video/, never committed):
- stage3: 640x360, a slow pan and zoom over a group photo (wild/simswap/multi_people.jpg): 3 faces, 58-86 px;
- dfdc360: the DFDC 1080p room scene (videos/dfdc) scaled to 640x360: one 44 px face.
Figures depend on the machine's load (printed); compare runs made side by side.

``--vs-deface N``: then N pairs of whole runs per clip, start-up included, taken in turn (ours, deface, ours,
...): `facecanvas erase CLIP` against deface's own CLI (benchmarks/setup_deface.sh), the median of the
pairs' wall-time ratios printed (the issue's "x deface in one run").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "out" / "profile_video"


def stage_clip(photo: Path, dst: Path, n: int = 240, size=(640, 360)) -> Path:
    import cv2
    import numpy as np

    from facecanvas.media.synthetic import write_clip

    im = cv2.imread(str(photo))
    h, w = im.shape[:2]
    W, H = size
    base = max(W / w, H / h)
    frames = []
    for i in range(n):
        k = i / max(n - 1, 1)
        s = base * (1.0 + 0.15 * k)
        cx, cy = w / 2 + 0.08 * w * np.sin(2 * np.pi * k), h / 2
        m = np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]], np.float64)
        frames.append(cv2.warpAffine(im, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return write_clip(dst, frames, fps=30, audio=False)


def scaled_clip(src: Path, dst: Path, size=(640, 360)) -> Path:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=30)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        vout.time_base = Fraction(1, 30)
        vout.options = {"crf": "18"}
        for i, frame in enumerate(inp.decode(vin)):
            img = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            img.pts, img.time_base = i, Fraction(1, 30)
            for pkt in vout.encode(img):
                out.mux(pkt)
        for pkt in vout.encode():
            out.mux(pkt)
    return dst


def profile(clip: Path, frames: int, mesh_every: int | None = None, warmup: int = 15) -> None:
    import facecanvas.eraser as eraser
    import facecanvas.ops.erase as erase_op
    from facecanvas.media.video_io import VideoReader, probe
    from facecanvas.ops import build
    from facecanvas.pipeline import TrackingOptions, make_processor

    T, C = defaultdict(float), defaultdict(int)

    live = [False]  # timings start after the warm-up frames (imports, graphs and sessions built)

    def timed(fn, key):
        def w(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                if live[0]:
                    T[key] += time.perf_counter() - t
                    C[key] += 1
        return w

    def counted(fn, key):
        def w(*a, **k):
            out = fn(*a, **k)
            C[key] += live[0] and out is not None
            return out
        return w

    op = build("erase", video=True)
    proc = make_processor(op, TrackingOptions(mesh_every=mesh_every))
    proc.tracker.detector.detect = timed(proc.tracker.detector.detect, "detect (full frame)")
    proc.tracker.landmarker.landmarks = timed(proc.tracker.landmarker.landmarks, "mesh (per face)")
    erase_op.erase_face = timed(erase_op.erase_face, "erase (per face: fill + paste)")
    if hasattr(eraser, "_blank_again"):  # (absent before the kept blank faces: for before/after runs)
        eraser._blank_again = counted(eraser._blank_again, "blank reused")
    n = faces = seen = 0
    c0 = t0 = 0.0
    for fr in VideoReader(clip, info=probe(clip)):
        seen += 1
        if seen == warmup + 1:
            live[0] = True
            c0, t0 = time.process_time(), time.perf_counter()
        if not live[0]:
            chosen = proc.track(fr.bgr, fr.time)
            proc.apply(fr.bgr, chosen)
            continue
        t = time.perf_counter()
        chosen = proc.track(fr.bgr, fr.time)
        T["track (all)"] += time.perf_counter() - t
        t = time.perf_counter()
        _, done = proc.apply(fr.bgr, chosen)
        T["op (all)"] += time.perf_counter() - t
        n, faces = n + 1, faces + len(done)
        if n >= frames:
            break
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    proc.tracker.close()
    st = proc.tracker.stats
    print(f"\n{clip.name} (--mesh-every {mesh_every or 'auto'}): {n} frames after {warmup} warm-up frames, {faces / n:.2f} "
          f"faces/frame; {n / wall:.1f} fps, CPU {1000 * cpu / n:.1f} ms/frame (load {os.getloadavg()[0]:.1f})")
    for k in ("detect (full frame)", "mesh (per face)", "track (all)", "erase (per face: fill + paste)", "op (all)"):
        calls = C[k] or n
        print(f"  {k:32s} {1000 * T[k] / n:7.1f} ms/frame  {calls:5d} calls  {1000 * T[k] / calls:6.1f} ms/call")
    print(f"  MediaPipe graphs built {getattr(proc.tracker.landmarker, 'built', '?')}, detections run "
          f"{st.detections_run}, tracks started {st.tracks_started}, flow steps {st.flow_steps}, blank faces "
          f"reused {C['blank reused']} of {C['erase (per face: fill + paste)']}")


def vs_deface(clip: Path, pairs: int) -> None:
    import statistics
    import subprocess

    deface = REPO / ".venv-deface" / "bin" / "deface"
    if not deface.exists():
        print("  (deface not installed: bash benchmarks/setup_deface.sh)")
        return
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    ours = [sys.executable, "-m", "facecanvas.cli.main", "erase", str(clip), "-o", str(OUT / f"{clip.stem}_erase.mp4"),
            "--overwrite", "--no-progress"]
    theirs = [str(deface), str(clip), "-o", str(OUT / f"{clip.stem}_deface.mp4")]

    def wall(cmd) -> float:
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return time.perf_counter() - t

    a, b = [], []
    for _ in range(pairs):
        a.append(wall(ours))
        b.append(wall(theirs))
    ratios = [y / x for x, y in zip(a, b)]
    print(f"  whole runs, start-up included ({pairs} pairs, in turn): facecanvas erase {statistics.median(a):.2f} s, "
          f"deface {statistics.median(b):.2f} s; facecanvas is {statistics.median(ratios):.2f}x deface's speed "
          f"(pairs {min(ratios):.2f}-{max(ratios):.2f})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--frames", type=int, default=90, help="frames timed (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=15, help="frames run first, untimed")
    ap.add_argument("--vs-deface", type=int, default=0, metavar="N", help="then N pairs of whole CLI runs against deface")
    ap.add_argument("--mesh-every", type=int, default=None, help="default: the tracker's own choice")
    args = ap.parse_args()
    from facecanvas.cli.main import _quiet_native_logs

    _quiet_native_logs()
    clips = args.clips
    if not clips:
        OUT.mkdir(parents=True, exist_ok=True)
        group, dfdc = SHARED / "wild" / "simswap" / "multi_people.jpg", SHARED / "videos" / "dfdc" / "abofeumbvv.mp4"
        if not group.exists() or not dfdc.exists():
            print(f"needs {SHARED} (or give clips)")
            return 2
        clips = [OUT / "stage3.mp4", OUT / "dfdc360.mp4"]
        if not clips[0].exists():
            stage_clip(group, clips[0])
        if not clips[1].exists():
            scaled_clip(dfdc, clips[1])
    for clip in clips:
        profile(clip, args.frames, args.mesh_every, args.warmup)
        if args.vs_deface:
            vs_deface(clip, args.vs_deface)
    return 0


if __name__ == "__main__":
    sys.exit(main())

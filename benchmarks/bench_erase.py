#!/usr/bin/env python
"""Per-stage and end-to-end timing (and peak memory) of erasing one face with facecanvas.

Cases (model loading is excluded: each FaceAnalyzer is built once, warmed up, then timed):

* ``frame720``   1280x720 video frame built from ``skimage.data.astronaut()`` (public domain), face ~250 px
                 wide; timed with the video preset ``FaceAnalyzer(max_side=640)`` and the default (1600).
* ``photo1024``  the astronaut resized to 1024x1024, default analyzer.
* ``dfdc1080``   (optional) a real 1080p frame of ``shared/data/videos/dfdc/abofeumbvv.mp4``, both presets.
* ``celebahq512``(optional) one CelebA-HQ 512x512 photo, default analyzer.

The optional cases run only when ``<repo>/../shared/data`` exists (internal data, never committed).

Stages, for the largest face: detect (detector only) -> landmarks (face mesh) -> pose -> the real
``facecanvas.eraser.erase_face``, split into fill (its ``inpaint`` or ``plan_clone``/``render_clone`` calls), paste-back (its ``paste_back``
call) and align+masks (the rest: warp, part and skin masks, feather) by wrapping those two names in
this process -> output (erase()'s full-frame image copy, alpha union and uint8 mask).
``end-to-end`` is the real ``erase(bgr, analyzer=...)`` call, timed separately.

Threading is left as configured: ``cv2.setNumThreads`` is not called and ``OMP_NUM_THREADS`` is not set.

Usage::

    PYTHONPATH=src python benchmarks/bench_erase.py [--runs 30] [--warmup 3] [--json out/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from facecanvas.allocator import keep_freed_memory  # noqa: E402
from facecanvas import eraser as eraser_mod  # noqa: E402
from facecanvas.analysis import Face, FaceAnalyzer  # noqa: E402
from facecanvas.analysis.pose import estimate_pose  # noqa: E402
from facecanvas.eraser import EraseSettings, erase, work_size  # noqa: E402
from facecanvas.inpaint.fills import CloneFill  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
STAGES = ("detect", "landmarks", "pose", "align+masks", "fill", "paste-back", "output")
STAGE_NOTES = {
    "detect": "detector only (resize to max_side + YuNet/MediaPipe)",
    "landmarks": "478-point face mesh on a crop of the face",
    "pose": "head pose from the landmarks",
    "align+masks": "erase_face minus fill and paste: warp, part/skin masks, feather",
    "fill": "inpaint() or plan_clone() + render_clone() calls inside erase_face",
    "paste-back": "paste_back() call inside erase_face",
    "output": "erase()'s full-frame image copy, alpha union, uint8 mask",
}

# Detection box of the astronaut's face in the 512x512 original (YuNet): x0, y0, x1, y1.
_ASTRO_FACE = (178.0, 62.6, 268.4, 176.4)


# ----------------------------------------------------------------------------------------- test images

def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def frame_1280x720(face_width: float = 250.0) -> np.ndarray:
    """The astronaut scaled so her face is ~``face_width`` px wide, framed head-and-shoulders in 1280x720
    (borders that fall outside the photo are reflected)."""
    src = astronaut_bgr()
    x0, y0, x1, y1 = _ASTRO_FACE
    s = face_width / (x1 - x0)
    big = cv2.resize(src, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    cx, cy = (x0 + x1) / 2 * s, (y0 + y1) / 2 * s
    W, H = 1280, 720
    left, top = int(round(cx - W / 2)), int(round(cy - 0.42 * H))  # face centre a little above the middle
    pad = max(0, -left, -top, left + W - big.shape[1], top + H - big.shape[0])
    if pad:
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        left, top = left + pad, top + pad
    return np.ascontiguousarray(big[top:top + H, left:left + W])


def photo_1024() -> np.ndarray:
    return cv2.resize(astronaut_bgr(), (1024, 1024), interpolation=cv2.INTER_CUBIC)


def dfdc_frame(index: int = 0) -> np.ndarray | None:
    path = SHARED / "videos" / "dfdc" / "abofeumbvv.mp4"
    if not path.is_file():
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        if index:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    return frame if ok else None


def celebahq_photo(name: str = "00000.jpg") -> np.ndarray | None:
    path = SHARED / "faces" / "celebahq512" / name
    return cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None


# ----------------------------------------------------------------------------------------- measurement

_PEAK_SEEN = 0.0  # the whole run's peak RSS (MiB): resets of the kernel's mark are folded in here


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM, which ru_maxrss also reads) of this process, so each case
    reports its own peak; Linux >= 4.0. The peak so far is kept in _PEAK_SEEN. False if not allowed."""
    global _PEAK_SEEN
    _PEAK_SEEN = max(_PEAK_SEEN, _ru_maxrss_mib())
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _ru_maxrss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024  # bytes on macOS, KiB on Linux


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "min": float(a.min()), "mean": float(a.mean()), "n": len(ms)}


class _StageClock:
    """Times the fill and paste-back calls made inside the real ``erase_face``: the fill through a timed
    wrapper of the clone fill it is given, the paste by wrapping the name ``facecanvas.eraser`` looks it up
    by (only in this process). So the stage split follows erase_face as it is, not a copy of it."""

    def __init__(self):
        self.fill = self.paste = 0.0
        self._orig = None
        inner = CloneFill()
        clock = self

        class TimedClone:  # a PlannedFill, so erase_face drives it exactly as the clone fill
            name, crop_size = inner.name, inner.crop_size
            fill = staticmethod(clock._wrap(inner.fill, "fill"))
            plan = staticmethod(clock._wrap(inner.plan, "fill"))
            render = staticmethod(clock._wrap(inner.render, "fill"))
            reads = staticmethod(clock._wrap(inner.reads, "fill"))

        self.fill_method = TimedClone()

    def _wrap(self, fn, attr):
        def timed(*a, **k):
            c = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                setattr(self, attr, getattr(self, attr) + time.perf_counter() - c)
        return timed

    def __enter__(self):
        self._orig = eraser_mod.paste_back
        eraser_mod.paste_back = self._wrap(self._orig, "paste")
        return self

    def __exit__(self, *exc):
        eraser_mod.paste_back = self._orig


def staged_once(analyzer: FaceAnalyzer, bgr: np.ndarray, max_size: int = 512) -> dict[str, float] | None:
    """One pass over the stages of erase() for the largest face; returns milliseconds per stage."""
    t = {}
    c0 = time.perf_counter()
    dets = [d for d in analyzer.detector.detect(bgr) if d.size >= analyzer.min_face_size]
    c1 = time.perf_counter()
    t["detect"] = c1 - c0
    if not dets:
        return None
    lms = analyzer.landmarker.landmarks(bgr, dets[0])
    c2 = time.perf_counter()
    t["landmarks"] = c2 - c1
    if lms is None:
        return None
    pose = estimate_pose(lms)
    c3 = time.perf_counter()
    t["pose"] = c3 - c2
    face = Face(dets[0], lms, pose)

    out = bgr.copy()  # erase()'s own work: counted under "output"
    c4 = time.perf_counter()
    with _StageClock() as clock:
        done = eraser_mod.erase_face(out, face, EraseSettings(fill=clock.fill_method, max_size=max_size))
    c5 = time.perf_counter()
    t["fill"] = clock.fill
    t["paste-back"] = clock.paste
    t["align+masks"] = (c5 - c4) - clock.fill - clock.paste  # the rest of erase_face
    eraser_mod.replaced_mask(bgr.shape, [done])
    t["output"] = (time.perf_counter() - c5) + (c4 - c3)
    return {k: v * 1000 for k, v in t.items()}


def run_case(name: str, bgr: np.ndarray, analyzer: FaceAnalyzer, preset: str, runs: int, warmup: int,
             max_size: int = 512) -> dict:
    h, w = bgr.shape[:2]
    max_side = getattr(analyzer.detector, "max_side", None)
    if max_side:
        sc = min(1.0, max_side / max(h, w))
        det_size = (round(w * sc), round(h * sc)) if sc < 1 else (w, h)
    else:
        det_size = (w, h)
    _reset_peak_rss()

    c = time.perf_counter()
    faces = analyzer.detect(bgr)  # first call on this image (lazy model start-up on an analyzer's first use)
    first_ms = (time.perf_counter() - c) * 1000
    info = {"case": name, "preset": preset, "image": f"{w}x{h}",
            "detector": type(analyzer.detector).__name__, "detector_max_side": max_side,
            "detector_input": f"{det_size[0]}x{det_size[1]}", "faces": len(faces),
            "first_analyze_ms": first_ms}
    if not faces:
        info["error"] = "no face found"
        return info
    f0 = faces[0]
    info["face_box_px"] = f"{f0.box[2] - f0.box[0]:.0f}x{f0.box[3] - f0.box[1]:.0f}"
    info["interocular_px"] = round(f0.interocular, 1)
    info["work_crop"] = work_size(f0, max_size=max_size)

    for _ in range(warmup):
        staged_once(analyzer, bgr, max_size)
    per: dict[str, list[float]] = {k: [] for k in STAGES}
    for _ in range(runs):
        r = staged_once(analyzer, bgr, max_size)
        if r is None:
            info["error"] = "face lost during timing"
            return info
        for k in STAGES:
            per[k].append(r[k])
    sums = [sum(per[k][i] for k in STAGES) for i in range(runs)]

    for _ in range(warmup):
        erase(bgr, analyzer=analyzer, max_size=max_size)
    e2e = []
    for _ in range(runs):
        c = time.perf_counter()
        res = erase(bgr, analyzer=analyzer, max_size=max_size)
        e2e.append((time.perf_counter() - c) * 1000)
    info["erased_faces"] = len(res.faces)

    info["stages_ms"] = {k: _stats(v) for k, v in per.items()}
    info["stages_sum_ms"] = _stats(sums)
    info["end_to_end_ms"] = _stats(e2e)
    info["peak_rss_mib"] = _vm_hwm_mib()  # since the reset above (whole process so far if it failed)

    # Python/numpy-side allocations of one erase() call (OpenCV/MediaPipe native buffers are not seen).
    tracemalloc.start()
    erase(bgr, analyzer=analyzer, max_size=max_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    info["tracemalloc_peak_mib"] = peak / 2**20
    return info


# ----------------------------------------------------------------------------------------- report

def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info() -> dict:
    try:
        import mediapipe

        mp_version = mediapipe.__version__
    except Exception:  # noqa: BLE001
        mp_version = "n/a"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "cv2": cv2.__version__, "mediapipe": mp_version,
        "cv2_threads": cv2.getNumThreads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
    }


def print_case(r: dict) -> None:
    title = f"{r['case']} [{r['preset']}]  image {r['image']}, {r['detector']} max_side={r['detector_max_side']}" \
            f" -> detector input {r['detector_input']}"
    print(title)
    print("-" * len(title))
    if "error" in r:
        print(f"  skipped: {r['error']}\n")
        return
    print(f"  faces found {r['faces']}, face box {r['face_box_px']} px, interocular {r['interocular_px']} px,"
          f" erase crop {r['work_crop']}x{r['work_crop']}")
    print(f"  first analyzer.detect() call on this image (not timed below): {r['first_analyze_ms']:.0f} ms")
    print(f"  {'stage':<14}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for k, s in r["stages_ms"].items():
        print(f"  {k:<14}{s['median']:>10.2f}{s['p90']:>10.2f}{s['min']:>10.2f}   {STAGE_NOTES[k]}")
    s = r["stages_sum_ms"]
    print(f"  {'(sum stages)':<14}{s['median']:>10.2f}{s['p90']:>10.2f}{s['min']:>10.2f}")
    s = r["end_to_end_ms"]
    print(f"  {'end-to-end':<14}{s['median']:>10.2f}{s['p90']:>10.2f}{s['min']:>10.2f}"
          f"   ({1000 / s['median']:.1f} fps, {r['erased_faces']} face(s) erased)")
    rss = "n/a" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f} MiB"
    print(f"  peak RSS during case {rss}; tracemalloc peak of one erase() {r['tracemalloc_peak_mib']:.1f} MiB\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Optional cases use <repo>/../shared/data when present.")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per case (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warm-up runs per case (default 3)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write all results as JSON here")
    ap.add_argument("--no-shared", action="store_true", help="skip the optional shared/data cases")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc's malloc thresholds alone (the CLI fixes them; see facecanvas/allocator.py)")
    args = ap.parse_args(argv)
    tuned = False if args.default_malloc else keep_freed_memory()
    if args.runs < 1:
        ap.error("--runs must be >= 1")

    mi = machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in mi.items()))
    rss0 = _ru_maxrss_mib()

    t = time.perf_counter()
    video = FaceAnalyzer(max_side=640)
    default = FaceAnalyzer()
    load_s = time.perf_counter() - t
    rss_loaded = _ru_maxrss_mib()
    print(f"model loading (excluded from timings): {load_s:.2f} s for two analyzers;"
          f" peak RSS {rss0:.0f} MiB before, {rss_loaded:.0f} MiB after loading")
    print(f"runs={args.runs}, warmup={args.warmup}; times in milliseconds, wall clock (perf_counter)")
    print("allocator: " + ("malloc thresholds fixed, as the CLI runs (facecanvas/allocator.py)" if tuned
                           else "glibc defaults (--default-malloc or not glibc)"))
    print(f"load average at start {_loadavg()} (other busy processes on this machine inflate the timings)\n")

    cases: list[tuple] = []
    f720 = frame_1280x720()
    cases += [("frame720", f720, video, "video max_side=640"), ("frame720", f720, default, "default max_side=1600"),
              ("frame720", f720, video, "video max_side=640, crop max 256 (as the video CLI)", 256)]
    cases += [("photo1024", photo_1024(), default, "default max_side=1600")]
    skipped = []
    if args.no_shared:
        skipped.append("shared/data cases: --no-shared")
    elif not SHARED.is_dir():
        skipped.append(f"shared/data cases: {SHARED} not found")
    else:
        fr = dfdc_frame()
        if fr is None:
            skipped.append("dfdc1080: video missing or unreadable")
        else:
            cases += [("dfdc1080", fr, video, "video max_side=640"), ("dfdc1080", fr, default, "default max_side=1600")]
        ph = celebahq_photo()
        if ph is None:
            skipped.append("celebahq512: faces/celebahq512/00000.jpg missing")
        else:
            cases += [("celebahq512", ph, default, "default max_side=1600")]

    results = []
    for name, img, an, preset, *max_size in cases:
        r = run_case(name, img, an, preset, args.runs, args.warmup, *max_size)
        print_case(r)
        results.append(r)
    for s in skipped:
        print(f"skipped {s}")
    print(f"load average at end {_loadavg()}")
    peak_all = max(_PEAK_SEEN, _ru_maxrss_mib())
    print(f"process peak RSS (getrusage ru_maxrss, whole run incl. models): {peak_all:.0f} MiB")

    video.close()
    default.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": mi, "runs": args.runs, "warmup": args.warmup,
                                         "model_load_s": load_s, "rss_after_load_mib": rss_loaded,
                                         "peak_rss_mib": peak_all, "skipped": skipped,
                                         "cases": results}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

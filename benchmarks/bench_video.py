"""Video benchmark: end-to-end throughput (decode + track + edit + encode), temporal stability, live latency,
and deface's own CLI on the same clips, all in one run on this machine.

    .venv/bin/python benchmarks/bench_video.py                 # needs ../shared/data/videos
    .venv/bin/python benchmarks/bench_video.py --synthetic     # the astronaut clip only (no internal data)

Rows per clip:
- identity: our pipeline with an operation that changes nothing: the cost of decode, tracking and encode.
- erase / comic: the real operations (comic when facecanvas.effects is installed).
- erase, raw landmarks: the same with the One Euro filter off, to show what smoothing buys.
- deface: ``deface CLIP -o OUT --keep-audio`` (blur, its defaults; onnxruntime backend) from .venv-deface
  (benchmarks/setup_deface.sh), timed as a whole process; our CLI is timed the same way for the ratio.

"temporal" = mean frame-to-frame change in the face region, output / input (1.0 = as jumpy as the
original face; see facecanvas/eval/temporal.py). Live: a clip played as a camera in real time through
the live server with one browser-like client; latency = frame handed to the page - frame arrived.
Outputs go to out/bench_video/ (git-ignored). Figures vary with other load on the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facecanvas.allocator import keep_freed_memory  # noqa: E402
from facecanvas.analysis.detect import create_detector  # noqa: E402
from facecanvas.analysis.track import FaceTracker, TrackerConfig  # noqa: E402
from facecanvas.eval.temporal import TemporalMeter  # noqa: E402
from facecanvas.media.video_io import probe  # noqa: E402
from facecanvas.ops import OpSpec, build  # noqa: E402
from facecanvas.video import FrameProcessor, process_video  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import live_latency  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "videos"
CLIPS = {
    "dfdc 1080p": SHARED / "dfdc" / "abofeumbvv.mp4",
    "talking head 720p": SHARED / "liveportrait" / "source_s18.mp4",
}
OUT = REPO / "out" / "bench_video"
DEFACE = REPO / ".venv-deface" / "bin" / "deface"


def op_spec(name: str) -> OpSpec:
    """What `facecanvas erase CLIP` / `facecanvas effect NAME CLIP` run."""
    if name == "identity":
        return OpSpec("passthrough")
    if name.startswith("erase"):
        return OpSpec("erase")
    return OpSpec("effect", {"effect": name})


def make_op(name: str):
    return build(op_spec(name), video=True)


def cpu_seconds(who=resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_ours(clip: Path, op_name: str, smooth: bool = True) -> dict:
    tracker = FaceTracker(create_detector("auto", 960), TrackerConfig(smooth=smooth))
    processor = FrameProcessor(make_op(op_name), tracker)
    meter = TemporalMeter()
    c0 = cpu_seconds()
    dst = OUT / f"{clip.stem}_{op_name.replace(' ', '_')}{'' if smooth else '_raw'}.mp4"
    rep = process_video(clip, dst, processor, overwrite=True, progress=False,
                        on_frame=lambda fr, out, faces: meter.add(fr.bgr, out, faces))
    processor.tracker.close()
    t = rep.timings
    cpu_ms = 1000 * (cpu_seconds() - c0) / rep.frames
    return {"cpu_ms": cpu_ms, "fps": rep.fps, "track_ms": 1000 * t.track_s / t.frames,
            "op_ms": 1000 * t.op_s / max(t.frames, 1),
            "temporal": meter.stats.ratio, "edited": meter.stats.edited_ratio, "faces": t.frames_with_faces,
            "frames": rep.frames, "ids": rep.track_ids}


def timed_process(cmd: list[str], frames: int) -> tuple[float, float] | None:
    """(frames per second of wall time, CPU ms per frame) of a whole child process."""
    c0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    if r.returncode != 0:
        print(f"  ! {' '.join(cmd[:2])} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        return None
    return frames / (time.perf_counter() - t0), 1000 * (cpu_seconds(resource.RUSAGE_CHILDREN) - c0) / frames


def run_live_bench(clip: Path, op_name: str, seconds: float) -> dict:
    return live_latency(clip, make_op(op_name), seconds, op_name)


def one_run(op: str, clip: str, dst: str) -> int:
    """A whole process, start-up included, running the library's video batch with an op (as the CLI does)."""
    from facecanvas.batch import run_videos, summarize
    from facecanvas.cli.main import _quiet_native_logs
    from facecanvas.pipeline import TrackingOptions

    _quiet_native_logs()
    results = run_videos([(Path(clip), Path(dst))], make_op(op), TrackingOptions(), overwrite=True, progress=False)
    return summarize(results)


def main() -> int:
    keep_freed_memory()  # as the CLI runs; the --one-run child processes pass here too
    if len(sys.argv) >= 5 and sys.argv[1] == "--one-run":
        return one_run(*sys.argv[2:5])
    from facecanvas.cli.main import _quiet_native_logs

    _quiet_native_logs()  # MediaPipe's C++ start-up chatter
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", default="identity,erase,comic", help="comma-separated: identity, erase, comic, ...")
    ap.add_argument("--no-deface", action="store_true")
    ap.add_argument("--no-raw", action="store_true", help="skip the erase-without-smoothing row")
    ap.add_argument("--live-seconds", type=float, default=12.0)
    ap.add_argument("--synthetic", action="store_true", help="use the astronaut clip instead of shared data")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    clips = dict(CLIPS)
    if args.synthetic or not all(p.exists() for p in clips.values()):
        if not args.synthetic:
            print(f"(shared clips not found under {SHARED}; using the synthetic astronaut clip)")
        from facecanvas.media.synthetic import astronaut_clip

        clips = {"astronaut 1280x720": astronaut_clip(OUT / "astronaut.mp4", n=150, size=(1280, 720))}
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    if "comic" in ops:
        try:
            make_op("comic")
        except Exception as e:  # noqa: BLE001 - effects may not be installed yet
            print(f"(comic skipped: {type(e).__name__}: {e})")
            ops.remove("comic")
    if not args.no_deface and not DEFACE.exists():
        print("(deface not installed: run benchmarks/setup_deface.sh; deface rows skipped)")
        args.no_deface = True

    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}")

    for label, clip in clips.items():
        info = probe(clip)
        print(f"\n{label}: {clip.name} ({info.describe()})")
        results = {}
        for op in ops + ([] if args.no_raw or "erase" not in ops else ["erase, raw landmarks"]):
            r = run_ours(clip, op.split(",")[0], smooth="raw" not in op)
            results[op] = r
            print(f"  {op:22s} {r['fps']:6.1f} fps  cpu {r['cpu_ms']:5.1f} ms/frame  tracking {r['track_ms']:5.1f} ms  "
                  f"edit {r['op_ms']:6.1f} ms/frame  "
                  f"temporal {r['temporal']:.3f} (edited px {r['edited']:.3f})  faces in {r['faces']}/{r['frames']} "
                  f"frames, {r['ids']} track id(s)")

        if not args.no_deface:
            for op in [o for o in ("erase", "comic") if o in ops]:
                dst = OUT / f"{clip.stem}_{op}_cli.mp4"
                if op == "erase":
                    cmd = [sys.executable, "-m", "facecanvas.cli.main", "erase", str(clip), "-o", str(dst)]
                else:  # what `facecanvas effect NAME CLIP -o OUT` runs once it dispatches video to run_video
                    cmd = [sys.executable, __file__, "--one-run", op, str(clip), str(dst)]
                res = timed_process(cmd + ["--overwrite", "--no-progress"], info.frames)
                if res:
                    print(f"  {op + ' (whole CLI run)':22s} {res[0]:6.1f} fps  cpu {res[1]:5.1f} ms/frame")
                    results[op + " cli"] = {"fps": res[0], "cpu_ms": res[1]}
            dres = timed_process([str(DEFACE), str(clip), "-o", str(OUT / f"{clip.stem}_deface.mp4"), "--keep-audio"],
                                 info.frames)
            if dres:
                print(f"  {'deface (whole CLI run)':22s} {dres[0]:6.1f} fps  cpu {dres[1]:5.1f} ms/frame")
                for op in ("erase", "comic"):
                    if op + " cli" in results:
                        r = results[op + " cli"]
                        print(f"    {op} / deface: throughput {r['fps'] / dres[0]:.2f}x, "
                              f"CPU per frame {dres[1] / r['cpu_ms']:.2f}x less")
    if args.live_seconds > 0:
        label, clip = list(clips.items())[-1]
        print(f"\nlive (--source {clip.name} in real time, MJPEG page with one client, {args.live_seconds:.0f} s):")
        for op in ops:
            r = run_live_bench(clip, op, args.live_seconds)
            print(f"  {op:22s} added latency median {r['median']:5.1f} ms, p95 {r['p95']:5.1f} ms; "
                  f"shown {r['fps']:.1f} of {r['source_fps']:.0f} fps, {r['dropped']} frames dropped")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

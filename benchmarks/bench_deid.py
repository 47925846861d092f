"""De-identification speed on a 720p clip with one face: the edit alone, the whole command line, and live.

    .venv/bin/python benchmarks/bench_deid.py [--clip CLIP.mp4] [--frames 90] [--live-seconds 10] [--no-cli]

1. The operation alone (``DeidOperation(video=True)``) on tracked 720p frames, ms per frame: as the CLI
   runs it (SFace verification on every 2nd frame of a track; also on every frame), as live runs it (every 5th
   frame of a track), and without verification.
2. The whole CLI run, ``facecanvas deid CLIP -o OUT.mp4`` as a child process (start-up, decode, tracking,
   the edit, encode, audio copy): frames / wall seconds, and the command's own figure after loading.
3. Live: the clip played as a camera in real time (``FileSource``, as ``facecanvas live --source CLIP
   --deid``), with the live server and one browser-like client reading the MJPEG stream. Added latency
   per shown frame = hand-over to the page - arrival from the source (what ``facecanvas live`` prints),
   median and p95; the same for ``--passthrough`` (tracking and the page alone), and the deid edit's own
   median ms per shown frame.

Default clip: the shared 720p talking head (liveportrait/source_s18.mp4, 1280x720, 282 frames, one
face); internal research data: nothing is written into the repository (outputs go to a temp dir).
Wall and CPU time are both printed: on a loaded machine wall time says more about the neighbours.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import live_latency  # noqa: E402


def cpu_seconds(who=resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bench_op(clip: Path, frames: int) -> None:
    import av

    from facecanvas.ops.deid import DeidOperation, DeidOptions
    from facecanvas.pipeline import TrackingOptions, make_processor

    imgs = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            imgs.append(f.to_ndarray(format="bgr24"))
            if len(imgs) >= frames:
                break
    h, w = imgs[0].shape[:2]
    for label, opts in (("verify every frame", {"verify_every": 1}), ("verify every 2nd frame (the CLI)", {}),
                        ("verify every 5th frame (live)", {"verify_every": 5}), ("no verification", {"verify": False})):
        op = DeidOperation(DeidOptions(key="bench", **opts), video=True)
        proc = make_processor(op, TrackingOptions())
        t0 = time.perf_counter()
        tracked = [list(proc.track(im, i / 30)) for i, im in enumerate(imgs)]
        track_ms = 1000 * (time.perf_counter() - t0) / len(imgs)
        for im, faces in zip(imgs[:5], tracked[:5]):  # warm-up: the first identity, the parser
            op(im, faces)
        op.reset()
        ms, c0, n = [], time.process_time(), 0
        for im, faces in zip(imgs, tracked):
            t1 = time.perf_counter()
            op(im, faces)
            ms.append(1000 * (time.perf_counter() - t1))
            n += len(faces)
        cpu = 1000 * (time.process_time() - c0) / len(imgs)
        print(f"  deid op, {label}, {w}x{h}: median {np.median(ms):.1f} ms/frame, mean {np.mean(ms):.1f} ms wall, "
              f"{cpu:.1f} ms CPU ({n} faces in {len(imgs)} frames; tracking {track_ms:.1f} ms/frame besides)")
        proc.tracker.close()


def bench_cli(clip: Path, extra: list[str]) -> None:
    from facecanvas.media.video_io import probe

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.mp4"
        cmd = [sys.executable, "-m", "facecanvas.cli.main", "deid", str(clip), "-o", str(out), "--key", "bench",
               "--no-progress", *extra]
        c0 = cpu_seconds(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - w0
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - c0
        if r.returncode != 0:
            print(r.stderr)
            raise SystemExit(r.returncode)
        frames = probe(out).frames
        m = re.search(r"\(([\d.]+) fps\)", r.stderr)
        print(f"  CLI deid {' '.join(extra) or '(defaults)'}: {frames} frames in {wall:.1f} s = "
              f"{frames / wall:.1f} fps including start-up, {1000 * cpu / frames:.0f} ms CPU per frame "
              f"(the command's own figure, after loading: {m.group(1) if m else '?'} fps)")
        for line in r.stderr.strip().splitlines()[-2:]:
            print("    " + line)


def bench_live(clip: Path, seconds: float, op_name: str) -> dict:
    if op_name == "deid":  # as `facecanvas live --deid` builds it (cli/live_cmd.py)
        from facecanvas.ops.deid import DeidOperation, DeidOptions

        op = DeidOperation(DeidOptions(key="bench", verify_every=5), video=True)
    else:
        from facecanvas.ops.passthrough import PassthroughOperation

        op = PassthroughOperation()
    return live_latency(clip, op, seconds, op_name)


def main() -> None:
    from facecanvas.allocator import keep_freed_memory
    from facecanvas.cli.main import _quiet_native_logs

    keep_freed_memory()  # as the CLI runs
    _quiet_native_logs()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=SHARED / "videos" / "liveportrait" / "source_s18.mp4")
    p.add_argument("--frames", type=int, default=90, help="frames for the op-alone figures")
    p.add_argument("--live-seconds", type=float, default=10.0, help="0: no live figures")
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--no-op", action="store_true")
    a = p.parse_args()
    if not a.clip.exists():
        raise SystemExit(f"{a.clip}: not found (the shared data is internal; pass --clip)")
    from facecanvas.media.video_io import probe

    print(f"{a.clip.name}: {probe(a.clip).describe()}; cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    if not a.no_op:
        bench_op(a.clip, a.frames)
    if not a.no_cli:
        bench_cli(a.clip, [])
    if a.live_seconds > 0:
        print(f"  live (--source {a.clip.name} in real time, MJPEG page with one client, {a.live_seconds:.0f} s):")
        for name in ("passthrough", "deid"):
            r = bench_live(a.clip, a.live_seconds, name)
            print(f"    {name:12s} added latency median {r['median']:6.1f} ms, p95 {r['p95']:6.1f} ms; the edit "
                  f"{r['op_ms']:5.1f} ms median; shown {r['fps']:.1f} of {r['source_fps']:.0f} fps, "
                  f"{r['dropped']} frames dropped")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

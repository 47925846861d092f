"""Face swap speed: ms per face on 720p frames (the op alone, tracked faces, video settings), the whole
command line's frames per second on a 720p clip (decode, track, swap, encode, audio copy), and live added
latency (the clip played as a camera in real time, as ``facecanvas live --source CLIP --swap FACE``).

    .venv/bin/python benchmarks/bench_swap.py [--clip CLIP.mp4] [--source FACE.jpg] [--frames 90] [--live-seconds 10]

Defaults: the shared 720p talking head (liveportrait/source_s18.mp4) and a CelebA-HQ source face; both
are internal research data (nothing is written into the repository: the output goes to a temp dir).
Wall time and process CPU time are both printed: on a loaded machine wall time says more about the
neighbours than about the code.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import live_latency  # noqa: E402


def bench_op(clip: Path, source: Path, frames: int, occlusion: str) -> None:
    import av

    from facecanvas.ops.swap import SwapOperation, SwapOptions
    from facecanvas.pipeline import TrackingOptions, make_processor

    op = SwapOperation(SwapOptions(source=str(source), occlusion=occlusion), video=True)
    proc = make_processor(op, TrackingOptions())
    imgs = []
    with av.open(str(clip)) as c:
        for f in c.decode(video=0):
            imgs.append(f.to_ndarray(format="bgr24"))
            if len(imgs) >= frames:
                break
    tracked = [(im, proc.track(im, i / 30)) for i, im in enumerate(imgs)]
    for im, faces in tracked[:5]:  # warm-up
        op(im, list(faces))
    op.reset()
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for im, faces in tracked:
        op(im, list(faces))
        n += len(faces)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    h, w = imgs[0].shape[:2]
    print(f"swap op ({occlusion}), {w}x{h}: {1000 * wall / max(n, 1):.1f} ms per face wall, "
          f"{1000 * cpu / max(n, 1):.1f} ms CPU ({n} faces in {len(imgs)} frames)")
    proc.tracker.close()


def bench_cli(clip: Path, source: Path, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.mp4"
        cmd = [sys.executable, "-m", "facecanvas.cli.main", "swap", str(clip), "--source", str(source), "-o", str(out),
               "--no-progress", *extra]
        w0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - w0
        if r.returncode != 0:
            print(r.stderr)
            raise SystemExit(r.returncode)
        from facecanvas.media.video_io import probe

        frames = probe(out).frames
        m = re.search(r"([\d.]+) fps", r.stderr)
        print(f"CLI {' '.join(extra) or '(defaults)'}: {frames} frames in {wall:.1f} s = {frames / wall:.1f} fps "
              f"including start-up (the command's own figure, after loading: {m.group(1) if m else '?'} fps)")
        print("  " + r.stderr.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=SHARED / "videos" / "liveportrait" / "source_s18.mp4")
    p.add_argument("--source", type=Path, default=SHARED / "faces" / "celebahq512" / "00001.jpg")
    p.add_argument("--frames", type=int, default=90)
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--live-seconds", type=float, default=10.0, help="0: no live figures")
    a = p.parse_args()
    for f in (a.clip, a.source):
        if not f.exists():
            raise SystemExit(f"{f}: not found (the shared data is internal; pass --clip and --source)")
    for occ in ("auto", "heuristic"):
        bench_op(a.clip, a.source, a.frames, occ)
    if not a.no_cli:
        bench_cli(a.clip, a.source, [])
    if a.live_seconds > 0:
        from facecanvas.ops import build
        from facecanvas.ops.passthrough import PassthroughOperation

        print(f"live (--source {a.clip.name} in real time, MJPEG page with one client, {a.live_seconds:.0f} s):")
        for name, op in (("passthrough", PassthroughOperation()),
                         ("swap", build("swap", {"source": str(a.source)}, video=True))):
            r = live_latency(a.clip, op, a.live_seconds, name)
            print(f"  {name:12s} added latency median {r['median']:6.1f} ms, p95 {r['p95']:6.1f} ms; the edit "
                  f"{r['op_ms']:5.1f} ms median; shown {r['fps']:.1f} of {r['source_fps']:.0f} fps, "
                  f"{r['dropped']} frames dropped")


if __name__ == "__main__":
    main()

"""Batch benchmark: photos per second through `facecanvas batch erase` for 1 and 2 local workers and for the
Ray engine on the same machine, and how many times each worker built the operation (its models).

    .venv/bin/python benchmarks/bench_batch.py                  # 24 CelebA-HQ photos from ../shared/data
    .venv/bin/python benchmarks/bench_batch.py --photos 40 --repeat 3 --configs local1,local2,ray2

Each configuration runs the real driver (``facecanvas.batch.engines.run_batch``) on a fresh output folder.
Columns: wall = the whole run (pool or Ray start, model loads, every photo); steady = photos/s between the
first and the last finished photo (start-up left out); per photo = the median of a worker's own time on
one photo (load + detect + erase + save); loads = operation builds per worker process, from the manifest
(each result carries its worker's build counter): 1 each means models load once per worker, not per photo.
Figures depend on the machine's other load (printed before and after); repeat runs to see the spread.
Outputs go to out/bench_batch/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facecanvas.batch.engines import BatchSettings, run_batch  # noqa: E402
from facecanvas.batch.manifest import read_items  # noqa: E402
from facecanvas.ops.base import OpSpec  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "faces" / "celebahq512"
OUT = REPO / "out" / "bench_batch"
CONFIGS = {"local1": ("local", 1), "local2": ("local", 2), "ray2": ("ray", 2)}


def one(config: str, listfile: Path, n: int, rep: int) -> dict:
    engine, workers = CONFIGS[config]
    out = OUT / f"{config}_{rep}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = run_batch(BatchSettings(OpSpec("erase"), listfile, out, engine=engine, workers=workers,
                                      progress=False), log=lambda m: None)
    wall = time.perf_counter() - t0
    items = read_items(out)
    done = sorted(r["finished"] for r in items if r["status"] == "done")
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else float("nan")
    builds: dict = {}
    for r in items:
        builds[r["worker"]] = max(builds.get(r["worker"], 0), r["builds"] or 0)
    return {"config": config, "wall": wall, "photos_s": summary.counts["done"] / wall, "steady": steady,
            "per_photo": statistics.median(r["seconds"] for r in items if r["status"] == "done"),
            "done": summary.counts["done"], "failed": summary.counts["failed"], "loads": sorted(builds.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--configs", default="local1,local2,ray2", help=f"comma-separated: {', '.join(CONFIGS)}")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        print(f"needs {PHOTOS} (../shared/data beside the checkout)")
        return 2
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if "ray2" in configs:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("(ray not installed: pip install -r requirements-batch.lock; the Ray row is skipped)")
            configs.remove("ray2")
    OUT.mkdir(parents=True, exist_ok=True)
    listfile = OUT / "photos.txt"
    files = sorted(PHOTOS.glob("*.jpg"))[: args.photos]
    listfile.write_text("".join(f"{p}\n" for p in files))
    print(f"{len(files)} photos (CelebA-HQ 512x512), erase with default options; cores: {os.cpu_count()}; "
          f"load average before: {os.getloadavg()[0]:.2f} (a shared machine: other jobs run beside this)")
    print(f"{'config':8s} {'rep':>3s} {'wall s':>7s} {'photos/s':>9s} {'steady/s':>9s} {'per photo s':>11s} "
          f"{'done':>5s}  loads per worker")
    rows = []
    for rep in range(1, args.repeat + 1):
        for config in configs:
            r = one(config, listfile, len(files), rep)
            rows.append(r)
            print(f"{r['config']:8s} {rep:3d} {r['wall']:7.1f} {r['photos_s']:9.2f} {r['steady']:9.2f} "
                  f"{r['per_photo']:11.3f} {r['done']:5d}  {r['loads']}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

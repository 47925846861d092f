"""facecanvas batch: dataset runs that resume (manifest), survive bad files and crashed workers, and
mirror the folder layout. Real faces from ../shared/data (skipped with a message when absent)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli, shared_path

from facecanvas.batch.manifest import NAME, read_items


def cut_clip(src: Path, dst: Path, frames: int = 6, width: int = 320) -> Path:
    """The first ``frames`` frames of ``src``, scaled to ``width``, as a small H.264 mp4."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        h = int(round(vin.height * width / vin.width / 2)) * 2
        vout = out.add_stream("libx264", rate=25)
        vout.width, vout.height, vout.pix_fmt = width, h, "yuv420p"
        n = 0
        for frame in inp.decode(vin):
            img = frame.reformat(width=width, height=h, format="yuv420p")
            img.pts = None
            for pkt in vout.encode(img):
                out.mux(pkt)
            n += 1
            if n >= frames:
                break
        for pkt in vout.encode():
            out.mux(pkt)
    return dst


def photo_set(dst: Path, n: int, start: int = 0) -> list[Path]:
    """``n`` shared CelebA-HQ photos, in two sub-folders (the layout must be mirrored)."""
    src = shared_path("faces", "celebahq512")
    files = sorted(src.glob("*.jpg"))[start:start + n]
    out = []
    for i, f in enumerate(files):
        p = dst / ("a" if i % 2 else "b/c") / f.name
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, p)
        out.append(p)
    return out


def batch(*args, **kw):
    return run_cli("batch", *args, "--no-progress", **kw)


def latest(out: Path) -> dict[str, dict]:
    return {r["rel"]: r for r in read_items(out)}


def test_help_lists_ops_and_generates_flags():
    r = run_cli("batch", "--help")
    assert r.returncode == 0 and "erase" in r.stdout and "effect" in r.stdout, r.stdout + r.stderr
    r = run_cli("batch", "erase", "--help")
    assert r.returncode == 0 and "--parts" in r.stdout and "--method" in r.stdout and "--engine" in r.stdout
    r = run_cli("batch", "effect", "--help")
    assert r.returncode == 0 and "--effect" in r.stdout and "--strength" in r.stdout
    r = batch("nosuchop", "--input", "x", "--output", "y")
    assert r.returncode == 2 and "unknown operation" in r.stderr


def test_photos_videos_corrupt_manifest_and_resume(tmp_path):
    """40 photos + 2 short clips + one corrupt file: every output written, the bad one recorded as failed,
    a complete manifest; a second run does nothing; a changed input is redone; dry-run writes nothing."""
    inp, out = tmp_path / "in", tmp_path / "out"
    photos = photo_set(inp, 40)
    (inp / "v").mkdir()
    cut_clip(shared_path("videos", "retalking", "face_1.mp4"), inp / "v" / "talk1.mp4")
    cut_clip(shared_path("videos", "retalking", "face_2.mp4"), inp / "v" / "talk2.mp4")
    (inp / "a" / "broken.jpg").write_bytes(photos[1].read_bytes()[:300])  # a truncated JPEG

    r = batch("erase", "--input", inp, "--output", out, "--workers", "2")
    assert r.returncode == 2, r.stderr  # the bad input decides the exit code
    items = latest(out)
    assert len(items) == 43
    bad = items.pop("a/broken.jpg")
    assert bad["status"] == "failed" and bad["error_type"] == "InputError" and bad["sha256"]
    for rel, rec in items.items():
        assert rec["status"] == "done", rec
        assert (out / rec["output"]).is_file() and rec["output"] == rel
        assert rec["faces"] >= 1 and rec["sha256"] and rec["op"]["op"] == "erase" and rec["version"]
        assert rec["seconds"] > 0 and rec["timings"]
    assert items["v/talk1.mp4"]["frames"] == 6
    assert (out / "b" / "c" / photos[0].name).is_file()  # the mirrored layout
    run = [json.loads(ln) for ln in (out / NAME).read_text().splitlines() if '"kind": "run"' in ln]
    assert run[0]["op"]["op"] == "erase" and run[0]["version"]
    # one model load per worker (per kind), never one per item
    builds = {}
    for rec in items.values():
        builds[rec["worker"]] = max(builds.get(rec["worker"], 0), rec["builds"])
    assert len(builds) <= 2 and all(b <= 2 for b in builds.values()), builds
    assert "done" in r.stderr and "InputError" in r.stderr and "items/s" in r.stderr

    # Again: nothing to do; the failed one is kept (not retried without --retry-failed).
    mtime = (out / photos[0].relative_to(inp)).stat().st_mtime_ns
    r = batch("erase", "--input", inp, "--output", out, "--workers", "2")
    assert r.returncode == 0 and "42 already done" in r.stderr and "1 failed before" in r.stderr, r.stderr
    assert len(read_items(out)) == 43 and (out / photos[0].relative_to(inp)).stat().st_mtime_ns == mtime

    # A changed input and --retry-failed: dry-run says so and writes nothing, then exactly those two run.
    shutil.copyfile(photos[5], photos[4])
    before = (out / NAME).read_bytes()
    r = batch("erase", "--input", inp, "--output", out, "--dry-run", "--retry-failed")
    assert r.returncode == 0 and (out / NAME).read_bytes() == before
    lines = r.stdout.splitlines()
    assert any(ln.startswith("changed") and photos[4].name in ln for ln in lines), r.stdout
    assert any(ln.startswith("failed") and "broken.jpg" in ln and " do " in ln for ln in lines), r.stdout
    assert "2 would be processed" in r.stdout
    r = batch("erase", "--input", inp, "--output", out, "--workers", "1", "--retry-failed")
    assert r.returncode == 2 and len(read_items(out)) == 45, r.stderr
    assert latest(out)[photos[4].relative_to(inp).as_posix()]["sha256"] == latest(out)[
        photos[5].relative_to(inp).as_posix()]["sha256"]


def test_killed_run_resumes_only_unfinished(tmp_path):
    """SIGKILL the whole batch (driver and workers) after some items are done; the next run redoes only
    the items the manifest does not record as done."""
    inp, out = tmp_path / "in", tmp_path / "out"
    photo_set(inp, 40)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "facecanvas.cli.main", "batch", "erase", "--input", str(inp), "--output",
           str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            done = [r for r in read_items(out)] if (out / NAME).exists() else []
            if len(done) >= 6 or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    first = {r["rel"] for r in read_items(out) if r["status"] == "done"}
    assert 6 <= len(first) < 40
    r = batch("erase", "--input", inp, "--output", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    second = [r for r in read_items(out) if r["run"] == 2]
    assert {r["rel"] for r in second} == {f"{p}" for p in latest(out)} - first  # only the unfinished
    assert len(second) == 40 - len(first) and all(r["status"] == "done" for r in second)
    assert all((out / rec["output"]).is_file() for rec in latest(out).values())
    assert not [p for p in out.rglob(".*") if p.name != NAME]  # no temporary files left behind


def test_worker_crash_costs_only_its_item(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    photos = photo_set(inp, 5, start=40)
    victim = photos[2]
    r = batch("erase", "--input", inp, "--output", out, "--workers", "2", "--test-crash-on", victim.name)
    assert r.returncode == 1, r.stderr
    items = latest(out)
    assert len(items) == 5
    crashed = items.pop(victim.relative_to(inp).as_posix())
    assert crashed["status"] == "failed" and crashed["error_type"] == "WorkerCrash"
    assert all(rec["status"] == "done" for rec in items.values()), items
    assert "WorkerCrash" in r.stderr and "pool rebuilt" in r.stderr


def test_list_file_input_and_no_face(tmp_path):
    """A list file (relative names), and a photo without a face is 'skipped', not failed."""
    import cv2
    import numpy as np

    photos = photo_set(tmp_path / "in", 2, start=50)
    cv2.imwrite(str(tmp_path / "in" / "blank.png"), np.full((64, 64, 3), 128, np.uint8))
    lst = tmp_path / "in" / "list.txt"
    lst.write_text("# two photos and a blank\n" + "\n".join(
        [p.relative_to(tmp_path / "in").as_posix() for p in photos] + ["blank.png"]) + "\n")
    out = tmp_path / "out"
    r = batch("passthrough", "--input", lst, "--output", out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    items = latest(out)
    assert items["blank.png"]["status"] == "skipped" and "no face" in items["blank.png"]["error"]
    assert all(items[p.relative_to(tmp_path / "in").as_posix()]["status"] == "done" for p in photos)


def test_a_full_disk_costs_only_the_items_it_hits(tmp_path, monkeypatch):
    """ENOSPC while an output is written (here: the driver writes, --transfer driver): that item is
    failed with exit 4 and its message, nothing half-written is left, the others are done, and a second
    run redoes only it."""
    from facecanvas.batch import engines
    from facecanvas.errors import OutputError
    from facecanvas.media.outputs import write_atomic
    from facecanvas.ops import OpSpec

    photos = photo_set(tmp_path / "in", 3)
    victim = photos[1].name

    def full(dst, data):
        if Path(dst).name == victim:
            raise OutputError(f"cannot write {dst}: No space left on device")
        return write_atomic(dst, data)

    monkeypatch.setattr(engines, "write_atomic", full)
    out = tmp_path / "out"
    s = engines.BatchSettings(OpSpec("erase", {}), tmp_path / "in", out, workers=1, transfer="driver", progress=False)
    summary = engines.run_batch(s, log=lambda m: None)
    assert summary.exit == 4 and summary.counts["done"] == 2 and summary.counts["failed"] == 1
    items = latest(out)
    bad = next(r for r in items.values() if r["rel"].endswith(victim))
    assert bad["status"] == "failed" and "No space left" in bad["error"] and bad["exit_code"] == 4
    assert not any(p.name.startswith(".") for p in out.rglob("*")), "no hidden temporary file is left"
    monkeypatch.setattr(engines, "write_atomic", write_atomic)  # space again: only the failed item is redone
    again = engines.run_batch(engines.BatchSettings(OpSpec("erase", {}), tmp_path / "in", out, workers=1,
                                                    transfer="driver", progress=False, retry_failed=True),
                              log=lambda m: None)
    assert again.counts["done"] == 1 and again.counts["already"] == 2 and again.exit == 0

"""facecanvas batch --engine ray against a real local Ray head (started and stopped here): the same
outputs as the local engine, bit for bit, through shared folders and through the driver; a dead actor
costs only its item. Skipped with a message where Ray (the batch extra) is not installed."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from test_batch import latest, photo_set

ray = pytest.importorskip("ray", reason="needs the batch extra (ray): pip install -r requirements-batch.lock")

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A one-machine Ray cluster with 2 CPUs; token authentication on (Ray 2.60's default for `ray
    start`), with a token of our own in the environment of the head and of every driver we start."""
    if not RAY.exists():
        pytest.skip(f"{RAY} not found: the batch extra is not installed in this environment")
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    port = _free_port()
    cmd = [str(RAY), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
           "--include-dashboard=false", "--disable-usage-stats", f"--ray-client-server-port={_free_port()}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        # Ray may bind the node's own address rather than loopback; the GCS answers on this port either way.
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _same_tree(a: Path, b: Path) -> list[str]:
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.jpg"))
    assert files
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*.jpg"))
    return [f for f in files if (a / f).read_bytes() != (b / f).read_bytes()]


def test_ray_matches_local_bit_for_bit(tmp_path, ray_head):
    inp = tmp_path / "in"
    photo_set(inp, 6, start=60)
    local, viaray, driver = tmp_path / "local", tmp_path / "ray", tmp_path / "driver"
    r = run_cli("batch", "erase", "--input", inp, "--output", local, "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = run_cli("batch", "erase", "--input", inp, "--output", viaray, "--engine", "ray", "--address", ray_head,
                "--no-progress")
    assert r.returncode == 0, r.stderr
    assert _same_tree(local, viaray) == []
    items = latest(viaray)
    assert len(items) == 6 and all(rec["status"] == "done" and rec["engine"] == "ray" for rec in items.values())
    builds = {}
    for rec in items.values():
        builds[rec["worker"]] = max(builds.get(rec["worker"], 0), rec["builds"])
    assert len(builds) <= 2 and set(builds.values()) == {1}, builds  # one op build per actor
    # outputs through the driver (no shared folder needed): the same bytes
    r = run_cli("batch", "erase", "--input", inp, "--output", driver, "--engine", "ray", "--address", ray_head,
                "--transfer", "driver", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert _same_tree(local, driver) == []
    # resume on Ray: nothing left to do
    r = run_cli("batch", "erase", "--input", inp, "--output", viaray, "--engine", "ray", "--address", ray_head,
                "--no-progress")
    assert r.returncode == 0 and "6 already done" in r.stderr, r.stderr


def test_ray_dead_actor_costs_only_its_item(tmp_path, ray_head):
    inp, out = tmp_path / "in", tmp_path / "out"
    photos = photo_set(inp, 4, start=70)
    r = run_cli("batch", "erase", "--input", inp, "--output", out, "--engine", "ray", "--address", ray_head,
                "--no-progress", "--test-crash-on", photos[1].name)
    assert r.returncode == 1, r.stderr
    items = latest(out)
    crashed = items.pop(photos[1].relative_to(inp).as_posix())
    assert crashed["status"] == "failed" and crashed["error_type"] == "WorkerCrash"
    assert len(items) == 3 and all(rec["status"] == "done" for rec in items.values())

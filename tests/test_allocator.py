"""The CLI's malloc tuning (facecanvas/allocator.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

# Frames of a video: the benchmark's 1280x720 astronaut frame, detected and erased again and again (with
# glibc's own thresholds this faults in about 4,000 pages per frame on the benchmark machine).
SCRIPT = r"""
import resource, sys
sys.path.insert(0, sys.argv[2])
from bench_erase import frame_1280x720
from facecanvas import FaceAnalyzer
from facecanvas.allocator import keep_freed_memory
from facecanvas.eraser import erase
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
img = frame_1280x720()
analyzer = FaceAnalyzer(max_side=640)
for _ in range(5):
    erase(img, faces=analyzer.detect(img))
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    erase(img, faces=analyzer.detect(img))
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    # A child process: the setting is process-wide and the test run's own process stays as it was.
    def faults(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(BENCH)], capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    tuned = faults("tuned")
    assert tuned < 50, f"{tuned} page faults per erase with the thresholds fixed"
    print(f"page faults per erase: {faults('default'):.0f} with glibc's defaults, {tuned:.0f} tuned")


def test_cli_sets_it(monkeypatch):
    import facecanvas.allocator as allocator
    import facecanvas.cli.main as cli_main

    calls = []
    # main() imports it after its signal policy is set (not at module import time), from allocator.
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    cli_main.main(["effects"])
    assert calls == [1]

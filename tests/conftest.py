"""Shared fixtures: real faces (the bundled astronaut; ../shared/data when present) and one analyzer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a clear reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs the internal test data at {p} (../shared beside the checkout); not present here")
    return p


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    from skimage.data import astronaut

    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def analyzer():
    from facecanvas import FaceAnalyzer

    with FaceAnalyzer() as a:
        yield a


@pytest.fixture(scope="session")
def astronaut_face(analyzer, astronaut_bgr):
    faces = analyzer.detect(astronaut_bgr)
    assert len(faces) == 1
    return faces[0]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, "-m", "facecanvas.cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def white_outside_sharp_box(monkeypatch) -> None:
    """Make ``AlignTransform.warp`` paint everything outside its ``sharp_box`` white: an edit that reads
    only what it resamples sharply comes out (nearly) the same; one that reads outside does not."""
    from facecanvas.analysis.align import AlignTransform

    warp = AlignTransform.warp

    def white_outside(self, image, interpolation=cv2.INTER_CUBIC, sharp_box=None):
        out = warp(self, image, interpolation, sharp_box)
        if sharp_box is None:
            return out
        x0, y0, x1, y1 = np.clip(sharp_box, 0, self.size)
        white = np.full_like(out, 255)
        white[y0:y1, x0:x1] = out[y0:y1, x0:x1]
        return white

    monkeypatch.setattr(AlignTransform, "warp", white_outside)

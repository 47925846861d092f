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

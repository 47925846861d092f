"""A one-line error when the training extra (torch) is missing."""

from __future__ import annotations

import importlib.util

from ..errors import FacecanvasError


def require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        raise FacecanvasError("torch is not installed; install the training extra: pip install -e .[train]")

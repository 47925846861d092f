"""The eraser's own evaluation (FaceEraser protocol): synthetic blank faces, part-shaped holes, fill metrics.

    from facecanvas.eval import run_erase_eval
    print(run_erase_eval("shared/data/faces/celebamaskhq/train", limit=300).to_table())

or ``python -m facecanvas.eval.erase_eval DIR --limit 300 --samples grid.png``.
"""

from __future__ import annotations

import importlib

from .blank_faces import BlankFace, BlankFaceScan, ForeheadRules, load_blank_faces, scan_blank_faces, stitch_forehead
from .metrics import aggregate, mae, psnr, texture_ratio

# Loaded on first use, so that ``python -m facecanvas.eval.erase_eval`` does not import its module twice.
_ERASE_EVAL = ("ErasePair", "EvalReport", "MethodScores", "PairSet", "build_pairs", "evaluate_pairs", "hole_mask",
               "pair_masks", "run_erase_eval", "write_samples")


def __getattr__(name: str):
    if name in _ERASE_EVAL:
        return getattr(importlib.import_module(".erase_eval", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BlankFace", "BlankFaceScan", "ForeheadRules", "aggregate", "load_blank_faces", "mae", "psnr",
    "scan_blank_faces", "stitch_forehead", "texture_ratio", *_ERASE_EVAL,
]

"""The eraser's own evaluation (FaceEraser protocol): synthetic blank faces, part-shaped holes, fill metrics."""

from .blank_faces import BlankFace, BlankFaceScan, ForeheadRules, load_blank_faces, scan_blank_faces, stitch_forehead
from .erase_eval import (EvalReport, ErasePair, MethodScores, PairSet, build_pairs, evaluate_pairs, hole_mask,
                         pair_masks, run_erase_eval, write_samples)
from .metrics import aggregate, mae, psnr, texture_ratio

__all__ = [
    "BlankFace", "BlankFaceScan", "ErasePair", "EvalReport", "ForeheadRules", "MethodScores", "PairSet", "aggregate",
    "build_pairs", "evaluate_pairs", "hole_mask", "load_blank_faces", "mae", "pair_masks", "psnr", "run_erase_eval",
    "scan_blank_faces", "stitch_forehead", "texture_ratio", "write_samples",
]

"""Options and helpers shared by the commands."""

from __future__ import annotations

import argparse
import sys

from ..analysis import FaceAnalyzer
from ..errors import FacecanvasError, InputError, NoFaceError
from ..analysis.detect import DETECTORS


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("face analysis")
    g.add_argument("--detector", choices=("auto",) + DETECTORS, default="auto",
                   help="face detector: yunet finds small faces in group photos; auto = yunet if installed")
    g.add_argument("--detect-size", type=int, default=1600, metavar="PX",
                   help="longest side the detector works at (default %(default)s; lower is faster, misses tiny faces)")
    g.add_argument("--max-faces", type=int, default=None, metavar="N",
                   help="only the N largest faces (default: all)")


def make_analyzer(args: argparse.Namespace) -> FaceAnalyzer:
    return FaceAnalyzer(args.detector, max_side=args.detect_size, max_faces=args.max_faces)


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (inputs are never overwritten)")


def warn(msg: str) -> None:
    print(f"facecanvas: warning: {msg}", file=sys.stderr)


def info(msg: str) -> None:
    print(msg, file=sys.stderr)


def finish_batch(failures: dict[type, list[str]], written: int, total: int) -> int:
    """Print a batch's summary and return its exit code: the most serious failure decides it
    (bad input > output problem > no face)."""
    if total > 1:
        failed = sum(len(v) for v in failures.values())
        info(f"done: {written} written, {failed} failed of {total}")
    if not failures:
        return 0
    for kind in (InputError, FacecanvasError):
        for cls in failures:
            if issubclass(cls, kind) and cls is not NoFaceError:
                return cls.exit_code
    return NoFaceError.exit_code

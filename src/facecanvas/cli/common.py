"""Options and helpers shared by the commands."""

from __future__ import annotations

import argparse
import sys

from ..pipeline import AnalysisOptions
from .options import add_options, from_args


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    add_options(p.add_argument_group("face analysis"), AnalysisOptions)


def analysis_options(args: argparse.Namespace) -> AnalysisOptions:
    return from_args(AnalysisOptions, args)


def add_inputs_output(p: argparse.ArgumentParser, metavar: str, help: str) -> None:
    """The edit commands' positional inputs and their -o/--output."""
    p.add_argument("inputs", nargs="+", metavar=metavar, help=help)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input) or folder (several inputs; names are kept)")


def add_save_mask(p: argparse.ArgumentParser, what: str = "replaced") -> None:
    p.add_argument("--save-mask", action="store_true", help=f"also write OUT_mask.png (white = {what})")


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files (inputs are never overwritten)")


def warn(msg: str) -> None:
    print(f"facecanvas: warning: {msg}", file=sys.stderr)


def info(msg: str) -> None:
    print(msg, file=sys.stderr)


def make_analyzer(args: argparse.Namespace, video: bool = False):
    """The analyzer of a photo command's flags (models loaded once for every input)."""
    from ..pipeline import make_analyzer as build

    return build(analysis_options(args), video)

"""Photos for any command that has an operation: inputs expanded, outputs planned, the batch run."""

from __future__ import annotations

import argparse

from ..batch import run_photos, summarize
from ..ops.base import Operation
from .common import make_analyzer
from .paths import expand_inputs, plan_outputs


def run_photos_cmd(args: argparse.Namespace, op: Operation, save_mask: bool = False, analyzer=None) -> int:
    """``op`` on every photo of ``args.inputs`` into ``args.output``; the batch's exit code."""
    inputs = expand_inputs(args.inputs)
    outputs = plan_outputs(inputs, args.output)
    if analyzer is not None:
        return _run(args, op, inputs, outputs, save_mask, analyzer)
    with make_analyzer(args) as own:
        return _run(args, op, inputs, outputs, save_mask, own)


def _run(args, op, inputs, outputs, save_mask, analyzer) -> int:
    protected = [*inputs, *op.options.named_files()]  # a --source, --donor or --except photo is an input too
    results = run_photos(list(zip(inputs, outputs)), op, analyzer, overwrite=args.overwrite, protected=protected,
                         save_mask=save_mask)
    return summarize(results)

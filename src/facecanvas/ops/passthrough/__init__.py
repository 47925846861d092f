"""``passthrough``: changes nothing. Measures the pipeline's own cost and previews tracking; it is also
the smallest example of the operation contract (see README, "Adding an operation")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis.face import Face
from ..base import Operation, OpResult, Options


@dataclass(frozen=True)
class PassthroughOptions(Options):
    pass


class PassthroughOperation(Operation):
    name = "passthrough"
    summary = "no edit: the frame as it came (to preview tracking or time the pipeline)"
    Options = PassthroughOptions

    def __init__(self, options: PassthroughOptions | None = None, *, video: bool = False):
        super().__init__(options)

    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        return OpResult(frame, len(faces))


OPERATION = PassthroughOperation

"""``erase``: brows, eyes, nose and mouth replaced by the face's own skin (FaceEraser's blank face)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis.face import Face
from ...eraser import PLAN_SIZE, VIDEO_CROP, EraseSettings, erase_face, replaced_mask, resolve_parser
from ...errors import InputError
from ...inpaint import METHODS, get_fill
from ...inpaint.fills import LEARNED
from ...inpaint.plan_cache import PlanCache, track_key
from ...masks import PARTS, parse_parts
from ..base import Operation, OpResult, Options, option


@dataclass(frozen=True)
class EraseOptions(Options):
    parts: str = option("all", f"comma-separated parts to erase: {','.join(PARTS)}, or all", metavar="LIST")
    method: str = option("clone", "fill method: clone (shading + cloned skin grain), telea or ns (OpenCV), "
                         "neural (the learned FaceEraser model; docs/MODEL_CARD.md: it does not beat clone yet), "
                         "refine (clone + a learned shading correction; needs --model unless one is shipped)",
                         choices=METHODS)
    model: str | None = option(None, "weights of the neural or refine method (default: the shipped model)",
                               metavar="ONNX")
    crop_size: int | None = option(None, "aligned face crop side in px (default: near the face's own size, "
                                   "at most 512 for photos and 256 for video; lower is faster, softer grain)",
                                   min=64, max=1024, metavar="PX")
    remove_glasses: bool = option(False, "erase glasses inside the part masks too (by default the face parser "
                                  "keeps glasses, hair and hands over the parts on top, untouched)")
    no_parser: bool = option(False, "erase by the landmark masks alone, without the face parser (hair and "
                             "glasses over the parts are painted over, as before the parser)")

    def check(self) -> None:
        try:
            parse_parts(self.parts)
        except ValueError as e:
            raise InputError(f"--parts: {e}") from None
        if self.model is not None and self.method not in LEARNED:
            raise InputError("--model is for --method neural or refine")


class EraseOperation(Operation):
    name = "erase"
    summary = "remove brows, eyes, nose and mouth from every face, leaving blank skin"
    Options = EraseOptions

    def __init__(self, options: EraseOptions | None = None, *, video: bool = False):
        super().__init__(options)
        o = self.options
        fill = get_fill(o.method, o.model)  # a learned method loads its model here, once
        parser = None if o.no_parser else resolve_parser("auto")  # loaded here, once
        common = dict(parser=parser, remove_glasses=o.remove_glasses)
        if o.crop_size is not None:
            self.settings = EraseSettings(parse_parts(o.parts), fill, size=o.crop_size, **common)
        else:
            # Video: a small face is worked on near its own size (down to the plan's), not upsampled to 192.
            self.settings = EraseSettings(parse_parts(o.parts), fill, max_size=VIDEO_CROP if video else 512,
                                          min_size=PLAN_SIZE if video else 192, **common)
        self._plans = PlanCache()  # video: a tracked face reuses its clone plan (inpaint/plan_cache.py)

    def warm_up(self) -> None:
        """OpenCV's Lab tables, built on the first Lab conversion (~0.1 s; the eraser's fold search uses
        them): a video run builds them in a thread beside its start-up instead of on its first frame."""
        import cv2

        cv2.cvtColor(np.zeros((1, 1, 3), np.uint8), cv2.COLOR_BGR2LAB)

    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        out = frame.copy()
        keys = [track_key(f) for f in faces]
        done = [erase_face(out, f, self.settings, self._plans, k) for f, k in zip(faces, keys)]
        self._plans.keep_only(keys)
        return OpResult(out, len(done), mask_of=lambda: replaced_mask(frame.shape, done))

    def reset(self) -> None:
        self._plans = PlanCache()


OPERATION = EraseOperation

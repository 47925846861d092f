"""``effect``: an AR effect on the blank face (comic, mono-eye, small-face, ...; see effects/)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...analysis.face import Face
from ...effects import Effect
from ...eraser import VIDEO_CROP
from ..base import Operation, OpResult, Options, option


@dataclass(frozen=True)
class EffectOptions(Options):
    effect: str = option("comic", "a built-in effect name (`facecanvas effects` lists them) or the path of an "
                         "effect .toml file", cli=False)
    strength: float = option(1.0, "0 = unchanged, 1 = the effect as written, up to 2 to exaggerate", min=0.0, max=2.0)
    params: dict = option({}, "the effect's own parameters, e.g. mouth_scale=1.8 (`facecanvas effects --show NAME`)",
                          flag="--set", cli=False)
    donor: str | None = option(None, "photo whose face gives the parts for a transplant", metavar="PHOTO")
    crop_size: int | None = option(None, "aligned face crop side in px (default: near the face's own resolution "
                                   "for photos, 256 for video; 256 is faster)", min=64, max=1024, metavar="PX")
    remove_glasses: bool = option(False, "edit the face under glasses too (by default the face parser keeps "
                                  "glasses, hair and hands on top, untouched, so eyes behind glasses stay)")


class EffectOperation(Operation):
    name = "effect"
    summary = "apply an AR effect (comic, mono-eye, small-face, ...) to every face"
    Options = EffectOptions

    def __init__(self, options: EffectOptions | None = None, *, video: bool = False, analyzer=None):
        super().__init__(options)
        o = self.options
        size = o.crop_size if o.crop_size is not None else (VIDEO_CROP if video else None)
        # Set up once: the file read and checked, stickers loaded, the donor's face found.
        self.effect = Effect(o.effect, strength=o.strength, donor=o.donor, analyzer=analyzer, size=size,
                             remove_glasses=o.remove_glasses, **dict(o.params))

    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        r = self.effect.apply(frame, faces)
        return OpResult(r.image, len(r.faces), r.warnings, details={"effect": self.effect.name}, notes=r.notes)

    def reset(self) -> None:
        self.effect.reset()

    def describe(self, result: OpResult) -> str:
        return f"{self.effect.name}: {super().describe(result)}"


OPERATION = EffectOperation

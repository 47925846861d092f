"""``swap``: one person's identity (a source photo) on the target faces; pose, expression, gaze, lighting,
background and occluders stay the target's (facecanvas.swap)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...analysis.face import Face
from ...errors import InputError
from ..base import Operation, OpResult, Options, option

METHODS = ("mesh", "naive", "aei")
# The mesh swap's chroma transfer scales about grey (swap.color.transfer): a warm source's sockets and stubble
# no longer cross grey into blue or green patches (24-pair sheet: 1, 11, 21, 23). Development people 0-5
# (SFace): ID top-1 0.938 both, cosine 0.57 both, pose 2.62 -> 2.56 deg (p90 5.72 -> 5.19), expression 2.04
# -> 1.99 (p90 3.63 -> 3.35), tone shift 3.83 -> 3.80.
SWAP_CHROMA = "scale"
PHOTO_MAX_SIDE, VIDEO_MAX_SIDE = 512, 256  # face box side worked on at full resolution
DEFAULT_AEI_MODEL = "swap_aei.onnx"  # in facecanvas/models when shipped: the exporter's name (swapnet.AEI_FILE),
# so its swap_hear.onnx beside it is found too


@dataclass(frozen=True)
class SwapOptions(Options):
    source: str = option("", "photo(s) of the person to put on the faces: one path, or several separated "
                         f"by commas or '{os.pathsep}' (the best one gives the texture)", metavar="PHOTO")
    method: str = option("mesh", "mesh: the source's texture on the target's face mesh (no training); "
                         "naive: a 5-point paste with Poisson blending (the baseline); aei: the learned "
                         "FaceShifter model (needs its ONNX file)", choices=METHODS)
    model: str | None = option(None, "ONNX weights of --method aei (default: the shipped model)", metavar="ONNX")
    shape: float = option(0.5, "how much of the source's face shape to take (0: the target's mesh; 1: the "
                          "source's shape in the target's pose; eyes and mouth keep the target's opening)",
                          min=0.0, max=1.0, metavar="X")
    keep_eyes: bool = option(False, "keep the target's own eyeballs (default: the source's eyes, fitted into the "
                             "target's lids with the target's gaze; a closed source eye leaves the target's)")
    keep_lips: bool = option(False, "keep the target's lip shape (default: the outer lip line follows the "
                             "source's lips; the mouth opening and corners stay the target's)")
    foreshortened: float = option(0.2, "where the source photo shows part of the face this much smaller than the "
                                  "rest (turned away, cut off), keep the target's face there; 0: never",
                                  min=0.0, max=1.0, metavar="X")
    blend: float = option(1.0, "swap strength: 1 = the full swap, lower mixes the target face back in",
                          min=0.0, max=1.0, metavar="X")
    occlusion: str = option("auto", "keep things in front of the face: auto (the face parser if installed, "
                            "else a colour heuristic), parser, heuristic, off",
                            choices=("auto", "parser", "heuristic", "off"))
    watermark: bool = option(False, "draw a small visible 'facecanvas swap' mark in the bottom-right corner")

    def check(self) -> None:
        if self.model is not None and self.method != "aei":
            raise InputError("--model is for --method aei")


class SwapOperation(Operation):
    name = "swap"
    summary = "put one person's face (a source photo) on every face, keeping pose, expression and lighting"
    Options = SwapOptions

    def __init__(self, options: SwapOptions | None = None, *, video: bool = False, source=None, analyzer=None):
        """``source``: a prepared ``SourceFace`` (or anything ``as_source`` takes) instead of
        ``options.source``; the photos are read and prepared here, once."""
        super().__init__(options)
        from ...swap import MeshSwapper, SwapSettings, as_source

        o = self.options
        if source is None and not o.source:
            raise InputError("--source: give a photo of the person to put on the faces")
        self._aei = None
        if o.method == "aei":
            path = Path(o.model) if o.model else _default_aei_path()
            if not path.is_file():
                where = path if o.model else "no learned swap model is shipped with facecanvas"
                raise InputError(f"{where}: --method aei needs the trained FaceShifter ONNX (--model; "
                                 "python -m facecanvas.train.swap_train --config configs/swap_compact.toml; "
                                 "docs/SWAP_MODEL_CARD.md); or use --method mesh (the default)")
            from ...swapnet import AEISwapper

            self._aei = AEISwapper(path)  # HEAR-Net too when swap_hear.onnx lies beside it
        self.video = video
        self.source = as_source(source if source is not None else o.source, analyzer)
        if self._aei is not None and self.source.embedding is None:
            raise InputError("--method aei needs the source's SFace embedding, and SFace could not embed the "
                             "source photo")
        self.settings = SwapSettings(shape=o.shape, blend=o.blend, occlusion=o.occlusion, keep_eyes=o.keep_eyes,
                                     lip_shape=not o.keep_lips, foreshortened=o.foreshortened,
                                     max_side=VIDEO_MAX_SIDE if video else PHOTO_MAX_SIDE,
                                     parser_every=3 if video else 1, chroma=SWAP_CHROMA)
        self._mesh = MeshSwapper(self.source, self.settings)
        self._tracks: dict = {}

    def apply(self, frame: np.ndarray, faces: list[Face]) -> OpResult:
        from ...swap.compose import TrackState, naive_swap_face

        out = frame.copy()
        done, skipped, seen, boxes = 0, [], set(), []
        for i, face in enumerate(faces):
            key = getattr(face, "track_id", -1)
            state = None
            if key is not None and key >= 0:
                state = self._tracks.setdefault(key, TrackState())
                seen.add(key)
            if self._aei is not None:
                info = aei_swap_face(out, face, self._aei, self.source.embedding)
            elif self.options.method == "naive":
                info = naive_swap_face(out, face, self.source, self.settings, state)
            else:
                info = self._mesh.swap(out, face, state)
            if info is None:
                skipped.append(f"face {i + 1} is too small or off the picture")
                continue
            boxes.append((info.box, info.alpha))
            done += 1
        for k in [k for k in self._tracks if k not in seen]:
            del self._tracks[k]
        if self.options.watermark:
            draw_watermark(out)
        return OpResult(out, done, skipped, mask_of=lambda: swapped_mask(frame.shape, boxes))

    def reset(self) -> None:
        self._tracks = {}


def aei_swap_face(out: np.ndarray, face: Face, model, embedding: np.ndarray):
    """The learned swap of one face, in place: its canonical crop through AEI-Net (and HEAR-Net when
    loaded), pasted back inside the face oval with a feathered edge. Returns a ``SwapInfo`` (None when the
    face is too small)."""
    from ...blend import paste_crop_edit
    from ...masks import face_region, feather
    from ...masks.parts import interocular
    from ...swap.compose import SwapInfo

    def edit(crop, pts):
        alpha = feather(face_region(pts, crop.shape[:2]), max(1.0, 0.06 * interocular(pts)))
        return model.refine(crop, embedding), alpha

    cut = paste_crop_edit(out, face, model.size, edit)
    return None if cut is None else SwapInfo(*cut)


def swapped_mask(shape, boxes) -> np.ndarray:
    """HxW uint8, 255 where the swap changed pixels (alpha above 2 %)."""
    mask = np.zeros(shape[:2], np.uint8)
    for (x0, y0, x1, y1), alpha in boxes:
        np.maximum(mask[y0:y1, x0:x1], (alpha > 0.02).astype(np.uint8) * 255, out=mask[y0:y1, x0:x1])
    return mask


def _default_aei_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("facecanvas") / "models" / DEFAULT_AEI_MODEL))


def draw_watermark(img: np.ndarray, text: str = "facecanvas swap") -> None:
    """A small, legible corner mark (white text on a dark shadow), scaled to the picture."""
    h, w = img.shape[:2]
    scale = max(0.35, min(h, w) / 900)
    th = max(1, round(scale * 1.6))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    org = (max(0, w - tw - round(8 * scale) - 2), max(tht + 1, h - base - round(8 * scale)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA)


OPERATION = SwapOperation

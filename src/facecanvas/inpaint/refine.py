"""The refiner (``clone_unet_ca``) at inference: the classical clone fill, then a small ONNX U-Net's smooth
correction of its shading; onnxruntime only, no torch.

    refiner = CloneRefiner(path)                            # an exported refiner model, loaded once
    out = refiner.refine(image, hole, clone_fill(image, hole))

The model was trained on 256x256 blank faces in the canonical alignment. Its correction is smooth (predicted
at 1/4 of the crop and blurred), so a crop of another size is refined at 256 px and the correction is
resized onto the full-size clone fill, whose grain stays untouched. Only hole pixels change.

The model's inputs: ``image`` 1x3xHxW float32 BGR 0..1 with the hole zeroed, ``mask`` 1x1xHxW (1 = hole),
``coarse`` the clone fill (0..1); outputs ``output`` (composited) and ``residual`` (the correction).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..onnx_session import open_session

DEFAULT_MODEL = "clone_refiner.onnx"
INPUTS = {"image", "mask", "coarse"}


def default_model_path() -> Path:
    return Path(str(resources.files("facecanvas") / "models" / DEFAULT_MODEL))


def is_refiner_model(path: str | Path) -> bool:
    """Whether the ONNX file at ``path`` has the refiner's inputs (image, mask, coarse)."""
    return {i.name for i in open_session(path, "refiner").get_inputs()} == INPUTS


class CloneRefiner:
    """A loaded refiner ONNX model. Create it once and reuse it: the session is built in ``__init__``."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 0):
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            if model_path is None:  # the default: no server path in the message (the web page shows it)
                raise InputError("refiner model not found: none is shipped with facecanvas; give one with "
                                 "--model (on the web page: the model upload), see docs/MODEL_CARD.md")
            raise InputError(f"{path}: refiner model not found")
        self.session = open_session(path, "refiner", threads)
        names = {i.name for i in self.session.get_inputs()}
        if names != INPUTS:
            raise InputError(f"{path}: not a refiner model (inputs {sorted(names)}, expected image, mask, coarse)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = path
        self.stride = int(meta.get("stride", "128"))
        self.size = int(meta.get("trained_size", "256"))
        self.info = json.loads(meta.get("info", "{}"))

    def correction(self, image: np.ndarray, hole: np.ndarray, coarse: np.ndarray) -> np.ndarray:
        """HxWx3 float32 correction (0..255 scale) for ``coarse``, the clone fill of ``image``'s ``hole``."""
        h, w = hole.shape
        k = self.size / max(h, w)
        if abs(k - 1) > 1e-6:  # work at the trained scale; the correction is smooth, so it resizes well
            size = (max(1, round(w * k)), max(1, round(h * k)))
            img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            crs = cv2.resize(coarse, size, interpolation=cv2.INTER_AREA)
            hl = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        else:
            img, crs, hl = image, coarse, hole
        sh, sw = hl.shape
        ph, pw = -sh % self.stride, -sw % self.stride
        img = np.where(hl[..., None], 0, img).astype(np.uint8)
        if ph or pw:  # reflect-pad to the model's stride; the padding is never a hole
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
            crs = cv2.copyMakeBorder(crs, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
            hl = np.pad(hl, ((0, ph), (0, pw)))
        f = np.float32(1 / 255.0)
        feed = {"image": img.transpose(2, 0, 1)[None].astype(np.float32) * f,
                "mask": hl.astype(np.float32)[None, None],
                "coarse": crs.transpose(2, 0, 1)[None].astype(np.float32) * f}
        res = self.session.run(["residual"], feed)[0][0, :, :sh, :sw].transpose(1, 2, 0) * np.float32(255.0)
        if (sh, sw) != (h, w):
            res = cv2.resize(res, (w, h), interpolation=cv2.INTER_LINEAR)
        return res

    def refine(self, image: np.ndarray, hole: np.ndarray, coarse: np.ndarray,
               context: np.ndarray | None = None) -> np.ndarray:
        """``coarse`` (the clone fill of ``image``, HxWx3 uint8) with its hole pixels corrected.

        ``context`` (HxW bool, optional): the face's skin; the rest of ``image`` is shown to the model as a
        smooth extension of it (it was trained on blank faces, skin everywhere), as ``NeuralEraser`` does."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or coarse.shape != image.shape:
            raise ValueError("CloneRefiner.refine expects HxWx3 uint8 BGR image and coarse fill of one size")
        hole = np.asarray(hole, bool)
        if hole.shape != image.shape[:2]:
            raise ValueError(f"mask size {hole.shape[::-1]} does not match image size {image.shape[1::-1]}")
        if not hole.any():
            return coarse.copy()
        if context is not None:
            from .neural import _skin_only

            image = _skin_only(image, np.asarray(context, bool) & ~hole)
        res = self.correction(image, hole, coarse)
        out = coarse.copy()
        out[hole] = np.clip(coarse[hole].astype(np.float32) + res[hole] + np.float32(0.5), 0, 255).astype(np.uint8)
        return out

"""The learned eraser (FaceEraser, Hua et al. 2021) at inference: an ONNX model run by onnxruntime, no torch.

    eraser = NeuralEraser()                      # the model shipped in facecanvas/models, loaded once
    filled = eraser.fill(crop_bgr, hole)         # HxWx3 uint8 BGR, HxW bool -> HxWx3 uint8 BGR

The model was trained on 256x256 crops in the canonical alignment (``analysis.align``, blank faces at their
native scale), so call it on the aligned face crop at 256 px. Any size works (the input is padded to a multiple
of the model's stride), but faces at other scales are outside what it saw in training. Only hole pixels change.

The model's inputs: ``image`` 1x3xHxW float32 BGR in 0..1 with the hole zeroed; ``mask`` 1x1xHxW (1 = hole);
``edges`` 1x1x(H/s)x(W/s), the Canny edges (``edge_map``) of the zeroed image at the edge network's scale
1/s, with the (slightly grown) hole cleared. ``s`` and the Canny sigma are stored in the model's metadata.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..onnx_session import open_session

DEFAULT_MODEL = "faceeraser_compact.onnx"
EDGE_LOW, EDGE_HIGH = 0.1, 0.2  # Canny hysteresis thresholds (EdgeConnect / FaceEraser: 10% and 20%)
EDGE_HOLE_GROW = 3  # px at the edge scale: Canny's blur turns the hole's own border into edges; drop them


def default_model_path() -> Path:
    return Path(str(resources.files("facecanvas") / "models" / DEFAULT_MODEL))


def edge_map(image: np.ndarray, hole: np.ndarray, scale: int = 1, sigma: float = 2.0) -> np.ndarray:
    """float32 (H/scale)x(W/scale) Canny edges of ``image`` (BGR uint8, hole already zeroed) outside ``hole``.

    The image is area-averaged by ``scale`` first (the edge network's resolution); Canny runs with ``sigma``
    and thresholds of 10% / 20% of the gradient range, as in EdgeConnect. Training and inference both use this.
    """
    from skimage.feature import canny

    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    h, w = hole.shape
    small_hole = hole.astype(np.uint8)
    if scale > 1:
        gray = cv2.resize(gray, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(small_hole, (w // scale, h // scale), interpolation=cv2.INTER_AREA) > 0
    edges = canny(gray, sigma=sigma, low_threshold=EDGE_LOW, high_threshold=EDGE_HIGH)
    k = 2 * EDGE_HOLE_GROW + 1
    grown = cv2.dilate(np.asarray(small_hole, np.uint8), np.ones((k, k), np.uint8)) > 0
    return (edges & ~grown).astype(np.float32)


class NeuralEraser:
    """A loaded FaceEraser ONNX model. Create it once and reuse it: the session is built in ``__init__``."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 0):
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise InputError(f"{path}: neural eraser model not found")
        self.session = open_session(path, "FaceEraser", threads)
        names = {i.name for i in self.session.get_inputs()}
        if names != {"image", "mask", "edges"}:
            raise InputError(f"{path}: not a FaceEraser model (inputs {sorted(names)}, expected image, mask, edges)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = path
        self.scale = int(meta.get("coarse_scale", "1"))
        self.sigma = float(meta.get("edge_sigma", "2.0"))
        self.stride = int(meta.get("stride", str(32 * self.scale)))
        self.info = json.loads(meta.get("info", "{}"))

    def fill(self, image: np.ndarray, hole: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """Fill the True pixels of ``hole`` in an HxWx3 uint8 BGR image; every other pixel is returned as is.

        ``context`` (HxW bool, optional): the pixels the model may copy from, e.g. the face's skin. The rest
        is shown to the model as a smooth extension of that skin: it was trained on blank faces that are
        skin everywhere, and on a real face it otherwise copies hair, background or clothes into the hole.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("NeuralEraser.fill expects an HxWx3 uint8 BGR image")
        hole = np.asarray(hole, bool)
        if hole.shape != image.shape[:2]:
            raise ValueError(f"mask size {hole.shape[::-1]} does not match image size {image.shape[1::-1]}")
        if not hole.any():
            return image.copy()
        h, w = hole.shape
        ph, pw = -h % self.stride, -w % self.stride
        shown = image if context is None else _skin_only(image, np.asarray(context, bool) & ~hole)
        img = np.array(shown, np.uint8)  # a copy: the hole is zeroed in place
        img[hole] = 0
        if ph or pw:  # reflect-pad to the model's stride; the padding is never a hole
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
            hole_p = np.pad(hole, ((0, ph), (0, pw)))
        else:
            hole_p = hole
        edges = edge_map(img, hole_p, self.scale, self.sigma)
        chw = img.transpose(2, 0, 1).astype(np.float32)
        chw *= np.float32(1 / 255.0)
        feed = {"image": chw[None], "mask": hole_p.astype(np.float32)[None, None], "edges": edges[None, None]}
        out = self.session.run(None, feed)[0][0, :, :h, :w]  # 3xHxW
        vals = out[:, hole].T * np.float32(255.0) + np.float32(0.5)
        result = image.copy()
        result[hole] = np.clip(vals, 0, 255).astype(np.uint8)
        return result


def _skin_only(image: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """``image`` with every pixel outside ``skin`` replaced by a smooth membrane of the skin around it."""
    if not skin.any() or skin.all():
        return image
    from .harmonic import harmonic_fill

    smooth = harmonic_fill(image.astype(np.float32), ~skin)
    return np.where(skin[..., None], image, np.clip(smooth + 0.5, 0, 255).astype(np.uint8))


def neural_fill(image: np.ndarray, hole: np.ndarray, model_path: str | Path | None = None,
                eraser: NeuralEraser | None = None) -> np.ndarray:
    """One-off fill with the neural eraser. For many images create one ``NeuralEraser`` and call ``.fill``."""
    return (eraser or NeuralEraser(model_path)).fill(image, hole)

"""The live de-identification network (Gafni, Wolf, Taigman, ICCV 2019) at inference: onnxruntime, no torch.

    net = DeidNetwork("deid_compact.onnx")
    image, mask = net.run(crop_bgr, embedding, strength=1.0)

``crop_bgr``: the canonical aligned face crop (``align_face(face.five_points(), size).warp(bgr)``), HxWx3
uint8 BGR; a crop of another size is resized to the model's side and the result resized back.
``embedding``: the 128-D SFace embedding of the same face (``SFaceEmbedder().embed(bgr, face)``; any norm),
the identity the network moves away from. ``strength`` in 0..1 scales the network's blend mask: 0 returns
the crop unchanged, 1 the network's output; in between, ``crop + strength * (output - crop)`` (for a
crop of another side, that change is computed at the model's side and resized onto the crop).
Returns (HxWx3 uint8 BGR image, HxW float32 mask in 0..1 after the strength).

The models are written by ``python -m facecanvas.train.deid_export``; their metadata names the crop side.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError
from .onnx_session import open_session


class DeidNetwork:
    """A loaded de-identification ONNX model; build once, call ``run`` per face."""

    def __init__(self, model_path: str | Path, threads: int = 0):
        path = Path(model_path)
        self.session = open_session(path, "de-identification", threads)
        names = {i.name for i in self.session.get_inputs()}
        if names != {"crop", "embedding"}:
            raise InputError(f"{path}: not a de-identification model (inputs {sorted(names)}, "
                             "expected crop, embedding)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = path
        self.size = int(meta.get("size", self.session.get_inputs()[0].shape[2]))
        self.embed_dim = int(meta.get("embed_dim", "128"))
        self.info = json.loads(meta.get("info", "{}"))

    def run(self, crop_bgr: np.ndarray, embedding: np.ndarray, strength: float = 1.0
            ) -> tuple[np.ndarray, np.ndarray]:
        if not (isinstance(crop_bgr, np.ndarray) and crop_bgr.dtype == np.uint8 and crop_bgr.ndim == 3
                and crop_bgr.shape[2] == 3):
            raise ValueError("DeidNetwork.run expects an HxWx3 uint8 BGR crop")
        e = np.asarray(embedding, np.float32).reshape(-1)
        if e.size != self.embed_dim or not np.all(np.isfinite(e)):
            raise ValueError(f"DeidNetwork.run expects a finite {self.embed_dim}-D embedding, got {e.size} values")
        s = float(np.clip(strength, 0.0, 1.0))
        h, w = crop_bgr.shape[:2]
        x = crop_bgr if (h, w) == (self.size, self.size) else cv2.resize(
            crop_bgr, (self.size, self.size), interpolation=cv2.INTER_AREA if h > self.size else cv2.INTER_CUBIC)
        inp = (x.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
        out, mask = self.session.run(None, {"crop": inp, "embedding": e[None]})
        delta = s * (out[0] - inp[0]).transpose(1, 2, 0)  # the change, at the model's side
        m = (s * mask[0, 0]).astype(np.float32)
        if (h, w) != (self.size, self.size):  # add the resized change to the full-resolution crop
            delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
            m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        img = np.clip(crop_bgr.astype(np.float32) + delta * 255 + 0.5, 0, 255).astype(np.uint8)
        return img, m

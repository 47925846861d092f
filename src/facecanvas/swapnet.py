"""The learned face swap (FaceShifter: AEI-Net, optionally refined by HEAR-Net) at inference, with
onnxruntime only: this module never imports torch.

``AEISwapper(model_path)`` loads ``swap_aei.onnx`` (written by ``facecanvas.train.swap_export``) and, when
it lies next to it (or ``hear_path`` is given), ``swap_hear.onnx``.

* ``swap(target_crop_bgr, source_embedding)``: the target's canonical crop (``align_face(points, S)``, uint8
  BGR, any size: resized to the model's S and back) with the identity of ``source_embedding`` (a 128-D
  SFace vector of the source's ArcFace 112 crop, e.g. ``SFaceEmbedder().embed(bgr, face)``) -> uint8 BGR
  crop of the input's size.
* ``refine(target_crop_bgr, source_embedding, target_embedding=None)``: the same, refined by HEAR-Net with
  the heuristic error Δ = X_t − AEI(X_t, z_id(X_t)); ``target_embedding`` is computed with OpenCV's SFace
  from the crop when not given.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError
from .onnx_session import open_session

AEI_FILE, HEAR_FILE = "swap_aei.onnx", "swap_hear.onnx"


def _check_inputs(sess, path: Path, expected: set[str]) -> None:
    names = {i.name for i in sess.get_inputs()}
    if names != expected:
        raise InputError(f"{path}: inputs {sorted(names)}, expected {sorted(expected)}")


class AEISwapper:
    def __init__(self, model_path: str | Path, hear_path: str | Path | None = None, threads: int = 0):
        path = Path(model_path)
        if not path.is_file():
            raise InputError(f"{path}: swap model not found")
        self.path = path
        self.session = open_session(path, "AEI swap", threads)
        _check_inputs(self.session, path, {"target", "source_embedding"})
        self.size = int(self.session.get_inputs()[0].shape[-1])
        hp = Path(hear_path) if hear_path is not None else path.with_name(HEAR_FILE)
        self.hear = None
        if hp.is_file():
            self.hear = open_session(hp, "HEAR-Net", threads)
            _check_inputs(self.hear, hp, {"aei_output", "delta"})
        self._embedder = None

    @property
    def has_hear(self) -> bool:
        return self.hear is not None

    def _to_input(self, crop_bgr: np.ndarray) -> np.ndarray:
        if not (isinstance(crop_bgr, np.ndarray) and crop_bgr.dtype == np.uint8 and crop_bgr.ndim == 3
                and crop_bgr.shape[2] == 3 and crop_bgr.shape[0] == crop_bgr.shape[1]):
            raise ValueError("expected a square HxWx3 uint8 BGR canonical crop")
        s = self.size
        if crop_bgr.shape[0] != s:
            crop_bgr = cv2.resize(crop_bgr, (s, s), interpolation=cv2.INTER_AREA if crop_bgr.shape[0] > s
                                  else cv2.INTER_CUBIC)
        return np.ascontiguousarray(crop_bgr[..., ::-1].transpose(2, 0, 1)[None]).astype(np.float32) / 127.5 - 1

    def _to_crop(self, x: np.ndarray, side: int) -> np.ndarray:
        img = np.clip((x[0].transpose(1, 2, 0)[..., ::-1] + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        if side != self.size:
            img = cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC if side > self.size else cv2.INTER_AREA)
        return np.ascontiguousarray(img)

    @staticmethod
    def _embedding(v) -> np.ndarray:
        e = np.asarray(v, np.float32).reshape(1, -1)
        if e.shape[1] != 128 or not np.isfinite(e).all() or not np.any(e):
            raise ValueError("expected a finite, non-zero 128-D SFace embedding")
        return e

    def _aei(self, x: np.ndarray, emb: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"target": x, "source_embedding": emb})[0]

    def swap(self, target_crop_bgr: np.ndarray, source_embedding) -> np.ndarray:
        x = self._to_input(target_crop_bgr)
        return self._to_crop(self._aei(x, self._embedding(source_embedding)), target_crop_bgr.shape[0])

    def embed_crop(self, crop_bgr: np.ndarray) -> np.ndarray:
        """SFace embedding (OpenCV, no torch) of a canonical crop, via its ArcFace 112 crop."""
        from .analysis.align import ARCFACE_POINTS, CANONICAL_POINTS, fit_similarity
        from .analysis.identity import SFaceEmbedder

        if self._embedder is None:
            self._embedder = SFaceEmbedder()
        side = crop_bgr.shape[0]
        m = fit_similarity(CANONICAL_POINTS.astype(np.float64) * side, ARCFACE_POINTS * 112)
        arc = cv2.warpAffine(crop_bgr, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return self._embedder.embed_aligned(arc)

    def refine(self, target_crop_bgr: np.ndarray, source_embedding, target_embedding=None) -> np.ndarray:
        """AEI then HEAR-Net; without a HEAR model, the AEI output (``swap``)."""
        if self.hear is None:
            return self.swap(target_crop_bgr, source_embedding)
        x = self._to_input(target_crop_bgr)
        y = self._aei(x, self._embedding(source_embedding))
        zt = self.embed_crop(target_crop_bgr) if target_embedding is None else target_embedding
        delta = x - self._aei(x, self._embedding(zt))
        out = self.hear.run(None, {"aei_output": y, "delta": delta.astype(np.float32)})[0]
        return self._to_crop(out, target_crop_bgr.shape[0])

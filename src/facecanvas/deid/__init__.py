"""Face de-identification without training: every face gets a synthetic identity.

    from facecanvas.deid import deidentify
    out = deidentify(bgr)                       # new random faces
    out = deidentify(bgr, key="secret")         # keyed pseudonyms: the same person, the same new face

A synthetic identity is a random draw from a PCA texture (and mesh shape) model of a few hundred
faces (``model.TextureModel``, shipped as facecanvas/models/deid_texture.npz): no real person's face
is put on anyone. The mesh swap (facecanvas.swap) renders it, so pose, expression, gaze and lighting
stay; SFace verifies each output face and escalates (a further identity, then a blank face).
Which person gets which identity: ``pseudonym`` (keyed HMAC of a coarse hash of the SFace embedding,
plus an exact per-run registry). The operation is ``facecanvas.ops.deid`` (CLI: ``facecanvas deid``).
"""

from __future__ import annotations

import numpy as np

from .model import TextureModel
from .pseudonym import PersonRegistry, Pseudonyms

__all__ = ["PersonRegistry", "Pseudonyms", "TextureModel", "deidentify"]


def deidentify(image: np.ndarray, *, key: str | None = None, strength: float = 1.0, faces=None, analyzer=None,
               **options) -> np.ndarray:
    """``image`` (HxWx3 uint8 BGR) with every face (or ``faces``) replaced by a synthetic identity.
    ``options``: the operation's (``DeidOptions``: except_, fallback, verify, ...). The input is not modified."""
    from ..errors import InputError
    from ..ops.deid import DeidOperation, DeidOptions

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError("deidentify: expected an HxWx3 uint8 BGR image")
    from ..swap.source import _analyzer

    with _analyzer(analyzer) as a:
        if faces is None:
            faces = a.detect(image)
        op = DeidOperation(DeidOptions(key=key, strength=strength, **options), analyzer=a)
        return op(image, faces)

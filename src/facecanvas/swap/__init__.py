"""One-shot face swap without training: one person's identity (a source photo) on target faces.

    from facecanvas.swap import swap, SourceFace
    out = swap(target_bgr, "anna.jpg")                     # every face in the picture
    src = SourceFace.from_paths(["anna.jpg", "anna2.jpg"]) # prepare once, reuse for many frames
    out = swap(frame, src, faces=faces, method="naive")

Methods: "mesh" (default: the source texture warped over the target's MediaPipe mesh, LAB-recoloured,
eyes and open mouth kept, seamless blend, occluders kept; compose.py) and "naive" (a 5-point similarity
paste with Poisson blending, the baseline). The learned model (AEI-Net/HEAR-Net) is the operation's
``--method aei``.
"""

from __future__ import annotations

import numpy as np

from .compose import MeshSwapper, SwapSettings, TrackState, naive_swap_face
from .source import SourceFace, as_source, split_sources

__all__ = ["MeshSwapper", "SourceFace", "SwapSettings", "TrackState", "as_source", "split_sources", "swap"]


def swap(image: np.ndarray, source, *, faces=None, analyzer=None, method: str = "mesh", **options) -> np.ndarray:
    """``image`` (HxWx3 uint8 BGR) with ``source``'s identity on its faces (all of them, or ``faces``).

    ``source``: a path, several paths (a list, or one string separated by commas or os.pathsep), a BGR
    array or a prepared ``SourceFace``. ``options``: the operation's (``SwapOptions``: shape, blend,
    occlusion, ...). The input is not modified."""
    from ..ops.swap import SwapOperation, SwapOptions

    if faces is None:
        from .source import _analyzer

        with _analyzer(analyzer) as a:
            src = as_source(source, a)
            faces = a.detect(image)
    else:
        src = as_source(source, analyzer)
    op = SwapOperation(SwapOptions(source="(given)", method=method, **options), source=src)
    return op(image, faces)

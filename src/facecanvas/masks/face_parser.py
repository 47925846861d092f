"""A learned face parser: per-pixel labels (skin, brows, eyes, ... , occluder) on the canonical aligned crop.

    parser = FaceParser()                          # the model shipped in facecanvas/models, loaded once
    labels = parser.parse(crop_bgr)                # HxWx3 uint8 BGR crop -> HxW uint8 class ids
    labels, t = parse_face(image, face)            # aligns the face (canonical template, 256 px) first
    overlay = colorize(labels, crop_bgr)           # BGR visualisation

onnxruntime only (no torch). The model was trained on crops made by
``facecanvas.analysis.align.align_face(face.five_points(), size)`` (the canonical whole-head template), so
feed it that crop; other framings (tight boxes, FFHQ-style crops) are outside what it saw. The network runs at
its own input size (stored in the model, 128 px for the shipped one): the crop is area-resized to it and the
logits are bilinearly resized back to the crop's size before the argmax.

Label set (``CLASSES``; ids are the indices): CelebAMask-HQ classes merged as documented in
docs/PARSER_MODEL_CARD.md: left/right eyes, brows and ears are single classes; earrings count as ears, a
necklace as neck, clothing as background; upper and lower lip are "lips"; "other" is an occluder in front of
the face (a hand, a microphone, an object), learned from synthetic occluders only.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..onnx_session import open_session

CLASSES = ("background", "skin", "brows", "eyes", "nose", "lips", "inner_mouth", "hair", "glasses", "ears",
           "neck", "hat", "other")
NUM_CLASSES = len(CLASSES)
BACKGROUND, SKIN, BROWS, EYES, NOSE, LIPS, INNER_MOUTH, HAIR, GLASSES, EARS, NECK, HAT, OTHER = range(NUM_CLASSES)
CLASS_IDS = {name: i for i, name in enumerate(CLASSES)}
# The face proper (what an edit of the face may touch), without hair, neck, hat or occluders.
FACE_CLASSES = (SKIN, BROWS, EYES, NOSE, LIPS, INNER_MOUTH)

# On the first 400 CelebAMask-HQ training faces, the parser's glasses covered 2.7-7.9% of the crop on the 15
# faces with real glasses it found (a rimless pair it barely saw: 0.3%), and mostly under 1% (at most 2.1%)
# on the faces without glasses where it found some.
GLASSES_MIN = 0.015


def sees_glasses(glasses: np.ndarray) -> bool:
    """Is ``glasses`` (HxW bool: the parser's glasses over a canonical crop) a pair of glasses? Under
    ``GLASSES_MIN`` of the crop it is the parser taking lids, lashes or eye shadow for a frame (on dark skin
    most of all): kept on top as an occluder, that left bits of the eyes over an edit."""
    return np.count_nonzero(glasses) >= GLASSES_MIN * glasses.size

_IS_FACE = np.isin(np.arange(256), FACE_CLASSES)
_NOT_FACE = np.setdiff1d(np.arange(NUM_CLASSES), FACE_CLASSES).astype(np.uint8)

# BGR colours for ``colorize`` (index = class id).
PALETTE = np.array([[0, 0, 0], [128, 178, 255], [0, 60, 120], [255, 255, 0], [0, 200, 255], [60, 20, 220],
                    [130, 0, 100], [20, 70, 150], [255, 0, 200], [0, 128, 255], [200, 160, 120],
                    [180, 0, 0], [0, 255, 0]], np.uint8)

DEFAULT_MODEL = "face_parser.onnx"


@functools.cache  # (the package's files do not move; resolving them costs ~0.1 ms a call)
def default_model_path() -> Path:
    return Path(str(resources.files("facecanvas") / "models" / DEFAULT_MODEL))


class FaceParser:
    """A loaded face-parser ONNX model; build it once and reuse it (the session is made in ``__init__``)."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 0):
        path = Path(model_path) if model_path is not None else default_model_path()
        self.session = open_session(path, "face parser", threads)
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != ["image"] or len(inputs[0].shape) != 4:
            raise InputError(f"{path}: not a face parser model (inputs {[i.name for i in inputs]})")
        shape = inputs[0].shape
        meta = self.session.get_modelmeta().custom_metadata_map
        self.path = path
        self.input_size = int(shape[2]) if isinstance(shape[2], int) else int(meta.get("input_size", 128))
        self.classes = tuple(json.loads(meta["classes"])) if "classes" in meta else CLASSES
        if self.classes != CLASSES:
            raise InputError(f"{path}: label set {self.classes} differs from this module's {CLASSES}")
        self.info = json.loads(meta.get("info", "{}"))

    def _scores(self, crop_bgr: np.ndarray) -> np.ndarray:
        """CxSxS float32 class scores at the model's input size S."""
        _check_crop(crop_bgr)
        h, w = crop_bgr.shape[:2]
        s = self.input_size
        x = crop_bgr if (h, w) == (s, s) else cv2.resize(
            crop_bgr, (s, s), interpolation=cv2.INTER_AREA if min(h, w) > s else cv2.INTER_LINEAR)
        chw = x.transpose(2, 0, 1).astype(np.float32)
        chw *= np.float32(1 / 255.0)
        return self.session.run(None, {"image": chw[None]})[0][0]

    def logits(self, crop_bgr: np.ndarray) -> np.ndarray:
        """HxWxC float32 class scores at the crop's own size."""
        h, w = crop_bgr.shape[:2]
        hwc = np.ascontiguousarray(self._scores(crop_bgr).transpose(1, 2, 0))
        if (h, w) != (self.input_size,) * 2:
            hwc = cv2.resize(hwc, (w, h), interpolation=cv2.INTER_LINEAR)  # any channel count
        return hwc

    def probabilities(self, crop_bgr: np.ndarray, channels_first: bool = False) -> np.ndarray:
        """HxWxC (or, with ``channels_first``, CxHxW) float32 softmax probabilities (for soft masks: feather
        a class by its probability)."""
        if crop_bgr.shape[:2] == (self.input_size,) * 2:
            # At the model's own size the softmax runs over whole class planes: 2-3x faster than over
            # the last axis of HxWxC.
            e = self._scores(crop_bgr)
            e -= e.max(0)
            np.exp(e, out=e)
            e *= 1 / e.sum(0)
            return e if channels_first else np.ascontiguousarray(e.transpose(1, 2, 0))
        lg = self.logits(crop_bgr)
        lg -= lg.max(2, keepdims=True)
        np.exp(lg, out=lg)
        lg /= lg.sum(2, keepdims=True)
        return np.ascontiguousarray(lg.transpose(2, 0, 1)) if channels_first else lg

    def parse(self, crop_bgr: np.ndarray, occluder_belief: float = 0.5) -> np.ndarray:
        """HxW uint8 class ids for an HxWx3 uint8 BGR canonical crop. ``occluder_belief`` below 0.5: a pixel
        whose classes outside the face proper (hair, glasses, a hand, ...) together pass it takes the likeliest
        of them, though a face class is likelier on its own (a strand's edge then stays hair)."""
        if occluder_belief >= 0.5:
            return self.logits(crop_bgr).argmax(2).astype(np.uint8)
        h, w = crop_bgr.shape[:2]
        scores = self._scores(crop_bgr) if (h, w) == (self.input_size,) * 2 else \
            np.ascontiguousarray(self.logits(crop_bgr).transpose(2, 0, 1))
        # Plane by plane: numpy's argmax over the first axis of CxHxW is several times slower.
        best = scores[0].copy()
        labels = np.zeros(best.shape, np.uint8)
        for c in range(1, len(scores)):
            labels[scores[c] > best] = c
            np.maximum(best, scores[c], out=best)
        e = scores - best
        np.exp(e, out=e)
        face = e[FACE_CLASSES[0]].copy()
        for c in FACE_CLASSES[1:]:
            face += e[c]
        flip = (face < (1.0 - occluder_belief) * e.sum(0)) & _IS_FACE[labels]
        if flip.any():
            labels[flip] = _NOT_FACE[e[_NOT_FACE][:, flip].argmax(0)]
        return labels

    def parse_face(self, image: np.ndarray, face, size: int = 256):
        """(labels in the ``size`` canonical crop, the AlignTransform image -> crop)."""
        from ..analysis.align import align_face

        t = align_face(face.five_points(), size)
        return self.parse(t.warp(image, t.interpolation)), t


_DEFAULT: FaceParser | None = None


def default_parser() -> FaceParser:
    """The shipped model, loaded on first use and kept."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = FaceParser()
    return _DEFAULT


def parse_face(image: np.ndarray, face, size: int = 256, parser: FaceParser | None = None):
    """Labels of ``face`` (an analysis Face) in its ``size`` canonical crop, and that crop's AlignTransform.

    To bring a class mask back to the image: ``t.unwarp_roi(mask, t.image_roi(image.shape))`` or
    ``cv2.warpAffine(mask, t.inverse, (w, h), flags=cv2.INTER_NEAREST)``."""
    return (parser or default_parser()).parse_face(image, face, size)


def class_mask(labels: np.ndarray, *names: str) -> np.ndarray:
    """HxW bool: pixels whose label is any of the named classes."""
    unknown = [n for n in names if n not in CLASS_IDS]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; choose from {', '.join(CLASSES)}")
    return np.isin(labels, [CLASS_IDS[n] for n in names])


def colorize(labels: np.ndarray, image: np.ndarray | None = None, alpha: float = 0.5) -> np.ndarray:
    """BGR colours of ``labels``; with ``image``, blended over it (background pixels left as they are)."""
    labels = np.asarray(labels)
    col = PALETTE[np.clip(labels, 0, NUM_CLASSES - 1)]
    if image is None:
        return col
    if image.shape[:2] != labels.shape:
        raise ValueError(f"labels {labels.shape} and image {image.shape[:2]} differ in size")
    out = (image.astype(np.float32) * (1 - alpha) + col.astype(np.float32) * alpha).astype(np.uint8)
    bg = labels == BACKGROUND
    out[bg] = image[bg]
    return out


def _check_crop(crop: np.ndarray) -> None:
    if not (isinstance(crop, np.ndarray) and crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3):
        raise ValueError("FaceParser expects an HxWx3 uint8 BGR crop")

"""Hole-filling methods behind one protocol and one registry: ``get_fill(name)`` and ``inpaint(...)``.

A ``FillMethod`` fills the True pixels of a hole in an aligned face crop. Two properties tell the eraser
how to drive it, so no caller needs to know which method it holds:

* ``crop_size``: the crop side the method must work at (the neural model was trained at 256 px), or None
  for any size (the eraser then works near the face's own resolution);
* ``PlannedFill`` methods (clone) also split the fill into ``plan`` (shading and offsets, cheap at low
  resolution, reusable between video frames) and ``render`` (grain at full resolution).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .methods import ClonePlan, clone_fill, clone_reads, opencv_fill, plan_clone, render_clone


@runtime_checkable
class FillMethod(Protocol):
    name: str
    crop_size: int | None

    def fill(self, image: np.ndarray, hole: np.ndarray, source: np.ndarray | None = None,
             known: np.ndarray | None = None, edge: np.ndarray | None = None) -> np.ndarray:
        """HxWx3 uint8 image with ``hole`` (HxW bool) filled; ``source``: where grain may come from,
        ``known``: skin whose colour the fill may take, ``edge``: what the fill's edge should meet."""
        ...


@runtime_checkable
class PlannedFill(FillMethod, Protocol):
    def plan(self, image: np.ndarray, hole: np.ndarray, source: np.ndarray | None,
             known: np.ndarray | None, edge: np.ndarray | None) -> ClonePlan: ...

    def render(self, image: np.ndarray, hole: np.ndarray, plan: ClonePlan) -> np.ndarray: ...

    # Optional: ``reads(plan, hole, size) -> (x0, y0, x1, y1)``, the box of a ``size`` crop that ``render``
    # of ``plan`` (planned for ``hole``) reads; the eraser then resamples the rest of the crop more cheaply.


class CloneFill:
    """Harmonic shading plus pixel-cloned real skin grain (the default; no model)."""

    name, crop_size = "clone", None

    def fill(self, image, hole, source=None, known=None, edge=None):
        return clone_fill(image, hole, source, known=known, edge=edge)

    def plan(self, image, hole, source, known, edge):
        return plan_clone(image, hole, source, known, edge=edge)

    def render(self, image, hole, plan):
        return render_clone(image, hole, plan)

    def reads(self, plan, hole, size):
        return clone_reads(plan, hole, size)


class OpenCVFill:
    """OpenCV's Telea or Navier-Stokes inpainting: baselines."""

    crop_size = None

    def __init__(self, name: str):
        self.name = name

    def fill(self, image, hole, source=None, known=None, edge=None):
        return opencv_fill(image, hole, self.name)


class NeuralFill:
    """The learned FaceEraser (ONNX); its session is loaded once, here."""

    name, crop_size = "neural", 256  # the scale its model was trained at

    def __init__(self, model_path: str | Path | None = None, model=None):
        from .neural import NeuralEraser

        self.model = model if model is not None else NeuralEraser(model_path)  # or an already loaded one

    def fill(self, image, hole, source=None, known=None, edge=None):
        return self.model.fill(image, hole, context=known)


class RefineFill:
    """The clone fill refined by a small learned U-Net (``clone_unet_ca``; ``inpaint/refine.py``): the clone's
    grain, with its shading corrected. A planned fill like clone (video reuses the plan); any crop size."""

    name, crop_size = "refine", None

    def __init__(self, model_path: str | Path | None = None, model=None):
        from .refine import CloneRefiner

        self.model = model if model is not None else CloneRefiner(model_path)

    def fill(self, image, hole, source=None, known=None, edge=None):
        coarse = clone_fill(image, hole, source, known=known, edge=edge)
        return self.model.refine(image, hole, coarse, context=known)

    def plan(self, image, hole, source, known, edge):
        return plan_clone(image, hole, source, known, edge=edge)

    def render(self, image, hole, plan):
        coarse = render_clone(image, hole, plan)
        known = plan.known
        if known.shape != hole.shape:
            known = cv2.resize(known.astype(np.uint8), hole.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        return self.model.refine(image, hole, coarse, context=known)

    def reads(self, plan, hole, size):
        return 0, 0, size, size  # the model sees the whole crop's skin


FILLS = {"clone": CloneFill, "telea": lambda: OpenCVFill("telea"), "ns": lambda: OpenCVFill("ns"),
         "neural": NeuralFill, "refine": RefineFill}
LEARNED = ("neural", "refine")  # take a model file (``model_path``)
METHODS = tuple(FILLS)
CLASSICAL = ("clone", "telea", "ns")  # need no model file


def ready_methods() -> tuple[str, ...]:
    """The methods that run without a model path: the classical ones, and each learned one whose model is
    shipped (no refiner model is shipped unless it beats clone; docs/MODEL_CARD.md)."""
    from . import neural, refine

    shipped = {"neural": neural.default_model_path().is_file(), "refine": refine.default_model_path().is_file()}
    return tuple(m for m in METHODS if shipped.get(m, True))


def learned_fill(model_path: str | Path) -> FillMethod:
    """The learned method an ONNX file is for (the refiner's inputs include ``coarse``), loaded."""
    from .refine import is_refiner_model

    return RefineFill(model_path) if is_refiner_model(model_path) else NeuralFill(model_path)


def get_fill(method: str | FillMethod = "clone", model_path: str | Path | None = None) -> FillMethod:
    """A ready fill method by name (models loaded now), or ``method`` itself when it is one already.

    ``model_path``: the weights of a learned method (default: the shipped model)."""
    if not isinstance(method, str):
        return method
    if method not in FILLS:
        raise ValueError(f"unknown inpaint method {method!r}; choose one of {', '.join(METHODS)}")
    return FILLS[method](model_path) if model_path is not None else FILLS[method]()


def inpaint(image: np.ndarray, hole: np.ndarray, method: str | FillMethod = "clone",
            source: np.ndarray | None = None, known: np.ndarray | None = None,
            edge: np.ndarray | None = None) -> np.ndarray:
    """Fill the True pixels of ``hole`` in an HxWx3 uint8 image. ``method``: a name (clone, telea, ns,
    neural, refine) or a loaded ``FillMethod`` (``get_fill("neural")`` loads the model once for many calls)."""
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError("inpaint expects an HxWx3 uint8 image")
    if hole.shape != image.shape[:2]:
        raise ValueError(f"mask size {hole.shape[::-1]} does not match image size {image.shape[1::-1]}")
    return get_fill(method).fill(image, hole, source, known, edge)


__all__ = ["CLASSICAL", "CloneFill", "FILLS", "FillMethod", "LEARNED", "METHODS", "NeuralFill", "OpenCVFill",
           "PlannedFill", "RefineFill", "get_fill", "inpaint", "learned_fill", "ready_methods"]

"""Inpainting: fill a masked hole. ``clone`` (default) keeps real skin grain; telea/ns are OpenCV baselines;
neural is the learned FaceEraser; refine is clone plus a learned smooth shading correction (refine.py). All behind
``FillMethod`` (see fills.py)."""

from .fills import CLASSICAL, METHODS, FillMethod, PlannedFill, get_fill, inpaint
from .methods import clone_fill

__all__ = ["CLASSICAL", "METHODS", "FillMethod", "PlannedFill", "clone_fill", "get_fill", "inpaint"]

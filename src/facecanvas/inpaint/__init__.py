"""Inpainting: fill a masked hole. ``clone`` (default) keeps real skin grain; telea/ns are OpenCV baselines."""

from .methods import METHODS, clone_fill, inpaint

__all__ = ["METHODS", "clone_fill", "inpaint"]

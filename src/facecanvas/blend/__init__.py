"""Blending: paste crop-space results back into the image."""

from .paste import alpha_box, paste_back, paste_crop_edit

__all__ = ["alpha_box", "paste_back", "paste_crop_edit"]

"""Blending: paste crop-space results back into the image."""

from .paste import alpha_box, paste_back

__all__ = ["alpha_box", "paste_back"]

"""Blending: paste crop-space results back into the image."""

from .paste import paste_back

__all__ = ["paste_back"]

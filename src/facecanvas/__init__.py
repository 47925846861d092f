"""facecanvas: edit faces in photos, video files and live streams.

Images in the Python API are numpy arrays in OpenCV's **BGR** channel order, HxWx3 uint8.
Use ``facecanvas.media.image_io.load_image`` / ``save_result`` for files: they handle EXIF rotation,
grayscale, alpha and 16-bit. Fill an arbitrary mask with ``facecanvas.inpaint.inpaint``.
"""

from importlib import import_module

from .errors import FacecanvasError, InputError, NoFaceError, OutputError

__version__ = "0.1.0"

# Imported on first use (PEP 562), so `import facecanvas` (and the CLI's start-up, which installs its
# signal policy first thing in main()) does not load cv2, MediaPipe and the eraser up front.
_LAZY = {
    "AlignTransform": ".analysis", "Detection": ".analysis", "Face": ".analysis", "FaceAnalyzer": ".analysis",
    "HeadPose": ".analysis", "align_face": ".analysis", "apply_effect": ".effects", "EraseResult": ".eraser",
    "erase": ".eraser", "PARTS": ".masks",
}

__all__ = [
    "AlignTransform", "Detection", "EraseResult", "Face", "FaceAnalyzer", "FacecanvasError", "HeadPose",
    "InputError", "NoFaceError", "OutputError", "PARTS", "align_face", "erase",
    "apply_effect",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

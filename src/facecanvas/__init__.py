"""facecanvas: edit faces in photos, video files and live streams.

Images in the Python API are numpy arrays in OpenCV's **BGR** channel order, HxWx3 uint8.
Use ``facecanvas.media.image_io.load_image`` / ``save_result`` for files: they handle EXIF rotation,
grayscale, alpha and 16-bit. Fill an arbitrary mask with ``facecanvas.inpaint.inpaint``.
"""

from .analysis import AlignTransform, Detection, Face, FaceAnalyzer, HeadPose, align_face
from .effects import apply_effect
from .eraser import EraseResult, erase
from .errors import FacecanvasError, InputError, NoFaceError, OutputError
from .masks import PARTS

__version__ = "0.1.0"

__all__ = [
    "AlignTransform", "Detection", "EraseResult", "Face", "FaceAnalyzer", "FacecanvasError", "HeadPose",
    "InputError", "NoFaceError", "OutputError", "PARTS", "align_face", "erase",
    "apply_effect",
]

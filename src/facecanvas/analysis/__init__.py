"""Analysis: detect faces, find 478 landmarks, estimate pose, align to a canonical crop."""

from .align import AlignTransform, align_face
from .analyzer import Analysis, FaceAnalyzer
from .face import Detection, Face, HeadPose

__all__ = ["AlignTransform", "Analysis", "Detection", "Face", "FaceAnalyzer", "HeadPose", "align_face"]

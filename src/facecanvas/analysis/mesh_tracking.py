"""478-point landmarks for video: the mesh follows each face from its previous landmarks.

The photo landmarker (landmarks.py) runs MediaPipe in static mode on a crop per detection. For video,
the crop of frame t comes from the landmarks of frame t-1, upright along the eye line, so no detector
is needed between detections. Each track has its own MediaPipe FaceMesh in tracking mode, which reuses
its own previous result inside the crop and skips its internal detector (about half the time).
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import fit_similarity, invert_affine
from .face import Detection
from .landmark_groups import LEFT_IRIS, RIGHT_IRIS
from .landmarks import landmark_array

MESH_INPUT = 256
_CROP_ZOOM_BOX = 1.8  # crop side / detection box side (as the photo landmarker)
# Later crops (from the previous landmarks) frame the face as the first one (from a detection) did. The
# tracking-mode mesh keeps its region of interest in crop coordinates from one frame to the next, and its
# own face detector (run when it has lost the face) misses faces that fill too much of the crop; a
# landmark crop 0.76x the side of the detection crop (1.5 x the landmark extent, as before) made both
# fail on small faces, on most frames of a 640x360 clip. Measured on 28 faces: a 1.8 x box crop is
# 1.32 x (1.5 x the landmark extent) wide, its centre 0.063 extents above the landmarks' centre.
_CROP_ZOOM_MESH = 1.5 * 1.32  # crop side / landmark extent (along the face's own axes)
_CROP_SHIFT_MESH = -0.063  # crop centre below the landmarks' centre, in extents (negative: above)


def _square_crop(center: np.ndarray, side: float, angle: float) -> np.ndarray:
    """2x3 similarity mapping an upright square of ``side`` around ``center`` (rotated by ``angle``) to the crop."""
    half = side / 2
    c, s = np.cos(angle), np.sin(angle)
    src = center + np.array([[-half, -half], [half, -half], [-half, half]]) @ np.array([[c, s], [-s, c]])
    dst = np.array([[0, 0], [MESH_INPUT, 0], [0, MESH_INPUT]], np.float64)
    return fit_similarity(src, dst)


def crop_from_detection(det: Detection) -> np.ndarray:
    d = det.keypoints[1] - det.keypoints[0]
    center = (det.box[:2] + det.box[2:]) / 2
    return _square_crop(center.astype(np.float64), _CROP_ZOOM_BOX * det.size, float(np.arctan2(d[1], d[0])))


def crop_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks, np.float64)[:, :2]
    eyes = pts[[RIGHT_IRIS[0], LEFT_IRIS[0]]]
    d = eyes[1] - eyes[0]
    angle = float(np.arctan2(d[1], d[0]))
    # Extent measured along the face's own axes, so a rolled head does not inflate the crop.
    c, s = np.cos(angle), np.sin(angle)
    local = pts @ np.array([[c, -s], [s, c]])
    lo, hi = local.min(0), local.max(0)
    extent = float((hi - lo).max())
    center = ((lo + hi) / 2 + [0.0, _CROP_SHIFT_MESH * extent]) @ np.array([[c, s], [-s, c]])
    return _square_crop(center, _CROP_ZOOM_MESH * extent, angle)


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    pts = np.asarray(landmarks)[:, :2]
    return np.concatenate([pts.min(0), pts.max(0)]).astype(np.float32)


class TrackingLandmarker:
    """One MediaPipe FaceMesh (tracking mode) per track id; ``landmarks(track_id, bgr, crop)``.

    Meshes of dropped tracks are kept for the next new track (a MediaPipe graph costs ~25 ms of CPU to
    build and ~10 ms to reset, several frames' worth of mesh calls): one that last lost its face has
    no tracking state left and is reused as it is, any other is reset first.
    """

    POOL = 8  # idle meshes kept

    def __init__(self, min_confidence: float = 0.5):
        self._min_confidence = min_confidence
        self._meshes: dict[int, object] = {}
        self._clean: dict[int, bool] = {}  # track id -> its mesh found no face on its last call
        self._idle: list[object] = []
        self.built = 0  # MediaPipe graphs made (for profiles and tests)

    def _build(self):
        from .mp_import import import_mediapipe
        mp = import_mediapipe()

        mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=self._min_confidence, min_tracking_confidence=self._min_confidence)
        self.built += 1
        return mesh

    def warm_up(self) -> None:
        """Build one mesh for the first track ahead of time (MediaPipe's import and a graph, ~0.2 s), e.g.
        in a thread while the video is opened; not at the same time as ``landmarks``."""
        if not self._meshes and not self._idle:
            self._idle.append(self._build())

    def _mesh(self, track_id: int):
        mesh = self._meshes.get(track_id)
        if mesh is None:
            mesh = self._idle.pop() if self._idle else self._build()
            self._meshes[track_id] = mesh
            self._clean[track_id] = True
        return mesh

    def drop(self, track_id: int) -> None:
        mesh = self._meshes.pop(track_id, None)
        clean = self._clean.pop(track_id, True)
        if mesh is None:
            return
        if len(self._idle) >= self.POOL:
            mesh.close()
            return
        if not clean:
            mesh.reset()  # forget the face it was following
        self._idle.append(mesh)

    def close(self) -> None:
        for mesh in [*self._meshes.values(), *self._idle]:
            mesh.close()
        self._meshes, self._clean, self._idle = {}, {}, []

    def _process(self, track_id: int, rgb: np.ndarray):
        res = self._mesh(track_id).process(rgb)
        found = bool(res.multi_face_landmarks)
        self._clean[track_id] = not found
        return res.multi_face_landmarks[0] if found else None

    def landmarks(self, track_id: int, bgr: np.ndarray, crop_matrix: np.ndarray) -> np.ndarray | None:
        """(478, 3) landmarks in image pixels, or None when the crop holds no face."""
        crop = cv2.warpAffine(bgr, crop_matrix, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        was_tracking = track_id in self._meshes and not self._clean.get(track_id, True)
        found = self._process(track_id, rgb)
        if found is None and was_tracking:
            # The mesh lost the face it was following (its region of interest from the last frame); it now
            # runs its own face detector, so one more look at the same crop usually finds the face again,
            # for ~1/4 of the full-frame detection plus new mesh that a lost track costs.
            found = self._process(track_id, rgb)
        if found is None:
            return None
        pts = landmark_array(found) * MESH_INPUT
        # A mesh that drifted to the crop's edge has lost the face it was following.
        nose = pts[1, :2]
        if np.abs(nose - MESH_INPUT / 2).max() > 0.3 * MESH_INPUT:
            return None
        # So has one of another size: a crop frames its face at 1/_CROP_ZOOM_MESH of its side (0.51; a face
        # moving or turning between frames: 0.45-0.6), and the mesh's own detector can lock onto some
        # small thing at the crop's edge when the face is covered.
        extent = float((pts[:, :2].max(0) - pts[:, :2].min(0)).max()) / MESH_INPUT
        if not 0.5 < extent * _CROP_ZOOM_MESH < 1.6:
            return None
        inv = invert_affine(crop_matrix)
        out = np.empty_like(pts)
        out[:, :2] = pts[:, :2] @ inv[:, :2].T + inv[:, 2]
        out[:, 2] = pts[:, 2] * np.sqrt(abs(np.linalg.det(inv[:, :2])))
        return out.astype(np.float32)

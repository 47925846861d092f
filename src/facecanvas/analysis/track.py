"""Faces over time: IDs that persist across frames, smoothed landmarks, short gaps held, scene cuts.

Per frame: every live track gets landmarks from a crop that follows its previous landmarks (no
detector). The full detector runs only every ``detect_every`` frames, after a scene cut, or soon after
a track loses its face; its detections are matched to tracks (Hungarian on box overlap) and the
unmatched ones start new tracks. A track whose face is missed is *held* (its last smoothed landmarks
are reported) for ``hold_frames`` frames before it is dropped, so a blink of the landmarker does not
make an edit flicker off. Landmarks are smoothed by a One Euro filter per track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .detect import FaceDetector
from .face import Detection, Face
from .flow import FlowStep
from .landmark_groups import LEFT_EYE, LEFT_IRIS, LIPS_AREA, NOSE, RIGHT_EYE, RIGHT_IRIS
from .mesh_tracking import TrackingLandmarker, crop_from_detection, crop_from_landmarks, landmark_box
from .pose import estimate_pose
from .smoothing import FaceFilter


@dataclass(frozen=True)
class TrackedFace(Face):
    """A Face (smoothed landmarks) with its track id; ``held`` = not seen in this frame, last position kept."""

    track_id: int = -1
    held: bool = False


# The points the head's motion is fitted on when the lips are smoothed apart: nose and eye outlines.
RIGID = tuple(NOSE) + tuple(RIGHT_EYE) + tuple(LEFT_EYE)


@dataclass
class TrackerConfig:
    detect_every: int = 10  # frames between full detections while faces are tracked
    detect_every_empty: int = 1  # ... while no face is tracked (every frame: an entering face is edited at once)
    hold_frames: int = 6  # keep a missed face this many frames before dropping it
    min_face_size: float = 24.0  # detections smaller than this (px) start no track
    cut_threshold: float = 0.35  # histogram distance that counts as a scene cut
    min_cutoff: float = 1.0  # One Euro, see smoothing.py
    beta: float = 1.5
    # The lips' own beta, for their motion relative to the head (smoothing.FaceFilter): speech opens the
    # mouth faster than the head moves, and at beta 1.5 the smoothed mouth lagged (liveportrait
    # driving_d20: its opening correlated 0.81 with a fresh mesh per frame).
    lips_beta: float = 30.0
    smooth: bool = True  # False: raw landmarks (to measure what the filter buys)
    # Live: run the detector in a worker thread on a frame copy and use its boxes when ready (a frame or
    # two later), so its 10-40 ms never stall the frame being shown. Files keep it inline (deterministic).
    async_detect: bool = False
    max_faces: int | None = None
    # Run the face mesh on a track every N frames; in between its landmarks follow the head by sparse
    # optical flow (analysis/flow.py: well under 1 ms against the mesh's 6-9 ms a face), as long as the
    # lips and lids move with the head. None: 1 while at most AUTO_FEW_FACES faces are tracked, else
    # AUTO_MESH_EVERY (several faces a frame is where the mesh's cost adds up).
    mesh_every: int | None = None


AUTO_FEW_FACES = 2
AUTO_MESH_EVERY = 3


@dataclass
class _Track:
    id: int
    raw: np.ndarray  # last landmarks from the mesh (unsmoothed): seeds the next crop
    smooth: np.ndarray  # smoothed landmarks: what the operation sees
    detection: Detection
    filter: FaceFilter
    missed: int = 0
    age: int = 0
    since_mesh: int = 0  # frames since the mesh last ran (the others moved by flow)


@dataclass
class TrackerStats:
    frames: int = 0
    detections_run: int = 0
    scene_cuts: int = 0
    tracks_started: int = 0
    held_frames: int = 0
    flow_steps: int = 0  # track-frames whose landmarks came from optical flow instead of the mesh
    ids: set[int] = field(default_factory=set)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _gray_hist(bgr: np.ndarray) -> np.ndarray:
    step = max(1, min(bgr.shape[:2]) // 144)  # subsample first: INTER_AREA on a full 1080p frame costs 1-2 ms
    small = cv2.resize(bgr[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(h, None, 1.0, 0.0, cv2.NORM_L1).flatten()


def _detection_from_landmarks(lms: np.ndarray, score: float) -> Detection:
    eyes = lms[[RIGHT_IRIS[0], LEFT_IRIS[0]], :2]
    # Keypoints in the detector's order (image-left eye, image-right eye, nose, mouth left, mouth right).
    kps = np.vstack([eyes, lms[[1, 61, 291], :2]]).astype(np.float32)
    return Detection(landmark_box(lms), score, kps)


class FaceTracker:
    """``tracker.update(bgr, t)`` -> the frame's faces as TrackedFace, largest first."""

    def __init__(self, detector: FaceDetector, config: TrackerConfig | None = None,
                 landmarker: TrackingLandmarker | None = None):
        self.detector = detector
        self.config = config or TrackerConfig()
        self.landmarker = landmarker or TrackingLandmarker()
        self.stats = TrackerStats()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._since_detect = 10**9
        self._hist: np.ndarray | None = None
        self._pool = None
        self._pending = None  # Future of an asynchronous detection
        self._gray: np.ndarray | None = None  # the previous frame, for the flow steps (mesh every > 1 frame)

    def warm_up(self) -> None:
        """Import MediaPipe and build one face mesh ahead of the first frame (``TrackingLandmarker.warm_up``)."""
        warm = getattr(self.landmarker, "warm_up", None)
        if callable(warm):
            warm()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.landmarker.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self) -> None:
        for tr in self._tracks:
            self.landmarker.drop(tr.id)
        self._tracks = []
        self._since_detect = 10**9
        self._pending = None  # boxes from before the cut would start tracks on the wrong picture
        self._gray = None

    def _is_cut(self, bgr: np.ndarray) -> bool:
        hist = _gray_hist(bgr)
        prev, self._hist = self._hist, hist
        if prev is None:
            return False
        # Bhattacharyya distance between colour histograms: a camera move keeps it low, a cut does not.
        return cv2.compareHist(prev, hist, cv2.HISTCMP_BHATTACHARYYA) > self.config.cut_threshold

    def _start(self, det: Detection, bgr: np.ndarray, t: float) -> _Track | None:
        tid = self._next_id
        lms = self.landmarker.landmarks(tid, bgr, crop_from_detection(det))
        if lms is None:
            self.landmarker.drop(tid)
            return None
        # The mesh must sit on this detection, not on a neighbour that entered the crop.
        if iou(landmark_box(lms), det.box) < 0.25:
            self.landmarker.drop(tid)
            return None
        self._next_id += 1
        self.stats.tracks_started += 1
        f = FaceFilter(self.config.min_cutoff, self.config.beta, self.config.lips_beta, LIPS_AREA, RIGID)
        smooth = f(lms, t, _scale(lms)).astype(np.float32)
        return _Track(tid, lms, smooth, det, f)

    def update(self, bgr: np.ndarray, t: float) -> list[TrackedFace]:
        cfg = self.config
        self.stats.frames += 1
        if self._is_cut(bgr):
            self.stats.scene_cuts += 1
            self.reset()
        # 1. Follow every track from its previous landmarks: the mesh, or between mesh frames the flow.
        lost = False
        step = None
        every = cfg.mesh_every or (1 if len(self._tracks) <= AUTO_FEW_FACES else AUTO_MESH_EVERY)
        if every > 1:
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            if self._gray is not None and self._gray.shape == gray.shape:
                step = FlowStep(self._gray, gray)
            self._gray = gray
        else:
            self._gray = None
        for tr in self._tracks:
            lms = None
            if step is not None and tr.missed == 0 and tr.since_mesh < every - 1:
                lms = step.move(tr.raw, _scale(tr.raw))
            if lms is not None:
                tr.since_mesh += 1
                self.stats.flow_steps += 1
            else:
                lms = self.landmarker.landmarks(tr.id, bgr, crop_from_landmarks(tr.raw))
                tr.since_mesh = 0
            if lms is None:
                tr.missed += 1
                lost = True
            else:
                tr.raw, tr.missed = lms, 0
                tr.detection = _detection_from_landmarks(lms, tr.detection.score)
        # 2. The detector, when due: new faces, and re-found faces for tracks that lost theirs.
        self._since_detect += 1
        due = cfg.detect_every if self._tracks else cfg.detect_every_empty
        if cfg.async_detect:
            self._detect_async(bgr, t, due, lost)
        elif self._since_detect >= due or (lost and self._since_detect >= 2):
            self._since_detect = 0
            self._use_detections(self.detector.detect(bgr), bgr, t)
        # 3. Drop tracks missed too long and duplicates that converged on the same face.
        for tr in self._tracks:
            if tr.missed > cfg.hold_frames:
                self.landmarker.drop(tr.id)
        self._tracks = [tr for tr in self._tracks if tr.missed <= cfg.hold_frames]
        self._drop_duplicates()
        # 4. Smooth and report.
        out = []
        for tr in self._tracks:
            if tr.missed == 0:
                tr.smooth = tr.filter(tr.raw, t, _scale(tr.raw)).astype(np.float32) if cfg.smooth else tr.raw
                tr.age += 1
            else:
                self.stats.held_frames += 1
            self.stats.ids.add(tr.id)
            out.append(TrackedFace(_detection_from_landmarks(tr.smooth, tr.detection.score), tr.smooth,
                                   estimate_pose(tr.smooth), track_id=tr.id, held=tr.missed > 0))
        out.sort(key=lambda f: -f.detection.size)
        return out[: cfg.max_faces] if cfg.max_faces else out

    def _detect_async(self, bgr: np.ndarray, t: float, due: int, lost: bool) -> None:
        if self._pending is not None and self._pending.done():
            dets, self._pending = self._pending.result(), None
            self._use_detections(dets, bgr, t)
        if self._pending is None and (self._since_detect >= due or (lost and self._since_detect >= 2)):
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="facecanvas-detect")
            self._since_detect = 0
            self._pending = self._pool.submit(self.detector.detect, bgr.copy())

    def _use_detections(self, dets: list[Detection], bgr: np.ndarray, t: float) -> None:
        self.stats.detections_run += 1
        dets = [d for d in dets if d.size >= self.config.min_face_size]
        boxes = [landmark_box(tr.raw) for tr in self._tracks]
        used: set[int] = set()
        if dets and boxes:
            cost = np.array([[1.0 - iou(b, d.box) for d in dets] for b in boxes])
            for ti, di in _assign(cost):
                if cost[ti, di] < 0.8:  # IoU > 0.2: the same face
                    used.add(di)
                    tr = self._tracks[ti]
                    tr.detection = Detection(tr.detection.box, dets[di].score, tr.detection.keypoints)
                    if tr.missed:  # re-found: restart the mesh from the detection
                        self.landmarker.drop(tr.id)
                        lms = self.landmarker.landmarks(tr.id, bgr, crop_from_detection(dets[di]))
                        if lms is not None:
                            tr.raw, tr.missed = lms, 0
        for di, det in enumerate(dets):
            if di in used or (self.config.max_faces and len(self._tracks) >= self.config.max_faces * 2):
                continue
            tr = self._start(det, bgr, t)
            if tr is not None:
                self._tracks.append(tr)

    def _drop_duplicates(self) -> None:
        keep: list[_Track] = []
        for tr in sorted(self._tracks, key=lambda tr: (tr.missed, -tr.age)):
            if all(iou(landmark_box(tr.raw), landmark_box(k.raw)) < 0.5 for k in keep):
                keep.append(tr)
            else:
                self.landmarker.drop(tr.id)
        self._tracks = sorted(keep, key=lambda tr: tr.id)


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Track-detection pairs of least total cost (Hungarian). Where every track overlaps at most one
    detection and every detection at most one track (IoU > 0.2, nearly every frame), those pairs are the
    answer and scipy.optimize, ~0.5 s to import, is not needed."""
    near = cost < 0.8
    if (near.sum(0) <= 1).all() and (near.sum(1) <= 1).all():
        return [(int(t), int(d)) for t, d in zip(*np.nonzero(near))]
    from scipy.optimize import linear_sum_assignment

    return [(int(t), int(d)) for t, d in zip(*linear_sum_assignment(cost))]


def _scale(lms: np.ndarray) -> float:
    """Face size for the filter's speed: the eye distance in pixels."""
    eyes = lms[[RIGHT_IRIS[0], LEFT_IRIS[0]], :2]
    return float(max(np.linalg.norm(eyes[1] - eyes[0]), 1.0))

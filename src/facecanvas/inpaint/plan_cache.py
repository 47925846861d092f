"""Reuse a face's clone plan on the next video frame: the fill's shading and grain stay put on the face.

Between two frames of a tracked face the aligned crop barely changes, so the shading membrane and the
pixel-clone offsets worked out for one frame still fit the next. Reusing them halves the eraser's
planning cost and pins the cloned grain to the face instead of letting it re-roll every frame. A plan
is reused at most ``max_age`` times, and only while the new hole lies inside the hole it was made
for (a mouth that opens wider gets a fresh plan at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Hashable, Iterable

import cv2
import numpy as np

from .methods import ClonePlan


def track_key(face) -> int | None:
    """A face's key in a ``PlanCache``: its tracker id, or None for a face no tracker follows (a photo)."""
    track = getattr(face, "track_id", -1)
    return track if track >= 0 else None


@dataclass
class _Entry:
    plan: ClonePlan
    hole: np.ndarray  # what the plan covers (the planned hole, grown by ``margin``)
    uses: int = 0


class PlanCache:
    """Clone plans per key (a track id). ``margin``: px the planned hole is grown by, so that the small
    shifts of a tracked face's masks from frame to frame stay inside it."""

    def __init__(self, max_age: int = 4, margin: int = 2, labels_age: int = 5, result_age: int = 6):
        # Measured on a 3-face 640x360 clip (2026-12-02): max_age 2 / margin 1 / labels every 3rd frame
        # missed the plan on 187 of 360 faces; 4 / 2 / every 6th misses 111, and the erase step costs
        # about 15% less CPU.
        self.max_age, self.margin, self.labels_age = max_age, margin, labels_age
        # A kept result serves only while the face's shape and light have not moved (eraser._blank_again).
        # result_age 2 -> 6 (2026-12-07): the 3-face stage clip's erase ~9.4 -> ~6.3 ms a frame; flicker of two
        # talking heads and the stage clip within its noise (face-region change out/in 0.721 -> 0.708, 0.541 ->
        # 0.546, 0.686 -> 0.681). A flaw of one blank face (a dark band under the stage clip's glasses) can now
        # last 7 frames instead of 3; frame by frame the two looked alike.
        self.result_age = result_age  # frames in a row a whole result may serve again (``result``)
        self._entries: dict[Hashable, _Entry] = {}
        self._labels: dict[Hashable, list] = {}  # key -> [face-parser labels, uses]
        self._results: dict[Hashable, object] = {}  # key -> the caller's kept result (it counts its ``uses``)

    def grow(self, hole: np.ndarray) -> np.ndarray:
        """The hole a new plan should be made for."""
        k = 2 * self.margin + 1
        return cv2.dilate(hole.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)

    def reuse(self, key: Hashable, hole: np.ndarray) -> ClonePlan | None:
        """The stored plan for ``key`` if it may serve ``hole`` once more, else None."""
        e = self._entries.get(key)
        if e is None or e.uses >= self.max_age or e.hole.shape != hole.shape or (hole & ~e.hole).any():
            return None
        e.uses += 1
        return e.plan

    def store(self, key: Hashable, plan: ClonePlan, planned_hole: np.ndarray) -> None:
        self._entries[key] = _Entry(plan, planned_hole)

    def planned_hole(self, key: Hashable) -> np.ndarray:
        """The hole the stored plan for ``key`` was made for (what it fills)."""
        return self._entries[key].hole

    def labels(self, key: Hashable, compute):
        """The face parser's labels for ``key``: ``compute()``'s result, reused for up to ``labels_age`` more
        frames (labels live in the aligned crop, where a tracked face barely moves; a hand that comes in
        front of the face is seen at most ``labels_age`` frames late)."""
        e = self._labels.get(key)
        if e is None or e[1] >= self.labels_age:
            e = self._labels[key] = [compute(), 0]
        else:
            e[1] += 1
        return e[0]

    def store_result(self, key: Hashable, kept) -> None:
        """Keep a whole result for ``key`` (an object with a ``uses`` count, which its user raises)."""
        self._results[key] = kept

    def result(self, key: Hashable):
        """The kept result for ``key`` while it may serve again (fewer than ``result_age`` uses), else None."""
        kept = self._results.get(key)
        return kept if kept is not None and kept.uses < self.result_age else None

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        """Forget faces that are gone (tracks that ended)."""
        keep = set(keys)
        for store in (self._entries, self._labels, self._results):
            for k in [k for k in store if k not in keep]:
                del store[k]

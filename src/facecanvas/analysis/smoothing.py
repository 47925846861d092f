"""One Euro filter (Casiez et al., CHI 2012) for landmark jitter.

A low-pass filter whose cutoff rises with speed: still faces get heavy smoothing (no jitter), fast
motion gets almost none (no lag). Works element-wise on arrays, so one filter smooths a whole mesh.
Speed is measured in ``scale`` units per second (the face size), so the same settings work for a
40 px face and a 400 px face.
"""

from __future__ import annotations

import math

import numpy as np

from .align import fit_similarity


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """``filter(x, t, scale)`` -> smoothed x.

    ``min_cutoff`` (Hz): smoothing of a still signal (lower = smoother, more lag at rest).
    ``beta``: how fast the cutoff rises with speed (higher = less lag in fast motion).
    ``d_cutoff`` (Hz): smoothing of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or x.shape != self._x.shape or t <= self._t:
            # First sample (or a time step that cannot be used): start from the signal itself.
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt / max(scale, 1e-9)
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.copy()


class FaceFilter:
    """One Euro over a face mesh, the lips' articulation apart: every point is smoothed with ``beta``;
    the lips (``lips``, indices) are carried by the head's smoothed motion (the similarity fitted on the
    ``rigid`` points) and their own motion relative to the head is smoothed with ``lips_beta``. Speech
    opens the mouth faster than heads move, and at the head's beta the mouth lagged; a larger beta on the
    lip points alone tore them from the face whenever the whole head moved fast."""

    def __init__(self, min_cutoff: float, beta: float, lips_beta: float, lips, rigid):
        self.face = OneEuroFilter(min_cutoff, beta)
        self.lips_filter = OneEuroFilter(min_cutoff, lips_beta)
        self.lips, self.rigid = list(lips), list(rigid)
        self._points = max(self.lips + self.rigid) + 1  # a mesh needs this many points for the lips' path
        self._ref: np.ndarray | None = None  # the rigid points of the first frame: the head's frame

    def reset(self) -> None:
        self.face.reset()
        self.lips_filter.reset()
        self._ref = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        out = self.face(x, t, scale)
        if x.shape[0] < self._points:
            return out
        if self._ref is None:
            self._ref = x[self.rigid, :2].copy()
        # raw lips in the head's frame -> smoothed there (articulation only) -> onto the smoothed head
        m = fit_similarity(x[self.rigid, :2], self._ref)
        lips = x[self.lips].copy()
        lips[:, :2] = lips[:, :2] @ m[:, :2].T + m[:, 2]
        lips = self.lips_filter(lips, t, scale)
        m = fit_similarity(self._ref, out[self.rigid, :2])
        out[self.lips, :2] = lips[:, :2] @ m[:, :2].T + m[:, 2]  # depth stays the face filter's
        return out

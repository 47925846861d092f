"""One Euro filter (Casiez et al., CHI 2012) for landmark jitter.

A low-pass filter whose cutoff rises with speed: still faces get heavy smoothing (no jitter), fast
motion gets almost none (no lag). Works element-wise on arrays, so one filter smooths a whole mesh.
Speed is measured in ``scale`` units per second (the face size), so the same settings work for a
40 px face and a 400 px face.
"""

from __future__ import annotations

import math

import numpy as np


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

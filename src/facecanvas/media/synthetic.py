"""A synthetic moving-face video made from the public-domain astronaut photo (skimage.data.astronaut).

The face pans, zooms and rotates; optional faceless frames at the start, a second face, an audio
tone and rotation metadata. Used by the tests, the video benchmark and the README's animation, so
nothing from the internal data is ever needed to show or check the video path.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def astronaut_bgr() -> np.ndarray:
    from skimage.data import astronaut

    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def _background(w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.dstack([90 + 40 * x / w, 80 + 30 * y / h, 70 + 20 * (x + y) / (w + h)])
    return bg.astype(np.uint8)


def moving_face_frames(n: int, size: tuple[int, int] = (640, 360), faces: int = 1, empty_frames: int = 0,
                       occlude: tuple[int, int] | None = None) -> list[np.ndarray]:
    """``n`` BGR frames; the first ``empty_frames`` show only the background (no face).

    ``occlude=(start, stop)``: frames in that range have the face covered by a grey patch.
    """
    w, h = size
    src = astronaut_bgr()[0:330, 90:420]  # the head and shoulders
    bg = _background(w, h)
    frames = []
    for i in range(n):
        frame = bg.copy()
        if i >= empty_frames:
            k = (i - empty_frames) / max(n - empty_frames - 1, 1)
            for j in range(faces):
                # Each face: its own slot, a pan across it, a slow zoom and a +-12 degree roll.
                slot = w / faces
                cx = slot * (j + 0.35 + 0.3 * k)
                cy = h * (0.5 + 0.06 * np.sin(2 * np.pi * k))
                scale = (0.55 + 0.25 * k) * min(slot / src.shape[1], h / src.shape[0]) * (1.0 if faces == 1 else 0.9)
                angle = 12 * np.sin(2 * np.pi * k + j)
                m = cv2.getRotationMatrix2D((src.shape[1] / 2, src.shape[0] / 2), angle, scale)
                m[:, 2] += (cx - src.shape[1] / 2, cy - src.shape[0] / 2)
                warped = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR)
                inside = cv2.warpAffine(np.full(src.shape[:2], 255, np.uint8), m, (w, h)) > 127
                frame[inside] = warped[inside]
                if occlude and occlude[0] <= i < occlude[1]:
                    # Cover the face (roughly the middle of the head crop) with a flat patch.
                    c = m @ np.array([src.shape[1] * 0.37, src.shape[0] * 0.36, 1.0])
                    r = int(0.2 * scale * src.shape[1])
                    cv2.rectangle(frame, (int(c[0]) - r, int(c[1]) - r), (int(c[0]) + r, int(c[1]) + r),
                                  (110, 100, 95), -1)
        frames.append(frame)
    return frames


def write_clip(path: str | Path, frames: list[np.ndarray], fps: int = 25, audio: bool = True,
               rotation: int = 0, codec: str = "libx264", faststart: bool = False) -> Path:
    """Encode ``frames`` (upright BGR) to ``path``; ``rotation`` stores them turned with display metadata.

    With ``audio``, a 440 Hz AAC tone as long as the video goes along.
    """
    import av

    path = Path(path)
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        k = (rotation // 90) % 4
        stored = [np.ascontiguousarray(np.rot90(f, -k)) if k else f for f in frames]
        h, w = stored[0].shape[:2]
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": "18", "preset": "veryfast"}
        if rotation:
            vs.set_display_rotation(rotation)
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=44100)
            astream.layout = "mono"
        for i, f in enumerate(stored):
            vf = av.VideoFrame.from_ndarray(f, format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if astream is not None:
            n = int(44100 * len(frames) / fps)
            t = np.arange(n) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for s in range(0, n, 1024):
                chunk = tone[s:s + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None], format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 44100, s, Fraction(1, 44100)
                for p in astream.encode(af):
                    out.mux(p)
            for p in astream.encode():
                out.mux(p)
    return path


def astronaut_clip(path: str | Path, n: int = 50, size: tuple[int, int] = (640, 360), faces: int = 1,
                   empty_frames: int = 0, fps: int = 25, audio: bool = True, rotation: int = 0,
                   occlude: tuple[int, int] | None = None, faststart: bool = False) -> Path:
    """The moving astronaut as a video file (see ``moving_face_frames`` and ``write_clip``)."""
    frames = moving_face_frames(n, size, faces, empty_frames, occlude)
    return write_clip(path, frames, fps, audio, rotation, faststart=faststart)

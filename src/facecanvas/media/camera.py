"""Live frame sources: a camera, or a video file played as if it were one.

Both keep only the newest frame: a consumer that is slower than the source skips frames instead of
falling behind, which is what keeps a live preview's delay low. Each frame carries its ``arrival``
time (``time.monotonic()`` when it became available), so the added latency of the processing can be
measured as "shown at" minus "arrived at".
"""

from __future__ import annotations

import glob
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .video_io import _open_input, probe, upright


@dataclass
class LiveFrame:
    index: int  # position in the source (frames skipped by a slow consumer leave gaps)
    bgr: np.ndarray  # HxWx3 uint8, upright
    time: float  # seconds of media time (file) or since the camera started
    arrival: float  # time.monotonic() when the frame became available


class LatestFrameSource:
    """Base: a producer thread publishes frames; ``read()`` returns the newest one not yet read."""

    name = "source"

    def __init__(self):
        self._cond = threading.Condition()
        self._frame: LiveFrame | None = None
        self._read_index = -1
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self.published = 0
        self.consumed = 0
        self.late_skipped = 0  # frames the source itself skipped because it ran behind real time
        self._thread = threading.Thread(target=self._run_guarded, name=f"facecanvas-{self.name}", daemon=True)

    @property
    def dropped(self) -> int:
        """Frames never processed: replaced by a newer one before the consumer got to them, or skipped late."""
        return self.published - self.consumed + self.late_skipped

    def start(self) -> "LatestFrameSource":
        self._thread.start()
        return self

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _run(self) -> None:
        raise NotImplementedError

    def _publish(self, index: int, bgr: np.ndarray, t: float) -> None:
        with self._cond:
            self._frame = LiveFrame(index, bgr, t, time.monotonic())
            self.published += 1
            self._cond.notify_all()

    def read(self, timeout: float = 5.0) -> LiveFrame | None:
        """The newest frame not read yet; None when the source has ended. Raises the source's error."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                f = self._frame
                if f is not None and f.index != self._read_index:
                    self._read_index = f.index
                    self.consumed += 1
                    return f
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InputError(f"{self.name}: no frame for {timeout:.0f} s (the device stopped sending)")
                self._cond.wait(min(left, 0.2))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _camera_devices() -> str:
    found = sorted(glob.glob("/dev/video*"))
    return ", ".join(found) if found else "none found under /dev/video*"


class CameraSource(LatestFrameSource):
    """An OpenCV camera (``index`` as in /dev/videoN). Raises InputError when it cannot be opened."""

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None):
        import cv2

        self.name = f"camera {index}"
        super().__init__()
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise InputError(f"camera {index} cannot be opened: no such device, or it is busy or not permitted "
                             f"(video devices: {_camera_devices()}); use --source FILE to play a video instead")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # do not queue stale frames inside the driver
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise InputError(f"camera {index} opened but gives no frames (is another program using it?)")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 30.0
        self.size = (first.shape[1], first.shape[0])
        self._t0 = time.monotonic()

    def _run(self) -> None:
        i = 0
        try:
            while not self._stop.is_set():
                ok, frame = self._cap.read()
                if not ok:
                    raise InputError(f"{self.name}: the camera stopped sending frames")
                self._publish(i, frame, time.monotonic() - self._t0)
                i += 1
        finally:
            self._cap.release()


def _decode_checked(container, stream, path: Path):
    import av

    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as e:
        raise InputError(f"cannot read {path}: corrupt or truncated video data ({e})") from e


class FileSource(LatestFrameSource):
    """A video file played in real time, as a camera would deliver it.

    Frames are released at their timestamps (``speed`` x real time); a consumer that falls behind
    misses frames, exactly as with a camera. ``loop`` starts again at the end.
    """

    def __init__(self, path: str | Path, loop: bool = False, speed: float = 1.0):
        self.path = Path(path)
        self.name = str(self.path)
        super().__init__()
        self.info = probe(self.path)  # InputError for missing, corrupt, no video stream, ...
        self.fps = float(self.info.fps)
        self.size = self.info.display_size
        self.loop, self.speed = loop, speed

    def _run(self) -> None:
        start = time.monotonic()
        offset = 0.0  # media time of the previous loops
        index = 0
        period = 1.0 / max(self.fps, 1.0)
        while not self._stop.is_set():
            container, stream = _open_input(self.path)
            stream.thread_type = "AUTO"
            last_t = 0.0
            try:
                for frame in _decode_checked(container, stream, self.path):
                    if self._stop.is_set():
                        return
                    t = offset + (float(frame.time) if frame.time is not None else index * period)
                    last_t = t
                    due = start + t / self.speed
                    now = time.monotonic()
                    if now < due:
                        time.sleep(due - now)
                    elif now > due + period:
                        # Decoding itself ran late: a camera would have moved on. Skip the conversion.
                        self.late_skipped += 1
                        index += 1
                        continue
                    self._publish(index, upright(frame.to_ndarray(format="bgr24"), self.info.rotation), t)
                    index += 1
            finally:
                container.close()
            if not self.loop:
                return
            offset = last_t + period


class VirtualCamera:
    """Send frames to a virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS on Windows/macOS)."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError as e:
            raise InputError("--virtual-cam needs the optional package pyvirtualcam: "
                             "`.venv/bin/pip install pyvirtualcam==0.15.0` (plus a virtual camera driver: "
                             "v4l2loopback on Linux, OBS Virtual Camera on Windows/macOS)") from e
        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=device)
        except Exception as e:  # noqa: BLE001 - pyvirtualcam raises RuntimeError and others per backend
            raise InputError(f"cannot start the virtual camera: {e}") from e
        self.device = self._cam.device

    def send(self, bgr: np.ndarray) -> None:
        self._cam.send(bgr)

    def close(self) -> None:
        self._cam.close()

"""Video files: decoding and tracking in a child process, beside the operation in this one.

``process_video`` runs tracking and the operation as two stages. In two threads of one process they
share Python's lock: on the 3-face 640x360 stage clip the operation's thread held it for ~9 of its 13 ms a
frame and the tracker's for ~4, and each waited for the other (the operation took 20 ms a frame of wall
time for 13 of CPU). A child process decodes and tracks without that lock. Each decoded frame goes into a
ring of frame slots in shared memory (a copy, ~0.1 ms at 640x360, against ~1.5 ms to decode it again here),
and its chosen faces come back pickled through a pipe, in order; a byte back through a second pipe frees
the slot. The child is made from the same ``TrackingOptions`` as the processor (``make_processor`` records
them), so it tracks and selects exactly as the thread would.

The child is a plain ``python -c`` that imports this module (not multiprocessing's spawn, which would first
import the parent's ``__main__``, the whole CLI): the job comes pickled on its stdin, and its end closes
the results pipe, so a child that dies is seen at once. It loads its modules (numpy, OpenCV, PyAV,
MediaPipe, onnxruntime: ~0.3 s) before it reads the job, so a ``TrackChild`` started early (the CLI starts one first
thing when a video is named) has them loaded by the time the video is opened.
"""

from __future__ import annotations

import math
import mmap
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

# (numpy is imported where it is used: the CLI imports this module to start a child before numpy loads.)

SLOTS = 6  # frames the child may decode and track ahead of the operation
# Larger frames are tracked in a thread: each frame's two copies through the ring cost about what the shared
# lock does there (same machine, runs in turn: the 1080p dfdc clip 10.0-10.8 s in a thread, 10.6-11.1 s with
# the child; a 1080p pan over the group photo 7.1-7.6 against 7.4-7.5 s; the 720p talking head 5.5-5.9 both;
# the 640x360 stage clip 5.2-5.5 against 4.6-4.8 s).
MAX_PIXELS = 1280 * 720


def can_use(processor, info=None) -> bool:
    """A child may track for ``processor`` (on ``info``'s video): it was made from options (``make_processor``,
    not live), this machine has a second core, this process may have children (a batch's pool workers may
    not), and the frames are at most ``MAX_PIXELS``."""
    if getattr(processor, "tracking", None) is None:
        return False
    if info is not None and info.width * info.height > MAX_PIXELS:
        return False
    return may_start()


def may_start() -> bool:
    """This process may start a tracking child: POSIX, a second core, not a batch's pool worker, and not
    turned off (FACECANVAS_TRACK_PROCESS=0)."""
    import multiprocessing

    if os.environ.get("FACECANVAS_TRACK_PROCESS") == "0":
        return False
    if os.name != "posix" or not sys.executable:  # (inherited pipe descriptors; an interpreter to start)
        return False
    from .cores import usable_cores

    return usable_cores() >= 2 and not multiprocessing.current_process().daemon


def _shared_file(size: int = 0) -> int:
    """A descriptor of ``size`` bytes of memory both processes map (memfd, else a deleted file in /dev/shm);
    ``os.ftruncate`` sizes it later."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("facecanvas-frames")
    else:
        import tempfile

        with tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as f:
            fd = os.dup(f.fileno())
    os.ftruncate(fd, size)
    return fd


class _Ring:
    """``SLOTS`` frames of one upright shape in shared memory."""

    def __init__(self, fd: int, shape: tuple[int, int, int]):
        self.shape, self.size = shape, math.prod(shape)
        self._map = mmap.mmap(fd, self.size * SLOTS)

    def slot(self, k: int):
        import numpy as np

        return np.frombuffer(self._map, np.uint8, self.size, k * self.size).reshape(self.shape)

    def close(self) -> None:
        self._map.close()


class TrackChild:
    """A tracking child process, started and loading its modules before its video is known; ``TrackProcess``
    gives it its job. ``close()`` stops it (and does nothing once a ``TrackProcess`` has taken it). A child
    never given a job exits when this process closes its stdin or ends. ``quiet``: the child's stderr (MediaPipe's
    native chatter; its errors come back through the results pipe) goes to /dev/null."""

    def __init__(self, quiet: bool = False):
        fds: list[int] = []
        child = None
        try:
            results_r, results_w = os.pipe()
            fds += [results_r, results_w]
            freed_r, freed_w = os.pipe()
            fds += [freed_r, freed_w]
            ring_fd = _shared_file()  # sized by the TrackProcess, once the frame size is known
            fds.append(ring_fd)
            # The child imports this very package: its folder goes first on the child's path unless already
            # there (an installed package's site-packages must not go before the standard library).
            env = dict(os.environ, FACECANVAS_CHILD_ROOT=str(Path(__file__).resolve().parents[1]))
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(results_w), str(freed_r), str(ring_fd)],
                stdin=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None,
                pass_fds=(results_w, freed_r, ring_fd), env=env)
        except BaseException:  # (process_video then tracks in a thread: nothing may be left open or running)
            if child is not None:
                child.kill()
                child.wait()
            for fd in fds:
                os.close(fd)
            raise
        for fd in (results_w, freed_r):  # the child's ends
            os.close(fd)
        self.process, self.ring_fd = child, ring_fd
        self.results = os.fdopen(results_r, "rb")
        self.freed = os.fdopen(freed_w, "wb", buffering=0)
        self.taken = False

    def close(self) -> None:
        if self.taken:
            return
        self.taken = True
        _stop(self.process)
        for f in (self.process.stdin, self.results, self.freed):
            f.close()
        os.close(self.ring_fd)


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


class TrackProcess:
    """``for frame, faces in TrackProcess(src, info, options)``: each decoded frame (a ``video_io.Frame``)
    with its chosen faces, from a child process (``child``, one started earlier, or a new one). ``close()``
    stops the child; ``stats``, ``timings``, ``built`` and ``damaged`` (the child's tracker statistics,
    frame timings, meshes built, damaged frames) are there after the last frame."""

    def __init__(self, src: str | Path, info, options, child: TrackChild | None = None):
        w, h = info.display_size
        shape = (h, w, 3)
        child = child if child is not None and not child.taken else TrackChild()
        try:
            os.ftruncate(child.ring_fd, math.prod(shape) * SLOTS)
            self._ring = _Ring(child.ring_fd, shape)
        except BaseException:
            child.close()
            raise
        os.close(child.ring_fd)  # (the map keeps the memory; the child has its own descriptor)
        child.taken = True
        self._child, self._results, self._freed = child.process, child.results, child.freed
        try:
            pickle.dump((str(src), info, options, shape), self._child.stdin)
            self._child.stdin.close()
        except OSError:
            pass  # the child already stopped: the first read says so
        self.stats = self.timings = self.built = None
        self.damaged = 0

    def __iter__(self):
        from .media.video_io import Frame

        while True:
            try:
                kind, *rest = pickle.load(self._results)
            except EOFError:
                code = self._child.wait()
                raise RuntimeError(f"the tracking process stopped (exit code {code})") from None
            if kind == "frame":
                index, pts, t, duration, slot, faces = rest
                if isinstance(slot, int):
                    bgr = self._ring.slot(slot).copy()
                    self._free()
                else:  # a frame of another size than the ring's came whole
                    bgr = slot
                yield Frame(index, pts, t, duration, bgr), faces
            elif kind == "end":
                self.stats, self.timings, self.built, self.damaged = rest
                return
            else:  # "error": the child's exception, raised here as if this process had decoded and tracked
                raise rest[0]

    def _free(self) -> None:
        try:
            self._freed.write(b"\0")
        except OSError:
            pass  # the child is gone: the next read says so

    def close(self) -> None:
        _stop(self._child)
        for f in (self._results, self._freed, self._ring):
            try:
                f.close()
            except (OSError, BufferError):
                pass


def _run(out, freed, ring_fd: int) -> None:
    processor = reader = ring = None
    try:
        # Modules first, then the job: a child started early has them loaded when its video comes.
        import av  # noqa: F401 - (video_io loads it on first use: ~50 ms)
        import numpy as np
        import cv2

        from .analysis.mp_import import import_mediapipe
        from .media.video_io import VideoReader
        from .pipeline import make_processor

        import_mediapipe()
        try:
            import onnxruntime  # noqa: F401 - the detector's runtime (~20 ms)
        except ImportError:
            pass  # (create_detector then says what is missing, or picks another detector)
        try:
            src, info, options, shape = pickle.load(sys.stdin.buffer)
        except EOFError:
            return  # never given a job (the parent stopped before its video)
        cv2.setNumThreads(1)  # as process_video sets it for the parent: one more thread only spins here
        ring = _Ring(ring_fd, shape)
        processor = make_processor(None, options)
        processor.warm_up_tracking()
        reader = VideoReader(src, info=info)
        sent = 0
        for fr in reader:
            faces = processor.track(fr.bgr, fr.time)
            slot = fr.bgr
            if fr.bgr.shape == ring.shape:
                if sent >= SLOTS and not freed.read(1):  # wait until the oldest slot is free
                    return  # (the parent is gone)
                slot = sent % SLOTS
                np.copyto(ring.slot(slot), fr.bgr)
                sent += 1
            _send(out, ("frame", fr.index, fr.pts, fr.time, fr.duration, slot, faces))
        _send(out, ("end", processor.tracker.stats, processor.timings,
                    getattr(processor.tracker.landmarker, "built", None), reader.damaged))
    except BrokenPipeError:
        pass  # the parent stopped reading: it is gone or done
    except BaseException as e:  # noqa: BLE001 - handed to the parent, which raises it
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text then
            e = RuntimeError(f"{type(e).__name__}: {e}")
        try:
            _send(out, ("error", e))
        except OSError:
            pass
    finally:
        if reader is not None:
            reader.close()
        if processor is not None:
            processor.tracker.close()
        if ring is not None:
            ring.close()


def _send(out, message) -> None:
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


_CHILD = ("import os, sys; r = os.environ.pop('FACECANVAS_CHILD_ROOT'); "
          "sys.path.insert(0, r) if r not in sys.path else None; "
          "import facecanvas.track_process as t; t.main(sys.argv[1:])")


def main(argv: list[str]) -> None:
    """The child's entry point: ``argv`` = the results pipe, the freed-slots pipe, the frame ring."""
    # Ctrl-C reaches the whole process group; the parent decides what it means and stops this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results, freed, ring = (int(a) for a in argv[:3])
    with os.fdopen(results, "wb") as pipe, os.fdopen(freed, "rb", buffering=0) as acks:
        _run(pipe, acks, ring)

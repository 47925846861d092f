"""One batch worker: builds its operation ONCE from the OpSpec JSON and reuses it (and its own
FaceAnalyzer) for every item it is given. The same class runs in a local process pool (``init`` /
``process`` are the pool's initializer and task) and as a Ray actor (``ray_engine``).

An item is plain data (``Item``); its result is a plain dict (``manifest`` records it as it is).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BUILDS = 0  # operations built in this process: one per worker (per kind, photo or video), never per item


@dataclass
class Item:
    id: int
    src: str  # the input as the worker reads it (or its name, when ``data`` carries the bytes)
    dst: str  # where the output goes (or its name, when the result comes back through the driver)
    rel: str  # the input's path relative to the batch's input folder (the manifest's key)
    kind: str  # "photo" or "video"
    data: bytes | None = None  # input bytes sent by the driver (--transfer driver)


@dataclass
class WorkerConfig:
    spec: str  # OpSpec JSON
    analysis: dict = field(default_factory=dict)  # AnalysisOptions / TrackingOptions as plain data
    encode: dict = field(default_factory=dict)  # EncodeOptions fields for videos
    save_mask: bool = False
    crash_on: str | None = None  # tests only: os._exit in the worker on an input whose name contains this
    threads: int | None = None  # native threads per worker (OpenCV, OpenMP/BLAS): cores / workers
    frames: Any = None  # a queue for (item id, frames done) progress messages; None: no frame progress

    def plain(self) -> dict:
        d = asdict(self)
        d.pop("frames")
        return d


class Worker:
    """The operation (photo and video flavours, each built once, on first use) and the analyzer."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self._ops: dict[bool, Any] = {}
        self._analyzer = None
        self.pid = os.getpid()

    def op(self, video: bool):
        global BUILDS
        if video not in self._ops:
            from ..ops import build
            from ..ops.base import OpSpec

            self._ops[video] = build(OpSpec.from_json(self.config.spec), video=video)
            BUILDS += 1
        return self._ops[video]

    def analyzer(self):
        if self._analyzer is None:
            from ..pipeline import AnalysisOptions, make_analyzer

            names = {i.name for i in AnalysisOptions.schema()}
            opts = AnalysisOptions.from_dict({k: v for k, v in self.config.analysis.items() if k in names})
            self._analyzer = make_analyzer(opts)
        return self._analyzer

    def process(self, item: Item) -> dict:
        """Run one item; never raises (a crash of the process itself is the engine's business)."""
        from .jobs import _as_error

        t0 = time.perf_counter()
        res: dict[str, Any] = {"id": item.id, "rel": item.rel, "kind": item.kind, "worker": self.pid,
                               "status": "failed", "faces": 0, "timings": {}, "error": None, "error_type": None}
        tmp = None
        try:
            if self.config.crash_on and self.config.crash_on in Path(item.src).name:
                os._exit(139)  # what a segfault in a native library looks like to the pool
            src, dst = Path(item.src), Path(item.dst)
            if item.data is not None:  # through the driver: work in a private temporary folder
                tmp = Path(tempfile.mkdtemp(prefix="facecanvas-batch-"))
                src = tmp / "in" / Path(item.src).name
                src.parent.mkdir()
                src.write_bytes(item.data)
                dst = tmp / "out" / Path(item.dst).name
            if item.kind == "video":
                self._video(src, dst, item, res)
            else:
                self._photo(src, dst, res)
            if tmp is not None and res["status"] == "done":
                res["data"] = dst.read_bytes()
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one bad item must not stop the worker
            from ..errors import NoFaceError

            err = _as_error(e, Path(item.src))
            res["status"] = "skipped" if isinstance(err, NoFaceError) else "failed"
            res["error"] = str(err)
            res["error_type"] = type(err).__name__
            res["exit_code"] = err.exit_code
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        res["seconds"] = time.perf_counter() - t0
        res["builds"] = BUILDS
        return res

    def _photo(self, src: Path, dst: Path, res: dict) -> None:
        from ..errors import NoFaceError
        from ..media.image_io import load_image, save_image, save_result
        from .jobs import mask_path

        op, analyzer = self.op(False), self.analyzer()
        tm, t = res["timings"], time.perf_counter()
        img = load_image(src)
        tm["load"], t = time.perf_counter() - t, time.perf_counter()
        faces = analyzer.detect(img.bgr)
        tm["detect"], t = time.perf_counter() - t, time.perf_counter()
        if not faces:
            raise NoFaceError(f"{src}: no face found")
        r = op.apply(img.bgr, faces)
        tm["op"], t = time.perf_counter() - t, time.perf_counter()
        dst.parent.mkdir(parents=True, exist_ok=True)
        # The batch owns its output folder: a redone item replaces its old output; inputs are protected.
        save_result(dst, r.image, img, overwrite=True, protected=(src,), operation=op.name)
        if self.config.save_mask and r.mask is not None:
            save_image(mask_path(dst), r.mask, overwrite=True, protected=(src,), operation=op.name)
        tm["save"] = time.perf_counter() - t
        res.update(status="done", faces=r.faces, note=op.describe(r), warnings=r.warnings)

    def _video(self, src: Path, dst: Path, item: Item, res: dict) -> None:
        from ..media.video_io import EncodeOptions
        from ..pipeline import TrackingOptions, make_processor
        from ..video import process_video

        op = self.op(True)
        op.reset()
        tracking = TrackingOptions.from_dict(self.config.analysis)
        processor = make_processor(op, tracking)
        queue, done = self.config.frames, [0]

        def on_frame(*_):
            done[0] += 1
            if queue is not None and done[0] % 5 == 0:
                try:
                    queue.put((item.id, 5))
                except Exception:  # noqa: BLE001 - progress is never worth a failed item
                    pass

        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            report = process_video(src, dst, processor, encode=EncodeOptions(**self.config.encode), overwrite=True,
                                   progress=False, protected=(src,), on_frame=on_frame,
                                   track_process=False)  # (the pool's processes already share the cores)
        finally:
            processor.tracker.close()
        if queue is not None and done[0] % 5:
            try:
                queue.put((item.id, done[0] % 5))
            except Exception:  # noqa: BLE001
                pass
        t = report.timings
        res["timings"] = {"track": t.track_s, "op": t.op_s, "wall": report.seconds}
        res.update(status="done", faces=t.frames_with_faces, frames=report.frames, fps=report.fps,
                   note=f"{report.frames} frames, faces in {t.frames_with_faces}")


# --- the local process pool's entry points (one Worker per process) ---------------------------------

_WORKER: Worker | None = None


def limit_threads(threads: int | None) -> None:
    """N workers on C cores: each worker's native thread pools get C / N threads, as Ray does for its
    actors (OMP_NUM_THREADS = the actor's CPUs), instead of every worker starting C threads of its own.
    Before the first import of cv2 / numpy's BLAS in this process, so the environment still counts."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import cv2

    cv2.setNumThreads(threads)


def init(config: WorkerConfig) -> None:
    """Pool initializer: thread pools sized to this worker's share of the cores, the worker made (models
    load on its first item, once)."""
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the pool
    limit_threads(config.threads)
    _WORKER = Worker(config)


def process(item: Item) -> dict:
    assert _WORKER is not None, "worker.init was not called"
    return _WORKER.process(item)

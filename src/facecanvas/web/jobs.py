"""The web app's work: a private folder for uploads and results, a queue with a concurrency limit, and
a small LRU cache of built operations and analyzers (each loaded once per distinct spec, not per request).

Nothing here knows an operation: jobs are callables that the app makes from the library's own functions.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FacecanvasError


def new_id() -> str:
    """A random name for an upload, a result or a job: user-supplied names never become paths."""
    return secrets.token_hex(12)


def valid_id(text: str) -> bool:
    return len(text) == 24 and all(c in "0123456789abcdef" for c in text)


class Workspace:
    """A private temporary folder (mode 0700): ``item(id)`` folders of uploads and results, removed
    after ``max_age`` seconds and when the app closes."""

    def __init__(self, root: str | Path | None = None, max_age: float = 3600.0):
        self.root = Path(tempfile.mkdtemp(prefix="facecanvas-web-", dir=root))
        os.chmod(self.root, 0o700)
        self.max_age = max_age
        self._lock = threading.Lock()

    def new(self) -> tuple[str, Path]:
        key = new_id()
        path = self.root / key
        path.mkdir(mode=0o700)
        return key, path

    def get(self, key: str) -> Path | None:
        if not valid_id(key):
            return None
        path = self.root / key
        return path if path.is_dir() else None

    def sweep(self, now: float | None = None) -> int:
        """Remove items older than ``max_age``; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        with self._lock:
            for p in list(self.root.iterdir()) if self.root.is_dir() else []:
                try:
                    if now - p.stat().st_mtime > self.max_age:
                        shutil.rmtree(p, ignore_errors=True)
                        removed += 1
                except OSError:
                    pass
        return removed

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class LRU:
    """``get(key, make)``: the object made once per key, at most ``size`` kept (the oldest closed).
    Each entry has its own lock: an operation or analyzer is used by one job at a time."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[Any, tuple[Any, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()
        self.made = 0

    def get(self, key: Any, make: Callable[[], Any]) -> tuple[Any, threading.Lock]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        obj = make()  # outside the lock: a slow model load does not block the other entries
        with self._lock:
            if key in self._items:  # made twice by a race: keep the first
                return self._items[key]
            self._items[key] = entry = (obj, threading.Lock())
            self.made += 1
            while len(self._items) > self.size:
                # Dropped, not closed: a job may still hold it; garbage collection frees it after.
                self._items.popitem(last=False)
            return entry

    def clear(self) -> None:
        with self._lock:
            for obj, _l in self._items.values():
                _close(obj)
            self._items.clear()


def _close(obj: Any) -> None:
    try:
        close = getattr(obj, "close", None)
        if close is not None:
            close()
    except Exception:  # noqa: BLE001 - closing a cached model must never fail a request
        pass


@dataclass
class Job:
    id: str
    kind: str  # "photo" or "video"
    state: str = "queued"  # queued, running, done, error
    progress: float = 0.0  # 0..1
    frames: int = 0
    total: int = 0
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 4),
                "frames": self.frames, "total": self.total, "error": self.error, **self.result}


class JobQueue:
    """At most ``concurrency`` jobs run at once; at most ``max_pending`` wait (then ``submit`` refuses)."""

    def __init__(self, concurrency: int = 1, max_pending: int = 32, keep: float = 3600.0):
        self.concurrency = max(1, concurrency)
        self.max_pending = max_pending
        self.keep = keep
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="facecanvas-web")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def pending(self) -> int:
        with self._lock:
            return sum(j.state in ("queued", "running") for j in self._jobs.values())

    def submit(self, kind: str, work: Callable[[Job], dict[str, Any]], describe: Callable[[Exception], str]) -> Job:
        """Run ``work(job)`` in the pool; its dict becomes the job's result. A library error becomes the
        job's one-line ``error``; anything else is ``describe(e)`` (never a traceback)."""
        if self.pending() >= self.max_pending + self.concurrency:
            raise FacecanvasError(f"the server is busy ({self.pending()} jobs waiting); try again in a moment")
        job = Job(new_id(), kind)
        with self._lock:
            now = time.time()
            for key in [k for k, j in self._jobs.items() if now - j.created > self.keep]:
                del self._jobs[key]
            self._jobs[job.id] = job

        def run() -> None:
            job.state = "running"
            try:
                job.result = work(job)
                job.progress = 1.0
                job.state = "done"
            except Exception as e:  # noqa: BLE001 - a job never takes the server down
                job.error = describe(e)
                job.state = "error"

        self._pool.submit(run)
        return job

    def get(self, key: str) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def wait(self, job: Job, timeout: float = 600.0) -> Job:
        t0 = time.time()
        while job.state in ("queued", "running") and time.time() - t0 < timeout:
            time.sleep(0.02)
        return job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

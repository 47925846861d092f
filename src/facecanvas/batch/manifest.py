"""The batch manifest: one JSON line per event in ``OUT/facecanvas-manifest.jsonl``.

A ``run`` line opens each run (its op spec, facecanvas version, engine, start time); an ``item`` line is
appended (and flushed to disk) as each item ends: the input (relative path, sha256 of its bytes), status
(done / failed / skipped), output path, faces, timings, the error, the worker and the op spec.
The latest line of an input wins. A run killed mid-write leaves at most one torn last line, which is
ignored, so resuming needs nothing but this file.

Plan states of an input for the next run (``plan``):
  new      never seen
  changed  seen, but its bytes (hash) or the op spec differ, or its output is gone: redone
  done     done with the same input and spec: skipped
  failed   failed (or skipped: no face) with the same input and spec: redone only with --retry-failed
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "facecanvas-manifest.jsonl"
STATUSES = ("done", "failed", "skipped")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str | None:
    """sha256 of the file's bytes, or None when it cannot be read (the item then fails on its own)."""
    h = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a pipe or a device would block or never end
        with open(path, "rb") as f:
            while True:
                block = f.read(chunk)
                if not block:
                    return h.hexdigest()
                h.update(block)
    except OSError:
        return None


def spec_key(*parts: Any) -> str:
    """A short, stable name of what decides an output: the op spec, analysis and encode options."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Planned:
    rel: str
    state: str  # new / changed / done / failed
    why: str = ""  # for changed: input / spec / output


class Manifest:
    def __init__(self, folder: str | Path):
        self.path = Path(folder) / NAME
        self.latest: dict[str, dict] = {}  # rel -> its latest item line
        self.runs: list[dict] = []
        self._fh = None
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a torn last line of a killed run
                if not isinstance(rec, dict):
                    continue  # not one of our lines (the file was edited or damaged): ignored
                if rec.get("kind") == "run":
                    self.runs.append(rec)
                elif rec.get("kind") == "item" and "rel" in rec:
                    self.latest[rec["rel"]] = rec

    def plan(self, rel: str, sha: str | None, key: str, output: Path, retry_failed: bool) -> Planned:
        prev = self.latest.get(rel)
        if prev is None:
            return Planned(rel, "new")
        if sha is None or prev.get("sha256") != sha:
            return Planned(rel, "changed", "input")
        if prev.get("spec_key") != key:
            return Planned(rel, "changed", "spec")
        if prev.get("status") == "done":
            if not output.exists():
                return Planned(rel, "changed", "output")
            return Planned(rel, "done")
        return Planned(rel, "failed", prev.get("status", "failed"))

    def open_run(self, info: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        # A torn last line of a killed run must not swallow the next record.
        if self._fh.tell() > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    self._fh.write("\n")
        rec = {"kind": "run", "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **info}
        self.runs.append(rec)
        self._write(rec)

    def record(self, rec: dict[str, Any]) -> None:
        rec = {"kind": "item", **rec}
        self.latest[rec["rel"]] = rec
        self._write(rec)

    def _write(self, rec: dict) -> None:
        assert self._fh is not None, "open_run first"
        self._fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_items(folder: str | Path) -> list[dict]:
    """Every item line of a manifest, in order (for reports and tests)."""
    out = []
    path = Path(folder) / NAME
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("kind") == "item":
            out.append(rec)
    return out


def error_kind(message: str | None, names: Iterable[str] = ()) -> str:
    """An error message without the file it names, so the same failure on many files groups as one."""
    text = message or "unknown error"
    for name in names:
        if name:
            text = text.replace(name, "FILE")
    head, sep, tail = text.partition(": ")
    if sep and ("/" in head or "FILE" in head or "." in head):
        text = tail
    return text[:160]

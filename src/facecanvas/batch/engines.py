"""Dataset batches: plan (inputs, outputs, what the manifest says is done), run on an engine, summarize.

    summary = run_batch(BatchSettings(OpSpec("erase", {...}), "photos/", "out/", engine="local", workers=2))

Engines run the same ``worker.Worker`` (the op built once per worker from its OpSpec JSON):

* ``local``: a ``ProcessPoolExecutor`` with the spawn context (MediaPipe and onnxruntime are not fork-safe
  once loaded). A worker that dies (a segfault, ``os._exit``, the OOM killer) breaks the pool: the pool is
  rebuilt and the items that were in flight are run again one at a time, so only the item that kills its
  worker again is marked failed.
* ``ray``: one actor per worker (``ray_engine``), one call per photo or video.

Outputs are written by the workers straight into the output folder (``transfer="shared"``: the folder must
be visible to every worker, as on one machine or an NFS mount), or come back through the driver as bytes
(``transfer="driver"``: the driver also sends the input bytes, so workers need no shared file system).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, OutputError
from ..media.names import display_path
from ..media.outputs import check_output, write_atomic
from ..ops.base import OpSpec
from .manifest import Manifest, Planned, error_kind, file_sha256, spec_key
from .worker import Item, WorkerConfig

ENGINES = ("local", "ray")
TRANSFERS = ("shared", "driver")
CRASH = "worker process died while processing this item (a crash in native code, os._exit or out of memory)"

OnResult = Callable[[dict], None]
OnFrames = Callable[[int], None]


# --- inputs and plan -----------------------------------------------------------------------------------

def _exts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from ..media.image_io import IMAGE_EXTS
    from ..media.names import VIDEO_EXTS

    return tuple(IMAGE_EXTS), tuple(VIDEO_EXTS)


def collect_inputs(source: str | Path, output: str | Path) -> tuple[Path, list[Path]]:
    """The batch's input root and its files: a folder (recursive; hidden names and the output folder are
    left out) or a list file (one path a line, relative to the list's folder; # comments)."""
    images, videos = _exts()
    source, out = Path(source), Path(output).resolve()
    if os.path.isdir(source):
        found = []
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != out)
            found += [Path(folder, f) for f in sorted(files)
                      if not f.startswith(".") and Path(f).suffix.lower() in images + videos]
        if not found:
            raise InputError(f"{source}: folder has no images or videos")
        return source, sorted(found, key=lambda p: p.relative_to(source).as_posix())
    if os.path.isfile(source):
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{source}: cannot read the list ({e})") from None
        paths = [Path(s) if Path(s).is_absolute() else source.parent / s
                 for s in (ln.strip() for ln in lines) if s and not s.startswith("#")]
        if not paths:
            raise InputError(f"{source}: the list names no files")
        paths = list(dict.fromkeys(paths))
        root = Path(os.path.commonpath([p.parent.resolve() for p in paths]))
        return root, [p.resolve() for p in paths]
    raise InputError(f"{source}: no such folder or list file")


def output_for(rel: Path, output: Path, video: bool) -> Path:
    return output / rel.parent / (rel.name if video else f"{rel.stem}{rel.suffix.lower()}")


@dataclass
class BatchSettings:
    spec: OpSpec
    input: str | Path
    output: str | Path
    engine: str = "local"
    workers: int | None = None  # default: the core count (local) or the cluster's CPUs (ray)
    address: str | None = None  # ray: None starts a local instance; "auto" or ray://HOST:10001 joins one
    transfer: str = "shared"
    retry_failed: bool = False
    analysis: dict = field(default_factory=dict)  # TrackingOptions fields (detector, detect_every, ...)
    encode: dict = field(default_factory=dict)  # EncodeOptions fields for videos
    save_mask: bool = False
    progress: bool = True
    crash_on: str | None = None  # tests only


@dataclass
class PlanRow:
    planned: Planned
    src: Path
    dst: Path
    sha: str | None
    kind: str


def plan_batch(s: BatchSettings) -> tuple[list[PlanRow], Manifest, str]:
    images, videos = _exts()
    root, files = collect_inputs(s.input, s.output)
    out = Path(s.output)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise OutputError(f"cannot write {display_path(out)}: --output must be a folder, and this is a file")
    manifest = Manifest(out)
    key = spec_key(s.spec.to_json(), s.analysis, s.encode, s.save_mask)
    rows = []
    for src in files:
        try:
            rel = src.resolve().relative_to(root.resolve()) if not os.path.isdir(s.input) else src.relative_to(root)
        except ValueError:
            rel = Path(src.name)
        video = src.suffix.lower() in videos
        dst = output_for(rel, out, video)
        if dst.resolve() == src.resolve():
            raise OutputError(f"{dst}: the output would replace its input; choose another --output")
        sha = file_sha256(src)
        rows.append(PlanRow(manifest.plan(rel.as_posix(), sha, key, dst, s.retry_failed), src, dst, sha,
                            "video" if video else "photo"))
    return rows, manifest, key


def to_do(row: PlanRow, retry_failed: bool) -> bool:
    return row.planned.state in ("new", "changed") or (row.planned.state == "failed" and retry_failed)


# --- engines ---------------------------------------------------------------------------------------------

def crash_result(item: Item, why: str = CRASH) -> dict:
    return {"id": item.id, "rel": item.rel, "kind": item.kind, "status": "failed", "faces": 0, "timings": {},
            "error": f"{item.src}: {why}", "error_type": "WorkerCrash", "exit_code": 1, "worker": None}


def _frame_drain(queue, on_frames: OnFrames | None) -> None:
    if queue is None:
        return
    import queue as q

    while True:
        try:
            _, n = queue.get_nowait()
        except (q.Empty, OSError, EOFError, ValueError):
            return
        if on_frames is not None:
            on_frames(n)


def run_local(items: list[Item], config: WorkerConfig, workers: int, on_result: OnResult,
              on_frames: OnFrames | None = None, context: str = "spawn") -> int:
    """The items on a local process pool; returns how many times the pool was rebuilt after a crash."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from . import worker

    ctx = mp.get_context(context)
    config.frames = ctx.Queue()

    def new_pool():
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker.init, initargs=(config,))

    pool, rebuilds = new_pool(), 0
    pending, suspects = deque(items), deque()
    inflight: dict = {}  # future -> (item, run alone?)
    try:
        while pending or suspects or inflight:
            if suspects:  # after a crash: the items that were in flight, one at a time
                if not inflight:
                    it = suspects.popleft()
                    inflight[pool.submit(worker.process, it)] = (it, True)
            else:
                while pending and len(inflight) < 2 * workers:
                    it = pending.popleft()
                    inflight[pool.submit(worker.process, it)] = (it, False)
            done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
            _frame_drain(config.frames, on_frames)
            broken = False
            for fut in done:
                it, alone = inflight.pop(fut)
                try:
                    on_result(fut.result())
                except BrokenProcessPool:
                    broken = True
                    if alone:
                        on_result(crash_result(it))  # it killed its worker on its own: its fault
                    else:
                        suspects.append(it)
            if broken:
                for fut, (it, _) in list(inflight.items()):
                    suspects.append(it)
                inflight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool, rebuilds = new_pool(), rebuilds + 1
        _frame_drain(config.frames, on_frames)
    except BaseException:
        _kill_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return rebuilds


def _kill_pool(pool) -> None:
    """Ctrl-C / SIGTERM in the driver: stop the workers now (they ignore SIGINT; SIGTERM makes a worker's
    video close or remove its temporary file)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except Exception:  # noqa: BLE001
            pass
    for p in procs:
        p.join(timeout=10)


# --- the driver ------------------------------------------------------------------------------------------

@dataclass
class BatchSummary:
    counts: Counter = field(default_factory=Counter)  # this run: done / failed / skipped; "already done"
    seconds: float = 0.0
    frames: int = 0
    errors: dict = field(default_factory=dict)  # kind -> list of rel
    builds: dict = field(default_factory=dict)  # worker pid -> ops built
    results: list = field(default_factory=list)
    rebuilds: int = 0
    exit: int = 0

    @property
    def processed(self) -> int:
        return sum(self.counts[s] for s in ("done", "failed", "skipped"))

    @property
    def items_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        c = self.counts
        out = [f"batch: {self.processed} item(s) in {self.seconds:.1f} s ({self.items_per_s:.2f} items/s): "
               f"{c['done']} done, {c['failed']} failed, {c['skipped']} skipped (no face); "
               f"{c['already']} already done, {c['held']} failed before (not retried: --retry-failed)"]
        if self.frames:
            out[0] += f"; {self.frames} video frames ({self.frames / max(self.seconds, 1e-9):.1f} fps)"
        for kind, rels in sorted(self.errors.items(), key=lambda kv: -len(kv[1])):
            out.append(f"  {len(rels)} x {kind} (e.g. {rels[0]})")
        if self.builds:
            per = sorted(self.builds.values())
            out.append(f"model loads: {sum(per)} over {len(per)} worker process(es) ({', '.join(map(str, per))})"
                       + (f"; pool rebuilt {self.rebuilds}x after a worker crash" if self.rebuilds else ""))
        return out


def _rank(codes: list[int]) -> int:
    for code in (2, 4, 1, 3):
        if code in codes:
            return code
    return 1 if codes else 0


def default_workers(engine: str) -> int:
    from ..cores import usable_cores

    return usable_cores()


def run_batch(s: BatchSettings, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> BatchSummary:
    from tqdm import tqdm

    from .. import __version__

    if s.engine not in ENGINES:
        raise InputError(f"--engine {s.engine!r}: choose one of {', '.join(ENGINES)}")
    if s.transfer not in TRANSFERS:
        raise InputError(f"--transfer {s.transfer!r}: choose one of {', '.join(TRANSFERS)}")
    rows, manifest, key = plan_batch(s)
    summary = BatchSummary()
    todo = []
    for row in rows:
        if to_do(row, s.retry_failed):
            todo.append(row)
        else:
            summary.counts["already" if row.planned.state == "done" else "held"] += 1
    out = Path(s.output)
    for row in todo:
        _remove_stale_temps(row.dst)
    items = []
    for i, row in enumerate(todo):
        data = row.src.read_bytes() if s.transfer == "driver" and row.sha is not None else None
        items.append(Item(i, str(row.src), str(row.dst), row.planned.rel, row.kind, data))
    workers = s.workers or default_workers(s.engine)
    config = WorkerConfig(s.spec.to_json(), dict(s.analysis), dict(s.encode), s.save_mask, s.crash_on)
    spec = {"op": s.spec.name, "options": s.spec.options}
    manifest.open_run({"op": spec, "spec_key": key, "version": __version__, "engine": s.engine,
                       "workers": workers, "transfer": s.transfer, "input": str(s.input), "items": len(rows),
                       "to_do": len(items), "analysis": s.analysis, "encode": s.encode})
    run_no = len(manifest.runs)
    by_id = {it.id: (it, row) for it, row in zip(items, todo)}
    bar = tqdm(total=len(items), unit="item", disable=not s.progress or not items, file=sys.stderr,
               dynamic_ncols=True)
    frames = [0]

    def on_frames(n: int) -> None:
        frames[0] += n
        bar.set_postfix_str(f"{frames[0]} frames", refresh=True)

    def on_result(res: dict) -> None:
        it, row = by_id[res["id"]]
        data = res.pop("data", None)
        if data is not None:  # through the driver: written here, atomically, next to its final name
            try:
                check_output(row.dst, overwrite=True, protected=[row.src])  # a re-run replaces its own outputs
                write_atomic(row.dst, data)
            except OutputError as e:
                res.update(status="failed", error=str(e), error_type="OutputError", exit_code=4)
        rec = {"rel": row.planned.rel, "src": str(row.src), "sha256": row.sha, "status": res["status"],
               "output": row.dst.relative_to(out).as_posix() if res["status"] == "done" else None,
               "faces": res.get("faces", 0), "seconds": round(res.get("seconds", 0.0), 4),
               "timings": {k: round(v, 4) for k, v in (res.get("timings") or {}).items()},
               "error": res.get("error"), "error_type": res.get("error_type"), "exit_code": res.get("exit_code"),
               "kind_of_item": row.kind,
               "frames": res.get("frames"), "worker": res.get("worker"), "builds": res.get("builds"),
               "spec_key": key, "op": spec, "version": __version__, "run": run_no, "engine": s.engine,
               "was": row.planned.state, "finished": round(time.time(), 3)}
        manifest.record(rec)
        summary.results.append(rec)
        summary.counts[res["status"]] += 1
        summary.frames += res.get("frames") or 0
        if res.get("worker") is not None and res.get("builds") is not None:
            summary.builds[res["worker"]] = max(summary.builds.get(res["worker"], 0), res["builds"])
        if res["status"] == "failed":
            summary.errors.setdefault(f"{res.get('error_type')}: {error_kind(res.get('error'), [it.src])}",
                                      []).append(row.planned.rel)
            bar.write(f"facecanvas: error: {res.get('error')}", file=sys.stderr)
        bar.update(1)

    t0 = time.perf_counter()
    try:
        if items:
            if s.engine == "local":
                n = min(workers, len(items))
                config.threads = max(1, default_workers("local") // n) if n > 1 else None
                summary.rebuilds = run_local(items, config, n, on_result, on_frames)
            else:
                from .ray_engine import run_ray

                config.frames = None
                run_ray(items, config, s.workers, on_result, address=s.address)
    finally:
        bar.close()
        manifest.close()
        summary.seconds = time.perf_counter() - t0
    summary.exit = _rank([r.get("exit_code") or 1 for r in summary.results if r["status"] == "failed"]
                         ) if summary.counts["failed"] else 0
    return summary


def _remove_stale_temps(dst: Path) -> None:
    """The hidden temporary files a killed run left beside an output it was writing (an atomic write is
    a hidden sibling renamed into place: ``.NAME.1a2b3c4d.tmp``, ``.STEM.1a2b3c4d.part.EXT`` for video)."""
    import glob

    folder = glob.escape(str(dst.parent))
    for pattern in (f".{glob.escape(dst.name)}.????????.tmp", f".{glob.escape(dst.stem)}.????????.part{glob.escape(dst.suffix)}"):
        for stale in glob.glob(os.path.join(folder, pattern)):
            try:
                os.unlink(stale)
            except OSError:
                pass


def dry_run(s: BatchSettings, log: Callable[[str], None] = print) -> Counter:
    """What a run would do, one line an input (new / changed / done / failed); writes nothing."""
    rows, _, _ = plan_batch(s)
    counts: Counter = Counter()
    for row in rows:
        state = row.planned.state
        action = "do" if to_do(row, s.retry_failed) else "skip"
        why = f" ({row.planned.why})" if row.planned.why else ""
        log(f"{state:8s}{why:10s} {action:4s} {row.planned.rel} -> {row.dst}")
        counts[state] += 1
    todo = sum(1 for r in rows if to_do(r, s.retry_failed))
    log(f"dry run: {len(rows)} input(s): " + ", ".join(f"{counts[k]} {k}" for k in ("new", "changed", "done", "failed"))
        + f"; {todo} would be processed; nothing was written")
    return counts

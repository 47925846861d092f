"""Photo and video jobs for any operation: each input -> one output (or one error), never a stop.

A bad file is reported and the batch goes on; even an unexpected error costs only its own item. The
exit code of a batch comes from ``exit_code``, the one ranking every command uses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FacecanvasError, InputError, NoFaceError, OutputError
from ..ops.base import Operation, OpResult

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class JobResult:
    src: Path
    dst: Path | None  # None: nothing was written
    error: FacecanvasError | None = None
    faces: int = 0  # faces edited (photos) or frames with an edited face (videos)
    note: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


class InternalError(FacecanvasError):
    """An unexpected error in one item, kept so the batch can go on (exit code 1)."""


def exit_code(errors: Sequence[BaseException]) -> int:
    """The most serious failure decides: bad input (2) > output not written (4) > other (1) > no face (3)."""
    if not errors:
        return 0
    for kind in (InputError, OutputError):
        if any(isinstance(e, kind) for e in errors):
            return kind.exit_code
    if any(not isinstance(e, NoFaceError) for e in errors):
        return 1
    return NoFaceError.exit_code


def summarize(results: Sequence[JobResult], log: Log = _stderr) -> int:
    """Print the batch's summary line (when there was more than one item); return its exit code."""
    failed = [r for r in results if not r.ok]
    if len(results) > 1:
        log(f"done: {len(results) - len(failed)} written, {len(failed)} failed of {len(results)}")
    return exit_code([r.error for r in failed])


def _as_error(e: BaseException, src: Path) -> FacecanvasError:
    if isinstance(e, FacecanvasError):
        return e
    return InternalError(f"{src}: internal error: {type(e).__name__}: {e}")


def mask_path(dst: Path) -> Path:
    """``out/a.jpg`` -> ``out/a_mask.png``."""
    return dst.with_name(f"{dst.stem}_mask.png")


def run_photos(jobs: Sequence[tuple[Path, Path]], op: Operation, analyzer, *, overwrite: bool = False,
               protected: Sequence[Path] = (), save_mask: bool = False, progress: bool = True,
               log: Log = _stderr) -> list[JobResult]:
    """Detect, apply ``op``, save: one result per (input, output) pair. ``save_mask`` also writes
    ``OUT_mask.png`` for operations that report which pixels they replaced."""
    from tqdm import tqdm

    from ..media.image_io import load_image, save_image, save_result
    from ..media.names import display_path as shown
    from ..media.outputs import check_outputs

    results = []
    bar = tqdm(list(jobs), unit="photo", disable=not progress or len(jobs) < 2, file=sys.stderr)
    write = (lambda m: bar.write(m, file=sys.stderr)) if len(jobs) > 1 else log
    for src, dst in bar:
        t0 = time.perf_counter()
        try:
            # Every file this job writes is checked before any is written (a mask that would replace an
            # input must not leave the image written and the run failed).
            check_outputs([dst, *([mask_path(dst)] if save_mask else [])], overwrite=overwrite, protected=protected)
            img = load_image(src)
            faces = analyzer.detect(img.bgr)
            if not faces:
                raise NoFaceError(f"{src}: no face found")
            r = op.apply(img.bgr, faces)
            for reason in r.warnings:
                write(f"facecanvas: warning: {shown(src)}: {reason}")
            save_result(dst, r.image, img, overwrite=overwrite, protected=protected, operation=op.name)
            if save_mask and r.mask is not None:
                save_image(mask_path(dst), r.mask, overwrite=overwrite, protected=protected,
                           operation=op.name)
            note = op.describe(r)
            results.append(JobResult(src, dst, None, r.faces, note, time.perf_counter() - t0, r.details))
            write(f"{shown(src)} -> {shown(dst)} ({note})")
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one bad item must not stop the batch
            err = _as_error(e, src)
            results.append(JobResult(src, None, err, seconds=time.perf_counter() - t0))
            write(f"facecanvas: error: {shown(str(err))}")
    return results


def run_videos(jobs: Sequence[tuple[Path, Path]], op: Operation, tracking, *, encode=None,
               overwrite: bool = False, protected: Sequence[Path] = (), progress: bool = True,
               log: Log = _stderr, track_child=None) -> list[JobResult]:
    """Each video through ``op`` with a fresh tracker (``pipeline.make_processor``). Ctrl-C raises
    ``VideoInterrupted`` (the frames done so far are kept as a partial file). ``track_child``: a tracking
    child started ahead (``track_process.TrackChild``) for the first video."""
    import dataclasses

    from ..media.video_io import EncodeOptions
    from ..media.names import display_path as shown
    from ..pipeline import make_processor
    from ..video import VideoInterrupted, process_video

    encode = encode or EncodeOptions()
    if encode.operation is None:  # the "edited by facecanvas" mark names the op
        encode = dataclasses.replace(encode, operation=op.name)
    results = []
    for src, dst in jobs:
        t0 = time.perf_counter()
        op.reset()
        processor = None
        try:
            processor = make_processor(op, tracking)
            report = process_video(src, dst, processor, encode=encode, overwrite=overwrite,
                                   progress=progress, protected=tuple(protected), track_child=track_child)
            log(report.summary())
            if not report.timings.frames_with_faces:
                log(f"facecanvas: warning: {shown(src)}: no face found in any frame; the video was copied unchanged")
            results.append(JobResult(src, dst, None, report.timings.frames_with_faces, "", time.perf_counter() - t0,
                                     {"frames": report.frames, "fps": report.fps}))
        except VideoInterrupted as e:
            e.dst = dst  # the message names the output that was not written
            raise
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
            err = _as_error(e, src)
            results.append(JobResult(src, None, err, seconds=time.perf_counter() - t0))
            log(f"facecanvas: error: {shown(str(err))}")
        finally:
            track_child = None  # (used or closed by the first video)
            if processor is not None:
                processor.tracker.close()
    return results

"""Entry point: ``facecanvas COMMAND`` with one-line errors and distinct exit codes."""

from __future__ import annotations

import argparse
import os
import signal
import sys

# Nothing heavy above this line: the signal policy goes in before cv2, MediaPipe and the commands load.
from .signals import install_signal_policy, interrupt_code, received

EPILOG = """\
exit codes: 0 ok, 1 internal error, 2 bad input, 3 no face found, 4 output not written, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
Run `facecanvas COMMAND --help` for a command's options and examples."""


def _print_error(text: str) -> None:
    from ..media.names import one_line

    try:
        print(one_line(text), file=sys.stderr)
    except (OSError, ValueError):  # stderr closed or gone: nothing else we can do
        pass


def _printable_streams() -> None:
    """Names that are not UTF-8 (or not text) print as escapes instead of raising UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def build_parser() -> argparse.ArgumentParser:
    from . import (batch_cmd, deid_cmd, demo_cmd, effect_cmd, erase_cmd, eval_cmd, export_cmd, faces_cmd, gallery_cmd,
                   inpaint_cmd, live_cmd, prepare_cmd, swap_cmd, train_cmd, verify_cmd, web_cmd)
    from .parser import Parser

    p = Parser(
        prog="facecanvas", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Edit faces in photos, videos and live streams: erase facial parts to a natural blank face, "
                    "apply AR effects, swap faces, de-identify people, and train the models behind them.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for unexpected errors")
    sub = p.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    # The order of `facecanvas --help`: the edits first, then analysis, data, training and the page.
    for mod in (erase_cmd, effect_cmd, swap_cmd, deid_cmd, inpaint_cmd, live_cmd, batch_cmd, faces_cmd, verify_cmd,
                gallery_cmd, demo_cmd, eval_cmd, prepare_cmd, train_cmd, export_cmd, web_cmd):
        mod.add_parser(sub)
    return p


def _quiet_native_logs() -> None:
    """MediaPipe's C++ side writes model-loading chatter straight to file descriptor 2.

    Python's own stderr moves to a duplicate of the terminal, and descriptor 2 goes to /dev/null, so
    users see our one-line messages only.
    """
    try:
        sys.stderr.flush()
        keep = os.dup(2)
        sys.stderr = os.fdopen(keep, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


def _forget_unhandled_interrupt() -> None:
    """CPython sets a process-wide flag when a KeyboardInterrupt leaves code that a C extension runs
    through PyRun_* (scipy's and pybind11's module set-up do, during the imports), and at exit it then
    kills itself with SIGINT although we caught the interrupt (exit -2 instead of 130). Running an
    empty string through the same path clears the flag."""
    try:
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"")
    except Exception:  # noqa: BLE001 - not CPython, or no ctypes: nothing to clear
        pass


def main(argv: list[str] | None = None) -> int:
    install_signal_policy()  # first: Ctrl-C or SIGTERM during the imports below is handled too
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # during start-up imports, or one that got past a command's own handling
        _print_error("facecanvas: interrupted; no partial output was left")
        code = interrupt_code()
    if received():
        _forget_unhandled_interrupt()
    return code


# Commands that take video files (through video_common.run_video).
VIDEO_COMMANDS = ("erase", "effect", "deid", "swap")


def _early_track_child(argv: list[str]):
    """A tracking child (``track_process.TrackChild``) started before the commands load, when ``argv`` names
    a video file for a command that edits video: its own start-up (numpy, OpenCV, PyAV, MediaPipe, ~0.25 s)
    then runs beside this process's (~0.3 s to the video) instead of after it. None otherwise, or where
    the video would not be tracked in a child; a child that is not used is stopped."""
    if not argv or argv[0] not in VIDEO_COMMANDS:
        return None
    from ..media.names import is_video_path

    if not any(is_video_path(a) and os.path.isfile(a) for a in argv[1:]):
        return None
    from ..track_process import TrackChild, may_start

    try:
        # (Started before _quiet_native_logs: its stderr goes to /dev/null here, as that does for this process.)
        return TrackChild(quiet="--debug" not in argv) if may_start() else None
    except OSError:
        return None  # (the command tracks in a thread)


def _main(argv: list[str] | None) -> int:
    _printable_streams()
    argv = sys.argv[1:] if argv is None else argv
    child = _early_track_child(argv)
    try:
        return _run(argv, child)
    finally:
        if child is not None:
            child.close()


def _run(argv: list[str], child) -> int:
    debug = "--debug" in argv
    try:
        from ..errors import FacecanvasError
    except Exception as e:  # noqa: BLE001 - a broken install: still one line
        if debug:
            raise
        _print_error(f"facecanvas: internal error: {type(e).__name__}: {e} (run with --debug for details)")
        return 1
    try:
        from ..allocator import keep_freed_memory

        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # named by the command that was given, so its --help is the one pointed at
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            (sub.choices.get(args.command) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
        keep_freed_memory()  # frames reuse freed buffers instead of faulting in fresh pages (allocator.py)
        if not args.debug:
            _quiet_native_logs()
        if not hasattr(args, "run"):
            parser.print_help()
            return 2
        args.track_child = child  # (video_common.run_video hands it to the first video)
        code = args.run(args)
        if code == 130 and received() and received()[0] != signal.SIGINT:
            code = interrupt_code()  # a command reported "interrupted" for a SIGTERM
        return code
    except FacecanvasError as e:
        _print_error(f"facecanvas: error: {e}")
        return e.exit_code
    except BrokenPipeError:  # e.g. `facecanvas faces x.jpg | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as e:
        dst = getattr(e, "dst", None)  # video.VideoInterrupted knows what was kept
        if dst is not None and hasattr(e, "message"):
            _print_error(f"facecanvas: {e.message(dst)}")
        else:
            _print_error("facecanvas: interrupted; no partial output was left")
        return interrupt_code()
    except MemoryError:
        _print_error("facecanvas: error: out of memory (try a smaller image)")
        return 1
    except SystemExit:
        raise  # argparse's --help and usage errors
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if received():  # the interrupt surfaced as another error (an extension's "initialization failed")
            _print_error("facecanvas: interrupted; no partial output was left")
            return interrupt_code()
        if debug:
            raise
        _print_error(f"facecanvas: internal error: {type(e).__name__}: {e} (run with --debug for details)")
        return 1


if __name__ == "__main__":
    sys.exit(main())

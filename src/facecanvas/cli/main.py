"""Entry point: ``facecanvas COMMAND`` with one-line errors and distinct exit codes."""

from __future__ import annotations

import argparse
import os
import sys

from ..allocator import keep_freed_memory
from ..errors import FacecanvasError

EPILOG = """\
exit codes: 0 ok, 1 internal error, 2 bad input, 3 no face found, 4 output not written, 130 interrupted.
Run `facecanvas COMMAND --help` for a command's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    from . import demo_cmd, effect_cmd, erase_cmd, eval_cmd, export_cmd, faces_cmd, gallery_cmd, inpaint_cmd, live_cmd, prepare_cmd, train_cmd

    p = argparse.ArgumentParser(
        prog="facecanvas", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Edit faces in photos, videos and live streams: erase facial parts to a natural blank face, "
                    "apply AR effects, and train the neural eraser.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for unexpected errors")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
    for mod in (erase_cmd, inpaint_cmd, faces_cmd, demo_cmd, eval_cmd, prepare_cmd, train_cmd, export_cmd, live_cmd, effect_cmd, gallery_cmd):
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
        sys.stderr = os.fdopen(keep, "w", buffering=1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # frames reuse freed buffers instead of faulting in fresh pages (allocator.py)
    if not args.debug:
        _quiet_native_logs()
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except FacecanvasError as e:
        print(f"facecanvas: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # e.g. `facecanvas faces x.jpg | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("facecanvas: interrupted; no partial output was left", file=sys.stderr)
        return 130
    except MemoryError:
        print("facecanvas: error: out of memory (try a smaller image)", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if args.debug:
            raise
        print(f"facecanvas: internal error: {type(e).__name__}: {e} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``facecanvas batch OP``: any registered operation over a dataset (a folder, recursive, or a list file),
resumable through a manifest, on a local process pool or a Ray cluster.

The operation's flags are generated from ``get_operation(OP).Options.schema()``, so a new operation in the
registry gets a batch command with no code here. Argparse needs the op before it can know its flags, so
parsing is two steps: ``facecanvas batch`` takes the op name, then a parser built for that op takes the rest.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "run any operation over a dataset: resumable (manifest), on all cores or a Ray cluster"


def _description() -> str:
    from ..ops import list_operations

    return f"""\
Run an operation over every photo and video of a folder (recursive) or a list file, mirroring the
folder layout under --output. A manifest (OUT/facecanvas-manifest.jsonl) records each item: input hash,
status (done / failed / skipped = no face), output, faces, timings, error, op spec and version. Running
the same command again skips what is done, redoes inputs whose bytes or options changed, and retries
failures only with --retry-failed. A bad file, or a worker that crashes, costs only its own item.

operations: {', '.join(list_operations())}
Run `facecanvas batch OP --help` for an operation's options.

engines:
  --engine local   a process pool on this machine, --workers N (default: every core); each worker
                   loads the operation's models once
  --engine ray     Ray actors: a local Ray instance, or a cluster with --address auto (this machine is
                   part of it: `ray start --head`, then `ray start --address=HEAD:6379` on the others)
                   or --address ray://HOST:10001; needs the batch extra (requirements-batch.lock)

outputs are written by the workers straight into --output (it must be visible to every worker: one
machine or a shared file system); --transfer driver sends inputs and outputs through the driver instead.

exit codes: 0 every item done or skipped (no face), 2 a bad input, 4 an output not written, 1 an internal
error or a crashed worker; 130 interrupted (what was done is in the manifest: run again to resume).

examples:
  facecanvas batch erase --input photos/ --output out/ --parts eyes,brows
  facecanvas batch effect --input list.txt --output out/ --effect comic --workers 2
  facecanvas batch erase --input photos/ --output out/ --dry-run
  facecanvas batch erase --input /nfs/photos --output /nfs/out --engine ray --address auto"""


def add_parser(sub) -> None:
    p = sub.add_parser("batch", help=HELP, description=_description(), add_help=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       usage="facecanvas batch OP --input DIR|LIST.txt --output DIR [options of OP]")
    p.add_argument("-h", "--help", action="store_true", help="show this help (and `batch OP --help` for OP's)")
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="OP ...", help="the operation, then its options")
    p.set_defaults(run=run, _batch_parser=p)


def op_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``facecanvas batch NAME``: the op's own options plus the batch's."""
    from ..ops import get_operation
    from ..pipeline import TrackingOptions
    from .options import add_options
    from .parser import Parser

    cls = get_operation(name)
    p = Parser(prog=f"facecanvas batch {name}", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description=f"{name}: {cls.summary}\n\n" if cls.summary else None)
    g = p.add_argument_group("batch")
    g.add_argument("--input", required=True, metavar="DIR|LIST.txt",
                   help="a folder (its photos and videos, recursively) or a text file naming one file a line")
    g.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (the layout is mirrored)")
    g.add_argument("--engine", default="local", choices=("local", "ray"), help="where to run (default local)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes / Ray actors (default: the core count / the cluster's CPUs)")
    g.add_argument("--address", default=None, metavar="ADDR",
                   help="ray: auto, HOST:6379 or ray://HOST:10001 (default: start a local Ray instance)")
    g.add_argument("--transfer", default="shared", choices=("shared", "driver"),
                   help="shared: workers read and write the folders themselves (default); driver: inputs and "
                        "outputs travel through the driver (no shared file system needed)")
    g.add_argument("--retry-failed", action="store_true", help="redo items that failed in an earlier run")
    g.add_argument("--dry-run", action="store_true", help="list what would be done (new/changed/done/failed); "
                   "write nothing")
    g.add_argument("--save-mask", action="store_true", help="photos: also write OUT_mask.png (white = replaced)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--test-crash-on", default=None, help=argparse.SUPPRESS)  # tests: a worker os._exit()s
    og = p.add_argument_group(f"{name} options")
    add_options(og, cls.Options)
    own = {i.name for i in cls.Options.schema()}
    for info in cls.Options.schema():  # options the op's own command takes another way (a positional)
        if not info.cli and info.type in (str, int, float, bool):
            kw = {"action": "store_true"} if info.type is bool else {"metavar": info.metavar or "VALUE"}
            og.add_argument(info.flag, dest=info.name, default=None, help=info.help.replace("%", "%%"), **kw)
    og.add_argument("--option", action="append", default=[], metavar="NAME=JSON",
                    help="set any option of the operation by name (a JSON value, or text)")
    add_options(p.add_argument_group("face analysis and tracking"), TrackingOptions, skip=own)
    v = p.add_argument_group("video output")
    v.add_argument("--codec", default=None, metavar="NAME", help="video codec (default libx264; .webm: libvpx-vp9)")
    v.add_argument("--crf", type=int, default=None, metavar="Q", help="quality, lower = better (default 20)")
    v.add_argument("--preset", default=None, help="x264/x265 speed/size trade-off (default veryfast)")
    v.add_argument("--no-audio", action="store_true", help="drop the audio instead of copying it")
    return p


def _given(cls, args, names) -> dict:
    return {i.name: getattr(args, i.name) for i in cls.schema()
            if i.name in names and getattr(args, i.name, None) not in (None, False)}


def settings_from(name: str, argv: list[str]):
    from ..batch.engines import BatchSettings
    from ..errors import InputError
    from ..ops import get_operation
    from ..ops.base import OpSpec
    from ..pipeline import TrackingOptions

    p = op_parser(name)
    args = p.parse_args(argv)
    cls = get_operation(name)
    own = {i.name for i in cls.Options.schema()}
    given = _given(cls.Options, args, own)
    for kv in args.option:
        key, sep, value = kv.partition("=")
        if not sep:
            raise InputError(f"--option {kv!r}: expected NAME=VALUE")
        try:
            given[key.strip().replace("-", "_")] = json.loads(value)
        except ValueError:
            given[key.strip().replace("-", "_")] = value
    options = cls.Options.from_dict(given)  # checked here, before anything is read or written
    tracking = TrackingOptions.from_dict(_given(TrackingOptions, args, {i.name for i in TrackingOptions.schema()} - own))
    encode = {"codec": args.codec, "audio": not args.no_audio}
    if args.crf is not None:
        encode["crf"] = args.crf
    if args.preset is not None:
        encode["preset"] = args.preset
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: must be at least 1")
    return BatchSettings(OpSpec(name, options.to_dict()), args.input, args.output, engine=args.engine,
                         workers=args.workers, address=args.address, transfer=args.transfer,
                         retry_failed=args.retry_failed, analysis=tracking.to_dict(), encode=encode,
                         save_mask=args.save_mask, progress=not args.no_progress and sys.stderr.isatty(),
                         crash_on=args.test_crash_on), args


def run(args: argparse.Namespace) -> int:
    from ..ops import list_operations

    rest = list(args.rest)
    if args.help or not rest or rest[0].startswith("-"):
        args._batch_parser.print_help()
        return 0 if args.help else 2
    name, argv = rest[0], rest[1:]
    if name not in list_operations():
        from ..errors import InputError

        raise InputError(f"unknown operation {name!r}; choose one of {', '.join(list_operations())}")
    settings, parsed = settings_from(name, argv)
    from ..batch.engines import dry_run, run_batch

    if parsed.dry_run:
        dry_run(settings)
        return 0
    try:
        summary = run_batch(settings)
    except KeyboardInterrupt:
        print(f"facecanvas: interrupted; finished items are in {settings.output}/facecanvas-manifest.jsonl "
              "(run the same command again to resume)", file=sys.stderr)
        return 130
    for line in summary.lines():
        print(line, file=sys.stderr)
    return summary.exit

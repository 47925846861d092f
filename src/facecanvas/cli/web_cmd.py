"""``facecanvas web``: the local web page (FastAPI + uvicorn; the optional ``web`` extra)."""

from __future__ import annotations

import argparse
import re
import sys

from ..errors import InputError

HELP = "open a local web page to edit photos, videos and the webcam with any operation"
DESCRIPTION = """\
Start a web page on this machine (http://127.0.0.1:7860/ by default) where a photo or a video can be
uploaded, or the webcam used, and any operation applied: erase, every effect, de-identify, swap, or
an effect file of your own. Each operation's options are shown as form fields, with their help texts.
The result is shown beside the original, with a download button. Nothing leaves this machine.

By default only this machine can open the page. --host 0.0.0.0 makes it reachable from the network:
then set --auth USER:PASS as well. Uploads and results live in a private temporary folder that is
removed when the server stops (and results older than an hour before that).

examples:
  facecanvas web                       # then open http://127.0.0.1:7860/
  facecanvas web --port 0              # any free port (printed)
  facecanvas web --host 0.0.0.0 --auth me:secret --concurrency 2
"""


def add_parser(sub) -> None:
    p = sub.add_parser("web", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0 exposes the page to the network)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free port)")
    p.add_argument("--auth", metavar="USER:PASS", help="require this user name and password (HTTP basic auth)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest upload (default 50)")
    p.add_argument("--concurrency", type=int, default=1, metavar="N", help="jobs run at the same time (default 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: must be between 0 and 65535")
    if args.auth is not None and not re.fullmatch(r"[^:]+:.+", args.auth):
        raise InputError("--auth: expected USER:PASS")
    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb {args.max_upload_mb:g}: must be above 0")
    if args.concurrency < 1:
        raise InputError(f"--concurrency {args.concurrency}: must be at least 1")
    try:
        from ..web import create_app
        from ..web.server import WebServer, exposed_warning
    except ImportError as e:
        raise InputError(f"facecanvas web needs the web extra ({e.name} is not installed): "
                         ".venv/bin/pip install -r requirements-web.lock") from None
    warning = exposed_warning(args.host)
    if warning:
        print(warning + ("" if args.auth else " (no --auth given: anyone can)"), file=sys.stderr)
    app = create_app(host=args.host, auth=args.auth, max_upload_mb=args.max_upload_mb,
                     concurrency=args.concurrency)
    server = WebServer(app, host=args.host, port=args.port, log_level="critical")  # our own one-line errors
    try:
        server.start()
    except RuntimeError as e:
        app.close()
        raise InputError(f"{e} (is the port in use? try --port 0)") from None
    try:  # the line is inside: a Ctrl-C or SIGTERM right after it is an ordinary stop (exit 0)
        print(f"facecanvas web: open {server.url} (Ctrl-C to stop)", flush=True)
        while server.thread.is_alive():
            server.thread.join(0.5)
    except KeyboardInterrupt:
        print("facecanvas web: stopping", file=sys.stderr)
    finally:
        server.stop()
        app.close()
    return 0

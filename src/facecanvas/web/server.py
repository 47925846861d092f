"""Run the web app with uvicorn on a host and port; a ``WebServer`` in a thread for tests and scripts."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

LOCAL = ("127.0.0.1", "localhost", "::1")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def exposed_warning(host: str) -> str | None:
    if host in LOCAL:
        return None
    return (f"facecanvas web: warning: listening on {host}: anyone who can reach this machine can use the page"
            " and upload files; use --auth USER:PASS, and only on a network you trust")


class WebServer:
    """``with WebServer(create_app(...), port=0) as s: s.url`` -- uvicorn in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        self.app = app
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level, access_log=False,
                                lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="facecanvas-web-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 20.0) -> "WebServer":
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if not self.thread.is_alive() or time.time() - t0 > timeout:
                raise RuntimeError(f"the web server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""A tiny local web page that shows the processed live stream (MJPEG over http.server, stdlib only).

Binds to 127.0.0.1 only: nothing leaves the machine. Any browser opens ``http://127.0.0.1:PORT/``;
``/stream.mjpg`` is the stream itself (also usable by VLC or ffplay), ``/frame.jpg`` the latest frame,
``/stats.json`` the live figures (fps, latency, dropped frames).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from ..errors import FacecanvasError

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>facecanvas live</title>
<style>body{margin:0;background:#111;color:#ddd;font:14px system-ui,sans-serif;text-align:center}
img{max-width:100vw;max-height:92vh;display:block;margin:0 auto}#s{padding:6px}</style></head>
<body><img src="/stream.mjpg" alt="live stream"><div id="s">connecting...</div>
<script>
async function tick(){try{const r=await fetch('/stats.json');const s=await r.json();
document.getElementById('s').textContent=`${s.operation} | ${s.fps.toFixed(1)} fps`+
` | added latency ${s.latency_ms.toFixed(0)} ms`+
` (median ${s.latency_median_ms.toFixed(0)}) | dropped ${s.dropped} | faces ${s.faces}`;}catch(e){}
setTimeout(tick,500)}tick();
</script></body></html>
"""


def _host_name(header: str) -> str:
    """``Host:`` header -> the host alone, lower case: ``[::1]:8765`` -> ``::1``, ``a.b:80`` -> ``a.b``."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def host_allowed(header: str | None, bound_host: str) -> bool:
    """Only requests addressed to this machine by IP or as ``localhost`` (or the bound name itself).

    A DNS-rebinding page reaches 127.0.0.1 under its own domain name; its requests carry that name in
    ``Host:``, so they are refused and the page cannot read the camera. Clients without a Host header
    (HTTP/1.0 tools) cannot be a browser page and are let through.
    """
    if header is None:
        return True
    name = _host_name(header).rstrip(".")
    if not name:
        return False
    if name in ("localhost", bound_host.lower()) or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class LiveServer:
    """``publish(bgr, stats)`` makes a frame the newest one every connected browser gets."""

    def __init__(self, port: int = 8765, quality: int = 80, host: str = "127.0.0.1"):
        self.quality = quality
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._stats: dict = {}
        self._closed = False
        self.clients = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # no access log on the terminal
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if not host_allowed(self.headers.get("Host"), server.host):
                    self._send(403, "text/plain", b"forbidden: open the page as http://127.0.0.1:PORT/")
                    return
                path = self.path.split("?")[0]
                if path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", _PAGE.encode())
                elif path == "/stats.json":
                    with server._cond:
                        body = json.dumps(server._stats).encode()
                    self._send(200, "application/json", body)
                elif path == "/frame.jpg":
                    jpeg = server.wait_frame(-1, timeout=5.0)[1]
                    if jpeg is None:
                        self._send(503, "text/plain", b"no frame yet")
                    else:
                        self._send(200, "image/jpeg", jpeg)
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                seq = -1
                with server._cond:
                    server.clients += 1
                try:
                    while True:
                        seq, jpeg = server.wait_frame(seq, timeout=1.0)
                        if server._closed:
                            return
                        if jpeg is None:
                            continue
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    return  # the browser went away
                finally:
                    with server._cond:
                        server.clients -= 1

        try:
            self._httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise FacecanvasError(f"cannot serve the live page on {host}:{port}: {e.strerror or e} "
                                  "(use --port to pick another port, or --port 0 for any free one)") from e
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                         name="facecanvas-live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> "LiveServer":
        self._thread.start()
        return self

    def wait_frame(self, after_seq: int, timeout: float) -> tuple[int, bytes | None]:
        """The newest JPEG once its sequence number is past ``after_seq`` (or the current one on timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after_seq and self._jpeg is not None or self._closed,
                                timeout=timeout)
            return self._seq, self._jpeg if self._seq > after_seq else None

    def publish(self, bgr: np.ndarray, stats: dict | None = None) -> None:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        with self._cond:
            self._jpeg = buf.tobytes()
            self._seq += 1
            if stats is not None:
                self._stats = stats
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

"""The ``facecanvas web`` application: a FastAPI app that maps form input onto the library.

Routes (all behind the Host-header check, and behind HTTP basic auth when ``auth`` is set):

* ``GET /`` the page (static/index.html, app.js, style.css: everything served from here, nothing from
  the network);
* ``GET /api/ops`` every operation of the registry with its form (``forms.op_form``) and the face
  selection form (``TrackingOptions``);
* ``POST /api/upload`` a photo or video: stored under a generated id, checked by the library's loaders
  (the CLI's one-line errors), faces found for the overlay;
* ``POST /api/asset`` a file for an option (source/donor/match photo, effect file, ONNX weights);
* ``POST /api/process`` an operation on an upload -> a job; ``GET /api/jobs/ID`` its state and progress;
* ``GET /files/ID/NAME`` previews and results (the download);
* ``POST /api/live/start`` and ``POST /api/live/ID`` the webcam: JPEG frames in, processed frames out.
"""


import base64
import json
import re
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FacecanvasError, InputError, NoFaceError, OutputError
from ..media.live_server import host_allowed
from ..media.names import one_line
from ..ops.base import OpSpec
from ..ops.registry import DEFAULT, Registry
from ..pipeline import AnalysisOptions, TrackingOptions
from .forms import op_form, parse_fields, widget
from .jobs import LRU, JobQueue, Workspace, new_id, valid_id

STATIC = Path(__file__).with_name("static")
PHOTO_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_NAME = re.compile(r"^[a-z_]+\.[a-z0-9]{1,5}$")
_ASSET = "@asset:"
MAX_LIVE_FRAME = 8 << 20
MAX_LIVE_SESSIONS = 4  # each holds its own operation and tracker


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0")


def _suffix(filename: str | None, allowed: tuple[str, ...] | None = None) -> str:
    """A safe extension from the user's file name (the name itself is never used)."""
    s = Path(filename or "").suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", s) or (allowed is not None and s not in allowed):
        return ".bin"
    return s


class UploadTooLarge(InputError):
    """An upload over the size limit (HTTP 413)."""


def _status(e: Exception) -> int:
    if isinstance(e, UploadTooLarge):
        return 413
    if isinstance(e, InputError):
        return 400
    if isinstance(e, NoFaceError):
        return 422
    if isinstance(e, OutputError):
        return 500
    if isinstance(e, FacecanvasError):
        return 400
    return 500


class WebApp:
    """State of one running app: the workspace, the queue, the caches and the live sessions."""

    def __init__(self, registry: Registry | None = None, *, host: str = "127.0.0.1", auth: str | None = None,
                 max_upload_mb: float = 50, concurrency: int = 1, max_pixels: int = 80_000_000,
                 workdir: str | Path | None = None, max_age: float = 3600.0, cache_size: int = 4):
        self.registry = registry or DEFAULT
        self.host = host
        self.auth = auth
        self.max_upload = int(max_upload_mb * 1e6)
        self.max_pixels = max_pixels
        self.workspace = Workspace(workdir, max_age=max_age)
        self.queue = JobQueue(concurrency, keep=max_age)
        self.ops = LRU(cache_size)
        self.analyzers = LRU(2)
        self.uploads: dict[str, dict[str, Any]] = {}
        self.live: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="facecanvas-web-sweep", daemon=True)
        self._sweeper.start()

    # --- housekeeping -------------------------------------------------------------------------------
    def _sweep_loop(self) -> None:
        while not self._closed.wait(min(60.0, max(1.0, self.workspace.max_age / 4))):
            self.sweep()

    def sweep(self) -> None:
        self.workspace.sweep()
        now = time.time()
        with self._lock:
            for key in [k for k, u in self.uploads.items() if self.workspace.get(k) is None]:
                del self.uploads[key]
            for key in [k for k, s in self.live.items() if now - s["used"] > 120]:
                s = self.live.pop(key)
                s["processor"].tracker.close()

    def close(self) -> None:
        self._closed.set()
        self.queue.close()
        with self._lock:
            for s in self.live.values():
                s["processor"].tracker.close()
            self.live.clear()
        self.ops.clear()
        self.analyzers.clear()
        self.workspace.close()

    # --- messages ------------------------------------------------------------------------------------
    def message(self, e: BaseException, names: dict[str, str] | None = None) -> str:
        """The one-line message of a library error with stored paths replaced by the user's names;
        anything unexpected is an 'internal error' line (logged), never a traceback."""
        if isinstance(e, FacecanvasError):
            text = str(e)
        else:
            text = f"internal error: {type(e).__name__}: {e}"
            print(f"facecanvas web: {one_line(text)}", file=sys.stderr)
        for path, name in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
            text = text.replace(path, name)
        text = text.replace(str(self.workspace.root) + "/", "")
        return one_line(text)

    # --- operations ----------------------------------------------------------------------------------
    def catalog(self) -> dict[str, Any]:
        ops, unavailable = [], []
        for name in self.registry.names():
            try:
                ops.append(op_form(self.registry.get(name)))
            except Exception as e:  # noqa: BLE001 - one broken operation must not hide the others
                unavailable.append({"name": name, "error": one_line(f"{type(e).__name__}: {e}")})
        faces = [widget(i) for i in TrackingOptions.schema()]
        return {"ops": ops, "unavailable": unavailable, "faces": faces,
                "limits": {"max_upload_mb": self.max_upload / 1e6, "max_pixels": self.max_pixels}}

    def operation(self, spec: OpSpec, video: bool):
        """The built operation of ``spec``, from the cache (built once per distinct spec)."""
        return self.ops.get((spec.to_json(), video), lambda: self.registry.build(spec, video=video))

    def analyzer(self, options: AnalysisOptions, video: bool = False):
        from ..pipeline import make_analyzer

        key = (json.dumps(options.to_dict(), sort_keys=True), video)
        return self.analyzers.get(key, lambda: make_analyzer(options, video=video))

    # --- uploads -------------------------------------------------------------------------------------
    def store(self, data: bytes, filename: str | None, kind: str) -> tuple[str, Path]:
        key, folder = self.workspace.new()
        if kind == "asset":
            path = folder / ("asset" + _suffix(filename))
        else:
            path = folder / ("upload" + _suffix(filename))
        path.write_bytes(data)
        info = {"name": one_line(Path(filename or "upload").name) or "upload", "path": path, "kind": kind}
        with self._lock:
            self.uploads[key] = info
        return key, path

    def names(self) -> dict[str, str]:
        with self._lock:
            return {str(u["path"]): u["name"] for u in self.uploads.values()}

    def upload(self, data: bytes, filename: str | None, content_type: str | None) -> dict[str, Any]:
        from ..media.names import INPUT_VIDEO_EXTS

        if not data:
            raise InputError(f"cannot read {one_line(filename or 'upload')}: file is empty (0 bytes)")
        suffix = Path(filename or "").suffix.lower()
        video = suffix in INPUT_VIDEO_EXTS or (content_type or "").startswith("video/")
        key, path = self.store(data, filename, "video" if video else "photo")
        if video and path.suffix == ".bin":
            path = path.rename(path.with_suffix(".mp4"))
            with self._lock:
                self.uploads[key]["path"] = path
        try:
            info = self._video_info(key, path) if video else self._photo_info(key, path)
        except FacecanvasError as e:  # the loaders' one line, naming the user's file instead of ours
            text = self.message(e, {str(path): self.uploads[key]["name"]})
            self.discard(key)
            raise type(e)(text) from None
        except BaseException:
            self.discard(key)
            raise
        with self._lock:
            self.uploads[key].update(info)
        return {"upload": key, **{k: v for k, v in info.items() if k != "boxes"}}

    def discard(self, key: str) -> None:
        import shutil

        with self._lock:
            self.uploads.pop(key, None)
        folder = self.workspace.get(key)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _faces(self, bgr: np.ndarray, video: bool) -> list[dict[str, Any]]:
        analyzer, lock = self.analyzer(AnalysisOptions(), video=video)
        with lock:
            faces = analyzer.detect(bgr)
        return [{"box": [round(float(v), 1) for v in f.box], "score": round(float(f.score), 3)} for f in faces]

    def _preview(self, folder: Path, name: str, bgr: np.ndarray) -> str:
        import cv2

        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise OutputError("cannot encode the preview image")
        (folder / name).write_bytes(buf.tobytes())
        return f"/files/{folder.name}/{name}"

    def _photo_info(self, key: str, path: Path) -> dict[str, Any]:
        from ..media.image_io import load_image

        img = load_image(path, max_pixels=self.max_pixels)
        faces = self._faces(img.bgr, video=False)
        h, w = img.bgr.shape[:2]
        return {"kind": "photo", "width": w, "height": h, "faces": faces,
                "boxes": [f["box"] for f in faces], "before": self._preview(path.parent, "before.jpg", img.bgr)}

    def _video_info(self, key: str, path: Path) -> dict[str, Any]:
        from ..media.video_io import VideoReader, probe

        info = probe(path)
        reader = VideoReader(path, info=info)
        try:
            first = next(iter(reader), None)
        finally:
            reader.close()
        if first is None:
            raise InputError(f"cannot read {path}: no video frame could be decoded")
        faces = self._faces(first.bgr, video=True)
        h, w = first.bgr.shape[:2]
        np.save(path.parent / "first.npy", first.bgr)
        return {"kind": "video", "width": w, "height": h, "faces": faces, "boxes": [f["box"] for f in faces],
                # the container's count, else an estimate from the duration (for the progress bar)
                "frames": info.frames or int(round(info.duration * float(info.fps))),
                "fps": float(info.fps), "audio": info.audio_streams > 0,
                "before": self._preview(path.parent, "before.jpg", first.bgr),
                "video": f"/files/{key}/{path.name}"}

    def asset(self, data: bytes, filename: str | None) -> dict[str, Any]:
        if not data:
            raise InputError(f"cannot read {one_line(filename or 'upload')}: file is empty (0 bytes)")
        key, _ = self.store(data, filename, "asset")
        return {"asset": key}

    def _resolve(self, value: str) -> str:
        key = value[len(_ASSET):]
        with self._lock:
            info = self.uploads.get(key)
        if info is None or info["kind"] != "asset":
            raise InputError("an uploaded option file has expired; choose it again")
        return str(info["path"])

    # --- processing ----------------------------------------------------------------------------------
    def parse(self, fields: dict[str, str]) -> tuple[OpSpec, TrackingOptions, list[int]]:
        name = fields.get("op", "")
        cls = self.registry.get(name)
        files = {k: self._resolve(v) for k, v in fields.items() if v.startswith(_ASSET)}
        opts = parse_fields(cls.Options, fields, files, prefix="opt.")
        options = cls.Options.from_dict(opts)  # checked here: a bad value is one line before any work
        spec = OpSpec(name, options.to_dict())
        tracking = TrackingOptions.from_dict(parse_fields(TrackingOptions, fields, files, prefix="face."))
        pick = [int(p) for p in re.findall(r"\d+", fields.get("pick", ""))]
        return spec, tracking, pick

    def process(self, fields: dict[str, str]) -> dict[str, Any]:
        key = fields.get("upload", "")
        with self._lock:
            up = dict(self.uploads.get(key) or {}) if valid_id(key) else {}
        if not up or up.get("kind") not in ("photo", "video"):
            raise InputError("no photo or video uploaded (or it has expired): choose a file first")
        spec, tracking, pick = self.parse(fields)
        names = self.names()
        work = self._photo_job if up["kind"] == "photo" else self._video_job
        job = self.queue.submit(up["kind"], lambda j: work(j, key, up, spec, tracking, pick),
                                lambda e: self.message(e, names))
        return {"job": job.id}

    def _select(self, bgr: np.ndarray, faces: list, up: dict, tracking: TrackingOptions, pick: list[int]):
        from ..analysis.identity import FaceMatcher
        from ..media.image_io import load_image

        if pick:
            wanted = [up["boxes"][i] for i in pick if 0 <= i < len(up["boxes"])]
            faces = [f for f in faces if any(_iou(f.box, b) > 0.3 for b in wanted)]
        if tracking.match:
            ref = load_image(tracking.match, max_pixels=self.max_pixels)
            analyzer, lock = self.analyzer(AnalysisOptions())
            with lock:
                ref_faces = analyzer.detect(ref.bgr)
                matcher = FaceMatcher(ref.bgr, ref_faces, tracking.match_threshold, name=tracking.match)
                faces = [f for f in faces if matcher.similarity(bgr, f) >= matcher.threshold]
        if tracking.largest and faces:
            faces = [max(faces, key=lambda f: f.detection.size)]
        return faces

    def _photo_job(self, job, key: str, up: dict, spec: OpSpec, tracking: TrackingOptions, pick: list[int]):
        from ..media.image_io import load_image, save_result

        path: Path = up["path"]
        img = load_image(path, max_pixels=self.max_pixels)
        analysis = AnalysisOptions(**{i.name: getattr(tracking, i.name) for i in AnalysisOptions.schema()})
        analyzer, lock = self.analyzer(analysis)
        with lock:
            faces = analyzer.detect(img.bgr)
        if not faces:
            raise NoFaceError(f"{path}: no face found")
        faces = self._select(img.bgr, faces, up, tracking, pick)
        if not faces:
            raise NoFaceError(f"{path}: none of the faces found is the one chosen")
        op, op_lock = self.operation(spec, video=False)
        with op_lock:
            op.reset()
            r = op.apply(img.bgr, faces)
            note = op.describe(r)
        _, out = self.workspace.new()
        ext = path.suffix if path.suffix in PHOTO_EXTS and path.suffix != ".gif" else ".png"
        dst = save_result(out / ("result" + ext), r.image, img, operation=op.name)
        download = Path(up["name"]).stem + f"_{spec.name}" + ext
        return {"result": f"/files/{out.name}/{dst.name}", "after": self._preview(out, "after.jpg", r.image),
                "before": f"/files/{key}/before.jpg", "download": download, "faces": r.faces, "note": note,
                "warnings": r.warnings}

    def _video_job(self, job, key: str, up: dict, spec: OpSpec, tracking: TrackingOptions, pick: list[int]):
        from ..media.video_io import EncodeOptions
        from ..pipeline import make_processor
        from ..video import process_video

        path: Path = up["path"]
        _, out = self.workspace.new()
        if pick and not tracking.match and up["boxes"]:
            tracking = tracking.replace(match=str(self._pick_reference(path.parent, up["boxes"], pick, out)))
        job.total = int(up.get("frames") or 0)

        def on_frame(frame, bgr, faces) -> None:
            job.frames += 1
            if job.total:
                job.progress = min(0.99, job.frames / job.total)

        # H.264 in mp4 plays in every browser; audio that mp4 cannot carry (PCM, Vorbis, ...) goes into
        # mkv instead, so it is kept all the same (the audio packets are copied, never re-encoded).
        ext = ".mp4" if _audio_codecs(path) <= MP4_AUDIO else ".mkv"
        op, op_lock = self.operation(spec, video=True)
        with op_lock:
            op.reset()
            processor = make_processor(op, tracking)
            try:
                report = process_video(path, out / ("result" + ext), processor, progress=False, on_frame=on_frame,
                                       encode=EncodeOptions(operation=op.name))
            finally:
                processor.tracker.close()
        t = report.timings
        note = (f"{report.frames} frames, faces edited in {t.frames_with_faces}"
                + ("; no face found in any frame: the video was copied unchanged" if not t.frames_with_faces else ""))
        return {"result": f"/files/{out.name}/result{ext}", "before_video": up.get("video"),
                "before": f"/files/{key}/before.jpg", "download": Path(up["name"]).stem + f"_{spec.name}{ext}",
                "faces": t.frames_with_faces, "frames_out": report.frames, "note": note, "warnings": []}

    def _pick_reference(self, folder: Path, boxes: list, pick: list[int], out: Path) -> Path:
        """A face clicked on a video's first frame becomes the match reference: its crop, with context."""
        import cv2

        first = np.load(folder / "first.npy")
        x0, y0, x1, y1 = boxes[[i for i in pick if 0 <= i < len(boxes)][0]]
        cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.5
        h, w = first.shape[:2]
        crop = first[max(0, int(cy - s)):min(h, int(cy + s)), max(0, int(cx - s)):min(w, int(cx + s))]
        ref = out / "pick.png"
        cv2.imwrite(str(ref), crop)
        return ref

    # --- live ----------------------------------------------------------------------------------------
    def live_start(self, fields: dict[str, str]) -> dict[str, Any]:
        from ..pipeline import make_processor

        spec, tracking, _ = self.parse(fields)
        with self._lock:
            if len(self.live) >= MAX_LIVE_SESSIONS:
                raise FacecanvasError(f"{len(self.live)} webcams are already live on this server; stop one first")
        op = self.registry.build(spec, video=True)  # a live session keeps its own tracks
        sid = new_id()
        with self._lock:
            self.live[sid] = {"processor": make_processor(op, tracking), "lock": threading.Lock(),
                              "used": time.time(), "t0": time.time(), "op": op.name}
        return {"session": sid}

    def live_frame(self, sid: str, data: bytes) -> bytes:
        import cv2

        with self._lock:
            s = self.live.get(sid)
        if s is None:
            raise InputError("the live session has ended; press Start again")
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if bgr is None:
            raise InputError("cannot read the camera frame: not a JPEG or PNG image")
        if bgr.shape[0] * bgr.shape[1] > self.max_pixels:
            raise InputError("cannot read the camera frame: image is too large")
        with s["lock"]:
            s["used"] = time.time()
            out, _faces = s["processor"](bgr, time.time() - s["t0"])
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return buf.tobytes()

    def live_stop(self, sid: str) -> None:
        with self._lock:
            s = self.live.pop(sid, None)
        if s is not None:
            s["processor"].tracker.close()


MP4_AUDIO = frozenset({"aac", "mp3", "mp2", "opus", "alac", "ac3", "eac3", "flac"})


def _audio_codecs(path: Path) -> set[str]:
    import av

    try:
        with av.open(str(path)) as c:
            return {s.codec_context.name for s in c.streams.audio}
    except Exception:  # noqa: BLE001 - process_video reports a bad file with its own line
        return set()


def _iou(a, b) -> float:
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware in front of everything: the Host-header check (DNS rebinding), HTTP basic auth
    when set, and the upload size bound (Content-Length, and the bytes actually received)."""

    def __init__(self, app, web: WebApp):
        self.app, self.web = app, web
        self._auth = None
        if web.auth:
            self._auth = "Basic " + base64.b64encode(web.auth.encode()).decode()

    async def _reply(self, send, code: int, text: str, headers: list | None = None) -> None:
        body = json.dumps({"error": text}).encode()
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store"), *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not host_allowed(headers.get("host"), self.web.host):
            return await self._reply(send, 403, "forbidden: open the page as http://127.0.0.1:PORT/")
        if self._auth is not None:
            given = headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), self._auth.encode()):
                return await self._reply(send, 401, "login required",
                                         [(b"www-authenticate", b'Basic realm="facecanvas", charset="UTF-8"')])
        limit = self.web.max_upload + (64 << 10)  # the file plus the form around it
        if scope["path"].startswith("/api/live/"):
            limit = MAX_LIVE_FRAME
        length = headers.get("content-length")
        too_large = (f"cannot read the upload: file is too large (over the {_mb(self.web.max_upload)} MB "
                     "upload limit)")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._reply(send, 413, f"cannot read the upload: file is too large ({_mb(int(length))} MB "
                                                f"> {_mb(self.web.max_upload)} MB upload limit)")
        received = 0
        started = False

        async def counted():
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return msg

        async def tracked(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._reply(send, 413, too_large)


def create_app(registry: Registry | None = None, **kwargs: Any):
    """The FastAPI app (``app.state.web`` is its ``WebApp``). ``registry``: operations to offer (default:
    every registered one); the rest as ``WebApp``."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    from contextlib import asynccontextmanager

    web = WebApp(registry, **kwargs)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        web.close()  # the private folder goes with the server

    app = FastAPI(title="facecanvas", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.web = web

    def fail(e: BaseException) -> JSONResponse:
        return JSONResponse({"error": web.message(e, web.names())}, status_code=_status(e))

    @app.exception_handler(Exception)
    async def _any(request, e):  # noqa: ARG001 - the server never shows a traceback
        return fail(e)

    async def form(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
        from starlette.datastructures import UploadFile

        fields: dict[str, str] = {}
        files: dict[str, Any] = {}
        from starlette.exceptions import HTTPException

        try:
            data = await request.form(max_files=8, max_fields=200)
        except HTTPException as e:  # a malformed body (a raw newline in a file name...): the client's fault
            raise InputError(f"the request is not valid form data ({one_line(str(e.detail))})") from None
        for k, v in data.multi_items():
            if isinstance(v, UploadFile):
                files[k] = v
            else:
                fields[k] = str(v)
        return fields, files

    async def read(upload) -> bytes:
        data = await upload.read(web.max_upload + 1)
        if len(data) > web.max_upload:
            raise UploadTooLarge(f"cannot read {one_line(upload.filename or 'upload')}: file is too large "
                             f"(over the {_mb(web.max_upload)} MB upload limit)")
        return data

    async def call(fn, *args):
        from starlette.concurrency import run_in_threadpool

        try:
            return JSONResponse(await run_in_threadpool(fn, *args))
        except Exception as e:  # noqa: BLE001 - one line on the page, never a traceback
            return fail(e)

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/ops")
    def ops():
        return web.catalog()

    @app.post("/api/upload")
    async def upload(request: Request):
        try:
            _, files = await form(request)
            f = files.get("file")
            if f is None:
                raise InputError("no file was sent")
            data = await read(f)
        except Exception as e:  # noqa: BLE001
            return fail(e)
        return await call(web.upload, data, f.filename, f.content_type)

    @app.post("/api/asset")
    async def asset(request: Request):
        try:
            _, files = await form(request)
            f = files.get("file")
            if f is None:
                raise InputError("no file was sent")
            data = await read(f)
        except Exception as e:  # noqa: BLE001
            return fail(e)
        return await call(web.asset, data, f.filename)

    @app.post("/api/process")
    async def process(request: Request):
        try:
            fields, _ = await form(request)
        except Exception as e:  # noqa: BLE001
            return fail(e)
        return await call(web.process, fields)

    @app.get("/api/jobs/{key}")
    def job(key: str):
        j = web.queue.get(key)
        if j is None:
            return JSONResponse({"error": "no such job (it may have expired)"}, status_code=404)
        return j.public()

    @app.get("/files/{key}/{name}")
    def files(key: str, name: str):
        folder = web.workspace.get(key)
        path = folder / name if folder is not None and _NAME.match(name) else None
        if path is None or not path.is_file() or name == "first.npy":
            return JSONResponse({"error": "not found (results are kept for a while, then removed)"},
                                status_code=404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.post("/api/live/start")
    async def live_start(request: Request):
        try:
            fields, _ = await form(request)
        except Exception as e:  # noqa: BLE001
            return fail(e)
        return await call(web.live_start, fields)

    @app.post("/api/live/{sid}")
    async def live_frame(sid: str, request: Request):
        from starlette.concurrency import run_in_threadpool

        try:
            data = await request.body()
            jpeg = await run_in_threadpool(web.live_frame, sid, data)
        except Exception as e:  # noqa: BLE001
            return fail(e)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.delete("/api/live/{sid}")
    def live_stop(sid: str):
        web.live_stop(sid)
        return {"ok": True}

    return _Wrapped(app, web)


class _Wrapped:
    """The FastAPI app behind the Guard; ``.app`` (FastAPI) and ``.web`` (WebApp) for callers and tests."""

    def __init__(self, app, web: WebApp):
        self.app, self.web = app, web
        self._guard = Guard(app, web)

    async def __call__(self, scope, receive, send):
        await self._guard(scope, receive, send)

    def close(self) -> None:
        self.web.close()

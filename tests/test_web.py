"""`facecanvas web` without a browser: a real uvicorn server on a free port at 127.0.0.1, driven over HTTP.

Covers the promises of the README's web page section: bound to 127.0.0.1 by default (a warning when exposed), uploads
bounded in bytes and pixels with the CLI's one-line messages, no traceback ever, two parallel jobs,
video keeps its frames and audio, forms generated from every operation's schema (an extra operation
shows up by itself and runs), basic auth, the Host-header check and the private, cleaned folder.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install -r requirements-web.lock)")
pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install -r requirements-web.lock)")

from facecanvas.ops import Operation, OpResult, Options, Registry, option  # noqa: E402
from facecanvas.ops.registry import DEFAULT  # noqa: E402
from facecanvas.pipeline import TrackingOptions  # noqa: E402
from facecanvas.web import create_app  # noqa: E402
from facecanvas.web.server import WebServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BoxOptions(Options):
    thickness: int = option(3, "line width in px", min=1, max=20)
    label: str = option("hi", "text over the box")


class BoxOperation(Operation):
    """An operation the web app has never heard of: it must get a form and run with no web code."""

    name, summary, Options = "box", "draw a box around every face", BoxOptions

    def __init__(self, options=None, *, video=False):
        super().__init__(options)

    def apply(self, frame, faces):
        out = frame.copy()
        for f in faces:
            x0, y0, x1, y1 = (int(v) for v in f.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), self.options.thickness)
        return OpResult(out, len(faces))


# --- a tiny HTTP client --------------------------------------------------------------------------------
class Reply:
    def __init__(self, status: int, body: bytes, headers):
        self.status, self.body, self.headers = status, body, headers

    def json(self):
        return json.loads(self.body)


def request(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None) -> Reply:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return Reply(r.status, r.read(), r.headers)
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read(), e.headers)


def multipart(fields: dict | None = None, files: dict | None = None) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in (fields or {}).items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, data, ctype) in (files or {}).items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                  f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def post(base: str, path: str, fields=None, files=None, headers=None) -> Reply:
    body, h = multipart(fields, files)
    return request(base + path, body, {**h, **(headers or {})})


def upload(base: str, name: str, data: bytes, ctype: str = "image/png", headers=None) -> Reply:
    return post(base, "api/upload", files={"file": (name, data, ctype)}, headers=headers)


def run_job(base: str, fields: dict, headers=None, timeout: float = 300) -> dict:
    r = post(base, "api/process", fields, headers=headers)
    assert r.status == 200, r.body
    job = r.json()["job"]
    t0 = time.time()
    while time.time() - t0 < timeout:
        s = request(base + f"api/jobs/{job}", headers=headers).json()
        if s["state"] in ("done", "error"):
            return s
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def png(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".png", bgr)[1].tobytes()


def decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def server():
    app = create_app(Registry(extra=[BoxOperation]), concurrency=1)
    with WebServer(app) as s:
        yield s
    app.close()


@pytest.fixture(scope="module")
def astronaut_png(astronaut_bgr) -> bytes:
    return png(astronaut_bgr)


# --- tests -------------------------------------------------------------------------------------------
def test_binds_to_localhost_by_default_and_warns_when_exposed():
    app = create_app()
    try:
        with WebServer(app) as s:
            assert s.url.startswith("http://127.0.0.1:")
            bound = {sock.getsockname()[0] for srv in s.server.servers for sock in srv.sockets}
            assert bound == {"127.0.0.1"}
    finally:
        app.close()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for args, want_warning in ((["--port", "0"], False), (["--host", "0.0.0.0", "--port", "0"], True)):
        p = subprocess.Popen([sys.executable, "-m", "facecanvas.cli.main", "web", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = p.stdout.readline()
            assert ("open http://127.0.0.1:" if not want_warning else "open http://0.0.0.0:") in line, line
        finally:
            p.terminate()
            _, err = p.communicate(timeout=30)
        assert ("warning: listening on 0.0.0.0" in err) == want_warning, err
        assert "Traceback" not in err
        assert p.returncode == 0, err


def test_page_and_schema_driven_forms_cover_every_operation(server):
    page = request(server.url)
    assert page.status == 200 and b"/static/app.js" in page.body
    assert request(server.url + "static/app.js").status == 200
    cat = request(server.url + "api/ops").json()
    names = [o["name"] for o in cat["ops"]] + [u["name"] for u in cat["unavailable"]]
    registry = Registry(extra=[BoxOperation])
    assert names == registry.names() and "box" in names  # the extra op is there with no web code
    for op in cat["ops"]:
        want = [i.name for i in registry.get(op["name"]).Options.schema()]
        assert [f["name"] for f in op["fields"]] == want, op["name"]
        assert all(f["help"] for f in op["fields"])
    widgets = {o["name"]: {f["name"]: f["widget"] for f in o["fields"]} for o in cat["ops"]}
    assert widgets["box"] == {"thickness": "range", "label": "text"}
    assert widgets["erase"]["parts"] == "multi" and widgets["erase"]["method"] == "select"
    assert widgets["erase"]["model"] == "file" and widgets["effect"]["donor"] == "file"
    assert widgets["effect"]["effect"] == "suggest"
    if "swap" in widgets:
        assert widgets["swap"]["source"] == "file"
    assert [f["name"] for f in cat["faces"]] == [i.name for i in TrackingOptions.schema()]
    assert {f["name"]: f["widget"] for f in cat["faces"]}["match"] == "file"


def test_photo_erase_and_extra_op_run_and_cache_the_built_operation(server, astronaut_png, astronaut_bgr):
    up = upload(server.url, "../../etc/astro naut.png", astronaut_png)
    assert up.status == 200, up.body
    info = up.json()
    assert info["kind"] == "photo" and len(info["faces"]) == 1 and (info["width"], info["height"]) == (512, 512)
    web = server.app.web
    stored = web.uploads[info["upload"]]["path"]
    assert stored.parent.parent == web.workspace.root and stored.name == "upload.png"  # never the user's name
    assert stat.S_IMODE(os.stat(web.workspace.root).st_mode) == 0o700

    s = run_job(server.url, {"upload": info["upload"], "op": "box", "opt.thickness": "5", "opt.label": "x"})
    assert s["state"] == "done", s
    out = decode(request(server.url + s["result"][1:]).body)
    x0, y0, x1, y1 = (int(v) for v in info["faces"][0]["box"])
    assert tuple(out[y0 + 2, (x0 + x1) // 2]) == (0, 255, 0)
    assert s["download"] == "astro naut_box.png"

    s = run_job(server.url, {"upload": info["upload"], "op": "box", "pick": "0"})  # the face clicked
    assert s["state"] == "done" and s["faces"] == 1, s
    s = run_job(server.url, {"upload": info["upload"], "op": "box", "pick": "5"})  # no such face
    assert s["state"] == "error" and s["error"] == "astro naut.png: none of the faces found is the one chosen"

    made = web.ops.made
    for _ in range(2):
        s = run_job(server.url, {"upload": info["upload"], "op": "erase", "opt.parts": "all", "opt.method": "clone"})
        assert s["state"] == "done", s
    assert web.ops.made == made + 1  # built once for the two requests of the same spec
    res = request(server.url + s["result"][1:])
    assert res.status == 200
    out = decode(res.body)
    face = (slice(y0, y1), slice(x0, x1))
    assert np.abs(out[face].astype(int) - astronaut_bgr[face]).mean() > 2
    assert np.array_equal(out[:60, :60], astronaut_bgr[:60, :60])  # the background is untouched


def test_corrupt_and_empty_uploads_get_the_cli_one_line_message(server, astronaut_png, tmp_path):
    from facecanvas.errors import InputError
    from facecanvas.media.image_io import load_image

    broken = astronaut_png[: len(astronaut_png) // 3]
    r = upload(server.url, "broken.png", broken)
    assert r.status == 400
    msg = r.json()["error"]
    (tmp_path / "broken.png").write_bytes(broken)
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "broken.png")
    assert msg == str(e.value).replace(str(tmp_path / "broken.png"), "broken.png")
    assert "\n" not in msg and "Traceback" not in r.body.decode()
    assert upload(server.url, "junk.jpg", b"not an image at all").json()["error"].startswith("cannot read junk.jpg: ")
    assert "empty" in upload(server.url, "e.png", b"").json()["error"]
    # a job with bad options: one line, nothing run
    r = post(server.url, "api/process", {"upload": "0" * 24, "op": "erase"})
    assert r.status == 400 and "upload" in r.json()["error"]
    assert request(server.url + "files/../../etc/passwd").status == 404


def test_no_face_is_reported_as_the_cli_does(server):
    blank = np.full((200, 300, 3), 127, np.uint8)
    info = upload(server.url, "wall.png", png(blank)).json()
    assert info["faces"] == []
    s = run_job(server.url, {"upload": info["upload"], "op": "erase"})
    assert s["state"] == "error" and s["error"] == "wall.png: no face found"
    bad = post(server.url, "api/process", {"upload": info["upload"], "op": "effect", "opt.strength": "7"})
    assert bad.status == 400 and bad.json()["error"] == "--strength 7: must be between 0 and 2"


def test_oversize_upload_is_refused_with_the_message(astronaut_png):
    app = create_app(max_upload_mb=0.1, max_pixels=100_000)
    try:
        with WebServer(app) as s:
            r = upload(s.url, "big.png", os.urandom(300_000))
            assert r.status == 413
            assert r.json()["error"] == "cannot read the upload: file is too large (0.3 MB > 0.1 MB upload limit)"
            r = upload(s.url, "astronaut.png", astronaut_png[:])  # 0.5 MB > 0.1 MB too
            assert r.status == 413
            small = png(np.zeros((400, 400, 3), np.uint8))  # 160,000 px > 100,000 px: the pixel limit
            r = upload(s.url, "wide.png", small)
            assert r.status == 400
            assert r.json()["error"] == "cannot read wide.png: image is too large: 400x400 (0.2 MP > 0.1 MP limit)"
    finally:
        app.close()


def test_two_parallel_requests_both_complete(server, astronaut_png):
    info = upload(server.url, "a.png", astronaut_png).json()
    results = []

    def go(effect):
        results.append(run_job(server.url, {"upload": info["upload"], "op": "effect", "opt.effect": effect}))

    threads = [threading.Thread(target=go, args=(e,)) for e in ("comic", "eyebrowless")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert [r["state"] for r in results] == ["done", "done"], results


def test_video_keeps_frames_and_audio(server, tmp_path):
    from facecanvas.media.synthetic import astronaut_clip
    from facecanvas.media.video_io import probe

    src = astronaut_clip(tmp_path / "clip.mp4", n=12, size=(320, 240), audio=True)
    a = probe(src)
    info = upload(server.url, "clip.mp4", Path(src).read_bytes(), "video/mp4").json()
    assert info["kind"] == "video" and info["audio"] and info["frames"] == a.frames
    s = run_job(server.url, {"upload": info["upload"], "op": "erase", "face.detect_every": "5"})
    assert s["state"] == "done", s
    assert s["frames_out"] == a.frames and s["faces"] > 0
    out = tmp_path / "out.mp4"
    out.write_bytes(request(server.url + s["result"][1:]).body)
    b = probe(out)
    assert b.frames == a.frames and b.audio_streams == 1
    assert b.audio_duration == pytest.approx(a.audio_duration, abs=0.05)
    # the face clicked on the first frame is followed through the clip (its crop is the match reference)
    s = run_job(server.url, {"upload": info["upload"], "op": "erase", "face.detect_every": "5", "pick": "0"})
    assert s["state"] == "done", s
    assert s["faces"] > 0
    # a corrupt video: the video loader's one line
    r = upload(server.url, "bad.mp4", b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000), "video/mp4")
    assert r.status == 400 and r.json()["error"].startswith("cannot read bad.mp4")


def test_auth_host_check_and_cleanup(astronaut_png):
    import base64

    app = create_app(auth="me:s3cret", max_age=0.5)
    root = app.web.workspace.root
    try:
        with WebServer(app) as s:
            assert request(s.url).status == 401
            assert "Basic" in request(s.url).headers["WWW-Authenticate"]
            wrong = {"Authorization": "Basic " + base64.b64encode(b"me:nope").decode()}
            assert request(s.url + "api/ops", headers=wrong).status == 401
            ok = {"Authorization": "Basic " + base64.b64encode(b"me:s3cret").decode()}
            assert request(s.url + "api/ops", headers=ok).status == 200
            assert request(s.url, headers={**ok, "Host": "evil.example:7860"}).status == 403
            assert request(s.url, headers={**ok, "Host": "localhost:7860"}).status == 200
            info = upload(s.url, "a.png", astronaut_png, headers=ok).json()
            folder = root / info["upload"]
            assert folder.is_dir()
            time.sleep(0.6)
            app.web.sweep()  # results older than max_age are removed
            assert not folder.exists()
    finally:
        app.close()
    assert not root.exists()  # and the whole private folder on exit


def test_live_frames_round_trip(server, astronaut_bgr):
    r = post(server.url, "api/live/start", {"op": "erase"})
    assert r.status == 200, r.body
    sid = r.json()["session"]
    jpeg = cv2.imencode(".jpg", astronaut_bgr)[1].tobytes()
    outs = []
    for _ in range(3):
        r = request(server.url + f"api/live/{sid}", jpeg, {"Content-Type": "image/jpeg"})
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        outs.append(decode(r.body))
    assert outs[-1].shape == astronaut_bgr.shape
    assert request(server.url + f"api/live/{sid}", b"garbage", {"Content-Type": "image/jpeg"}).json()["error"]
    request(server.url + f"api/live/{sid}", method="DELETE")
    assert "ended" in request(server.url + f"api/live/{sid}", jpeg).json()["error"]


def test_option_files_an_effect_file_and_a_swap_source(server, astronaut_png, astronaut_bgr):
    from facecanvas.effects.spec import builtin_names

    assert "comic" in builtin_names()
    toml = (REPO / "src/facecanvas/effects/builtin/comic.toml").read_bytes()
    ref = post(server.url, "api/asset", files={"file": ("mine.toml", toml, "application/toml")}).json()["asset"]
    info = upload(server.url, "a.png", astronaut_png).json()
    s = run_job(server.url, {"upload": info["upload"], "op": "effect", "opt.effect": "@asset:" + ref})
    assert s["state"] == "done", s
    stored = server.app.web.uploads[ref]["path"]
    assert stored.name == "asset.toml" and stored.parent.parent == server.app.web.workspace.root
    gone = post(server.url, "api/process", {"upload": info["upload"], "op": "effect", "opt.effect": "@asset:" + "f" * 24})
    assert gone.status == 400 and "expired" in gone.json()["error"]
    if "swap" not in DEFAULT.names():
        pytest.skip("no swap operation in the registry yet")
    source = post(server.url, "api/asset", files={"file": ("me.png", png(astronaut_bgr[:, ::-1].copy()),
                                                            "image/png")}).json()["asset"]
    s = run_job(server.url, {"upload": info["upload"], "op": "swap", "opt.source": "@asset:" + source})
    assert s["state"] == "done", s
    missing = post(server.url, "api/process", {"upload": info["upload"], "op": "swap"})
    assert missing.status in (200, 400)  # refused at once (options) or as the job's one-line error
    err = missing.json().get("error") or run_job(server.url, {"upload": info["upload"], "op": "swap"})["error"]
    assert "--source" in err and "\n" not in err


def test_video_audio_that_mp4_cannot_carry_is_kept_in_mkv(server, tmp_path):
    import av

    from facecanvas.media.synthetic import moving_face_frames
    from facecanvas.media.video_io import probe

    src = tmp_path / "pcm.mkv"
    with av.open(str(src), "w") as o:
        v = o.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        a = o.add_stream("pcm_s16le", rate=44100)
        for f in moving_face_frames(8, size=(320, 240)):
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                o.mux(p)
        for p in v.encode():
            o.mux(p)
        tone = (np.sin(np.arange(14112) * 2 * np.pi * 440 / 44100) * 20000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 44100
        for p in [*a.encode(frame), *a.encode()]:
            o.mux(p)
    info = upload(server.url, "pcm.mkv", src.read_bytes(), "video/x-matroska").json()
    assert info["audio"] and info["frames"] == 8  # estimated from the duration where mkv gives no count
    s = run_job(server.url, {"upload": info["upload"], "op": "passthrough"})
    assert s["state"] == "done", s
    assert s["result"].endswith("/result.mkv") and s["download"] == "pcm_passthrough.mkv" and s["frames_out"] == 8
    out = tmp_path / "out.mkv"
    out.write_bytes(request(server.url + s["result"][1:]).body)
    assert probe(out).audio_streams == 1


def test_hostile_upload_names_are_only_labels(server, astronaut_png, tmp_path):
    """An upload's file name never becomes a path: traversal, a newline, a 300-byte name, a NUL, or a
    name that is not UTF-8 all give the upload a plain label, and its error or result one line."""
    names = ["../../../../tmp/evil.png", "a\\nb.png", "n" * 300 + ".png", "nul\x00.png", "caf\udce9.png", ""]
    for name in names:
        r = upload(server.url, name.encode("utf-8", "surrogateescape").decode("latin-1"), astronaut_png)
        assert r.status == 200, (name, r.body)
        info = r.json()
        assert "\n" not in json.dumps(info) or "\\n" in json.dumps(info)
        s = run_job(server.url, {"upload": info["upload"], "op": "erase"})
        assert s["state"] == "done", (name, s)
    assert not Path("/tmp/evil.png").exists()
    bad = upload(server.url, "../x.png", b"junk")
    msg = bad.json()["error"]
    assert bad.status == 400 and "\n" not in msg and msg.startswith("cannot read ")
    torn = upload(server.url, "a\nb\r.png", astronaut_png)  # a raw newline tears the multipart header
    assert torn.status == 400 and torn.json()["error"].startswith("the request is not valid form data")

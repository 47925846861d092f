"""Live mode: a file played as a camera (real-time pacing, dropped frames, latency) and the local page."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest

from conftest import run_cli
from facecanvas.analysis.detect import create_detector
from facecanvas.analysis.track import FaceTracker
from facecanvas.errors import InputError
from facecanvas.media.camera import CameraSource, FileSource
from facecanvas.media.live_server import LiveServer
from facecanvas.media.synthetic import astronaut_clip
from facecanvas.ops.passthrough import PassthroughOperation
from facecanvas.video import FrameProcessor, run_live


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return astronaut_clip(tmp_path_factory.mktemp("live") / "live.mp4", n=50, fps=25)  # 2 s


def test_file_source_plays_in_real_time_and_drops_when_behind(clip):
    with FileSource(clip) as src:
        t0 = time.monotonic()
        got = []
        while (f := src.read()) is not None:
            got.append(f.index)
            time.sleep(0.1)  # a consumer at 10 fps against a 25 fps source
        wall = time.monotonic() - t0
    assert 1.7 < wall < 3.0, "a 2 s clip must take about 2 s"
    assert 12 < len(got) < 30 and src.dropped >= 50 - len(got) - 1
    assert got == sorted(got) and got[-1] >= 45  # always the newest frame, up to the end


def test_file_source_fast_consumer_gets_every_frame_on_time(clip):
    lat = []
    with FileSource(clip) as src:
        while (f := src.read()) is not None:
            lat.append(time.monotonic() - f.arrival)
    assert len(lat) >= 48 and src.dropped <= 2
    assert np.median(lat) < 0.01


def test_live_server_serves_page_stream_frame_and_stats():
    with LiveServer(port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[:, :80] = (0, 0, 255)
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "/stream.mjpg" in page
        server.publish(frame, {"fps": 25.0, "latency_ms": 12.0})
        jpeg = urllib.request.urlopen(server.url + "frame.jpg", timeout=5).read()
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == frame.shape and img[60, 20, 2] > 200 and img[60, 140, 2] < 40
        assert json.loads(urllib.request.urlopen(server.url + "stats.json", timeout=5).read())["fps"] == 25.0
        # The MJPEG stream: a multipart response whose parts are JPEGs, new frames as they come.
        r = urllib.request.urlopen(server.url + "stream.mjpg", timeout=5)
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")

        def feed():
            for _ in range(5):
                time.sleep(0.05)
                server.publish(frame)

        threading.Thread(target=feed, daemon=True).start()
        data = b""
        while data.count(b"\xff\xd9") < 2:
            data += r.read1(65536)
        assert data.startswith(b"--frame\r\nContent-Type: image/jpeg")
        r.close()
        assert urllib.request.urlopen(server.url + "stats.json", timeout=5).status == 200


def test_run_live_reports_latency_and_serves_processed_frames(clip):
    frames_seen = []
    processor = FrameProcessor(PassthroughOperation(), FaceTracker(create_detector("auto", 960)))
    with LiveServer(port=0) as server, FileSource(clip) as src:
        rep = run_live(src, processor, [server.publish, lambda f, s: frames_seen.append(s["faces"])],
                       show_tracks=True)
    processor.tracker.close()
    assert rep.frames + rep.dropped >= 48
    assert rep.frames >= 20 and sum(frames_seen) >= 0.8 * len(frames_seen)  # a face in most frames
    assert len(rep.latencies_ms) == rep.frames - 5 and 0 < rep.latency(50) < 1000
    assert "added latency per frame median" in rep.summary()


def test_live_cli_with_source_file(clip):
    r = run_cli("live", "--source", clip, "--passthrough", "--port", "0", "--duration", "10")
    assert r.returncode == 0, r.stderr
    assert "open http://127.0.0.1:" in r.stderr
    assert "live:" in r.stderr and "added latency per frame median" in r.stderr


def test_camera_that_cannot_be_opened_gets_a_clear_message():
    with pytest.raises(InputError, match="camera 57 cannot be opened"):
        CameraSource(57)
    r = run_cli("live", "--camera", "57", "--passthrough")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("facecanvas: error: camera 57 cannot be opened")


def test_live_bad_source_file_and_missing_virtual_camera(tmp_path, clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"junk" * 50)
    r = run_cli("live", "--source", bad, "--passthrough")
    assert r.returncode == 2 and "not a video" in r.stderr
    try:
        import pyvirtualcam  # noqa: F401
    except ImportError:
        r = run_cli("live", "--source", clip, "--passthrough", "--virtual-cam", "--no-server", "--duration", "1")
        assert r.returncode == 2 and "pip install pyvirtualcam" in r.stderr


@pytest.mark.parametrize("flags", [["--swap", "SOURCE"], ["--deid", "--key", "k"]])
def test_live_swap_and_deid_run_on_a_file_source(tmp_path, astronaut_bgr, flags):
    import cv2

    from conftest import run_cli

    src = tmp_path / "face.png"
    cv2.imwrite(str(src), astronaut_bgr)
    clip = tmp_path / "clip.mp4"
    _write_astronaut_clip(clip, astronaut_bgr)
    args = [str(src) if f == "SOURCE" else f for f in flags]
    r = run_cli("live", "--source", clip, *args, "--duration", "3", "--port", "0")
    assert r.returncode == 0, r.stderr
    assert "frames shown" in r.stderr and "Traceback" not in r.stderr


def _write_astronaut_clip(path, bgr, frames: int = 20):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = bgr.shape[1], bgr.shape[0], "yuv420p"
        for _ in range(frames):
            for pkt in s.encode(av.VideoFrame.from_ndarray(bgr[..., ::-1].copy(), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)

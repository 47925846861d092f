"""Bad input, odd names, signals and outputs: the input/output layer's promises (README, exit codes).

Each test names the cause it guards against (the numbers of the reliability sweep). Fixtures are made in
tmp_path: the bundled astronaut and clips synthesised with PyAV.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facecanvas.errors import InputError, OutputError
from facecanvas.media import image_io
from facecanvas.media.image_io import check_outputs, load_image, save_image, save_result
from facecanvas.media.names import display_path, one_line, sibling

from conftest import REPO, run_cli

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and signals")


def noise(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def finishes(fn, seconds: float = 10.0):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it has not returned in time."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s (blocked)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ---------------------------------------------------------------- 3, 4: only regular files, bounded


@posix_only
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_cause3_symlink_to_endless_device_is_refused_at_once(tmp_path, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    link = tmp_path / "face.png"
    link.symlink_to(device)
    with pytest.raises(InputError) as e:
        finishes(lambda: load_image(link), 5.0)
    msg = str(e.value)
    assert "face.png" in msg and "regular file" in msg and "\n" not in msg


@posix_only
def test_cause4_named_pipe_does_not_block(tmp_path):
    fifo = tmp_path / "f.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as e:
        finishes(lambda: load_image(fifo), 5.0)
    assert "f.jpg" in str(e.value) and "named pipe" in str(e.value)


def test_cause3_size_bound(tmp_path, monkeypatch):
    from facecanvas.media import safe_open

    p = tmp_path / "big.png"
    p.write_bytes(b"\x89PNG" + bytes(5000))
    with pytest.raises(InputError, match="too large"):
        safe_open.read_input(p, max_bytes=1000)
    assert safe_open.read_input(p, max_bytes=5004) == p.read_bytes()


def test_cause3_loader_bound_follows_pixel_limit():
    assert image_io.max_input_bytes(80_000_000) < 1 << 30


# ---------------------------------------------------------------- 10: long names


def test_cause10_250_byte_output_name_is_written(tmp_path):
    name = "a" * 246 + ".png"  # 250 bytes: legal; the hidden temp name must not pass 255
    out = save_image(tmp_path / name, noise(8, 8))
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == [name]


def test_cause10_255_byte_multibyte_name(tmp_path):
    name = "é" * 125 + ".png"  # 250 + 4 = 254 bytes in UTF-8
    save_image(tmp_path / name, noise(8, 8))
    assert (tmp_path / name).exists()


def test_sibling_names_fit():
    for n in (1, 100, 240, 251):
        p = Path("/x") / ("b" * n + ".mp4")
        t = sibling(p, "part", keep_suffix=True)
        assert len(os.fsencode(t.name)) <= 255 and t.name.startswith(".") and t.suffix == ".mp4"


# ---------------------------------------------------------------- the facecanvas mark


def test_mark_png_text_chunk(tmp_path):
    import facecanvas

    out = save_image(tmp_path / "m.png", noise(8, 8), operation="erase")
    with Image.open(out) as im:
        assert im.text["Description"] == f"edited by facecanvas {facecanvas.__version__}: erase"
        assert im.text["Software"] == f"facecanvas {facecanvas.__version__}"
    assert np.array_equal(cv2.imread(str(out)), noise(8, 8))  # pixels untouched


def test_mark_jpeg_exif(tmp_path):
    import facecanvas

    out = save_image(tmp_path / "m.jpg", noise(16, 16), operation="effect comic")
    with Image.open(out) as im:
        exif = im.getexif()
        assert exif[0x010E] == f"edited by facecanvas {facecanvas.__version__}: effect comic"
        assert exif[0x0131].startswith("facecanvas ")
        assert 0x0112 not in exif  # no orientation: the pixels load as written
    loaded = load_image(out)
    assert loaded.bgr.shape == (16, 16, 3) and not loaded.exif_rotated


def test_mark_default_without_operation(tmp_path):
    img = load_image(save_image(tmp_path / "src.png", noise(6, 6)))
    out = save_result(tmp_path / "r.png", img.bgr, img)
    with Image.open(out) as im:
        assert im.text["Description"].startswith("edited by facecanvas")


# ---------------------------------------------------------------- 11: every output checked first


def test_cause11_check_outputs_refuses_before_anything_is_written(tmp_path):
    src = tmp_path / "face_mask.png"
    src.write_bytes(b"input")
    # erase face.png -o face.png... the sidecar of out/face.png is the input face_mask.png
    out = tmp_path / "face.png"
    with pytest.raises(OutputError) as e:
        check_outputs([out, tmp_path / "face_mask.png"], overwrite=True, protected=[src])
    assert "face_mask.png" in str(e.value) and "input" in str(e.value)
    assert not out.exists() and src.read_bytes() == b"input"


def test_check_outputs_each_rule(tmp_path):
    (tmp_path / "exists.png").write_bytes(b"x")
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "afile").write_bytes(b"x")
    cases = {
        tmp_path / "x.xyz": "extension",
        tmp_path / "exists.png": "already exists",
        tmp_path / "adir.png": "directory",
        tmp_path / ("n" * 252 + ".png"): "255 bytes",
        tmp_path / "afile" / "o.png": "not a folder",
    }
    for p, why in cases.items():
        with pytest.raises(OutputError, match=why):
            check_outputs([p])
    with pytest.raises(OutputError, match="twice"):
        check_outputs([tmp_path / "a.png", tmp_path / "." / "a.png"])
    assert check_outputs([tmp_path / "exists.png", tmp_path / "new" / "b.mp4"], overwrite=True)


# ---------------------------------------------------------------- 8: names that are not text


def test_display_path_escapes():
    assert display_path("a\nb.png") == "a\\nb.png"
    assert display_path(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert display_path(b"caf\xe9.png") == "caf\\xe9.png"
    assert display_path("été.png") == "été.png"
    assert one_line("x\u202ey") == "x\\u202ey"  # a bidi override cannot reorder the line


def test_cause8_loader_message_for_newline_name(tmp_path):
    p = tmp_path / "bad\nname.png"
    p.write_bytes(b"not an image")
    with pytest.raises(InputError) as e:
        load_image(p)
    assert "\n" not in str(e.value) and "bad\\nname.png" in str(e.value)


# ---------------------------------------------------------------- 9: an extension we cannot write


def test_cause9_unwritable_extension_is_an_error_not_a_folder(tmp_path):
    from facecanvas.cli.paths import plan_outputs, plan_video_outputs

    for name in ("out.xyz", "out.gif"):
        with pytest.raises(OutputError, match="cannot write"):
            plan_outputs([tmp_path / "face.png"], str(tmp_path / name))
    with pytest.raises(OutputError, match="video"):
        plan_video_outputs([tmp_path / "clip.mp4"], str(tmp_path / "out.png"))
    with pytest.raises(OutputError):
        plan_video_outputs([tmp_path / "clip.mp4"], str(tmp_path / "out.xyz"))
    assert not list(tmp_path.iterdir())


def test_planners_still_take_folders(tmp_path):
    from facecanvas.cli.paths import plan_outputs, plan_video_outputs

    ins = [tmp_path / "a.jpg", tmp_path / "b.png"]
    assert plan_outputs(ins, str(tmp_path / "out")) == [tmp_path / "out" / "a.jpg", tmp_path / "out" / "b.png"]
    assert plan_outputs(ins[:1], str(tmp_path / "x.png")) == [tmp_path / "x.png"]
    dotted = tmp_path / "v1.0"
    dotted.mkdir()
    assert plan_outputs(ins, str(dotted)) == [dotted / "a.jpg", dotted / "b.png"]
    assert plan_outputs(ins[:1], str(tmp_path / "new.d") + "/") == [tmp_path / "new.d" / "a.jpg"]
    assert plan_video_outputs([tmp_path / "c.mpg"], str(tmp_path / "vids")) == [tmp_path / "vids" / "c.mp4"]
    assert plan_video_outputs([tmp_path / "c.mpg"], str(tmp_path / "o.webm")) == [tmp_path / "o.webm"]

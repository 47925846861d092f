"""The neural eraser at inference (onnxruntime only): the shipped model, bad model files, no torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facecanvas.errors import InputError
from facecanvas.inpaint.neural import NeuralEraser, default_model_path, edge_map, neural_fill

from conftest import REPO, run_cli
from facecanvas.inpaint.fills import NeuralFill


@pytest.fixture(scope="module")
def eraser():
    if not default_model_path().is_file():
        pytest.fail(f"the shipped model {default_model_path()} is missing")
    return NeuralEraser()


@pytest.fixture(scope="module")
def astronaut_crop(astronaut_bgr, astronaut_face):
    from facecanvas import align_face
    from facecanvas.masks import part_masks, union

    t = align_face(astronaut_face.five_points(), 256)
    crop = t.warp(astronaut_bgr)
    return crop, union(part_masks(t.to_crop(astronaut_face.landmarks), (256, 256)))


def test_shipped_model_is_small_and_described(eraser):
    assert default_model_path().stat().st_size <= 20_000_000
    assert eraser.scale >= 1 and eraser.stride % 32 == 0
    assert eraser.info.get("step", 0) > 0, "the shipped model must record how long it was trained"


def test_fill_changes_only_the_hole(eraser, astronaut_crop):
    crop, hole = astronaut_crop
    out = eraser.fill(crop, hole)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], crop[~hole])
    assert not np.array_equal(out[hole], crop[hole])


def test_fill_looks_like_skin(eraser, astronaut_bgr, astronaut_face):
    """In the erase path the model sees only the face's skin (the rest smoothed over), so it cannot copy the
    hair or the suit into the hole: the fill takes the colour of the skin around it."""
    import cv2

    from facecanvas import erase

    done = erase(astronaut_bgr, faces=[astronaut_face], method=NeuralFill(model=eraser)).faces[0]
    hole = done.hole
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~hole
    assert np.abs(done.blank[hole].mean(0) - done.crop[ring].mean(0)).max() < 20


def test_fill_without_context_looks_like_skin(eraser, astronaut_crop):
    """Shown the whole crop (hair and suit included), the fill still takes the skin's colour. The model
    shipped before (step 1601) failed this by ~32 levels: it copied hair and clothes; this one is ~12 off
    (11.7 measured), so 16 leaves room for noise but not for the old failure. The erase path still shows it
    the skin only (``context``), which brings that to ~6."""
    import cv2

    crop, hole = astronaut_crop
    out = eraser.fill(crop, hole)
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~hole
    assert np.abs(out[hole].mean(0) - crop[ring].mean(0)).max() < 16


def test_fill_any_size_and_empty_hole(eraser):
    img = np.full((200, 170, 3), 160, np.uint8)
    hole = np.zeros((200, 170), bool)
    assert np.array_equal(eraser.fill(img, hole), img)
    hole[80:120, 50:120] = True
    out = neural_fill(img, hole, eraser=eraser)
    assert out.shape == img.shape and np.abs(out[hole].astype(int) - 160).mean() < 25
    with pytest.raises(ValueError):
        eraser.fill(img, hole[:10])


def test_edge_map_ignores_the_hole_border():
    img = np.full((64, 64, 3), 200, np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[20:40, 20:40] = True
    img[hole] = 0  # the hole is zeroed: its border is a strong edge that must not reach the model
    assert edge_map(img, hole, 1).sum() == 0
    img[5:10, :] = 0
    assert edge_map(img, hole, 2).shape == (32, 32) and edge_map(img, hole, 2).sum() > 0


def test_missing_or_corrupt_model_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="nothere.onnx: neural eraser model not found"):
        NeuralEraser(tmp_path / "nothere.onnx")
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(InputError, match="broken.onnx: not a valid FaceEraser ONNX model"):
        NeuralEraser(bad)


def test_inference_never_imports_torch():
    code = ("import sys, numpy as np\n"
            "from facecanvas.inpaint.neural import NeuralEraser\n"
            "img = np.full((256, 256, 3), 150, np.uint8); hole = np.zeros((256, 256), bool); hole[100:150, 80:180] = 1\n"
            "NeuralEraser().fill(img, hole)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]


def test_erase_method_neural_runs_in_the_erase_path(astronaut_bgr, astronaut_face, eraser):
    from facecanvas import erase

    result = erase(astronaut_bgr, faces=[astronaut_face], method=NeuralFill(model=eraser))
    changed = np.any(result.image != astronaut_bgr, axis=2)
    assert changed.any() and not changed[result.mask == 0].any()
    assert result.faces[0].transform.size == 256  # the scale the model was trained at


def test_cli_erase_method_neural(tmp_path, astronaut_bgr):
    import cv2

    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(src), astronaut_bgr)
    r = run_cli("erase", src, "-o", dst, "--method", "neural")
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(dst)).shape == astronaut_bgr.shape

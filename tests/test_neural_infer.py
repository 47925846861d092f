"""The neural eraser at inference (onnxruntime only): the shipped model, bad model files, no torch import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from facecanvas.errors import InputError
from facecanvas.inpaint.neural import NeuralEraser, default_model_path, edge_map, neural_fill

from conftest import REPO


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


@pytest.mark.xfail(strict=True, reason="known failure of the shipped compact model (docs/MODEL_CARD.md): on a real "
                   "face it copies hair into the brow holes (training blank faces never have hair next to a hole), "
                   "so the fill is ~30 levels darker than the skin around it")
def test_fill_looks_like_skin(eraser, astronaut_crop):
    crop, hole = astronaut_crop
    out = eraser.fill(crop, hole)
    # The fill takes the colour of the skin around the hole (cheeks and forehead), not black or a part colour.
    import cv2

    ring = cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~hole
    assert np.abs(out[hole].mean(0) - crop[ring].mean(0)).max() < 30


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

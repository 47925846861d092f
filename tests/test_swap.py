"""Face swap (facecanvas.swap, the ``swap`` operation and command) on real faces.

The astronaut is the target; the source is a shared CelebA-HQ face when the internal data is present
(identity checks need another person), else the astronaut mirrored (same person: only the
mechanics are checked then)."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from conftest import SHARED, run_cli, shared_path
from facecanvas.analysis import landmark_groups as lg
from facecanvas.masks import face_region
from facecanvas.media.synthetic import astronaut_clip
from facecanvas.media.video_io import probe

SOURCE_FILE = SHARED / "faces" / "celebahq512" / "00001.jpg"


@pytest.fixture(scope="module")
def source_path(tmp_path_factory, astronaut_bgr):
    if SOURCE_FILE.exists():
        return SOURCE_FILE
    p = tmp_path_factory.mktemp("src") / "mirrored.png"
    cv2.imwrite(str(p), astronaut_bgr[:, ::-1])
    return p


@pytest.fixture(scope="module")
def source(source_path, analyzer):
    from facecanvas.swap import SourceFace

    return SourceFace.from_paths(str(source_path), analyzer)


@pytest.fixture(scope="module")
def op(source):
    from facecanvas.ops.swap import SwapOperation, SwapOptions

    return SwapOperation(SwapOptions(source="(prepared)"), source=source)


def _sface():
    from facecanvas.analysis.identity import SFaceEmbedder

    try:
        return SFaceEmbedder()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"SFace not installed: {e}")


def test_output_outside_the_face_is_unchanged_pixel_for_pixel(op, astronaut_bgr, astronaut_face):
    out = op(astronaut_bgr, [astronaut_face])
    inside = face_region(astronaut_face.landmarks, astronaut_bgr.shape)
    changed = np.abs(out.astype(int) - astronaut_bgr).max(2) > 0
    assert changed.sum() > 0.3 * inside.sum()  # the face was swapped
    assert not (changed & ~inside).any()
    assert np.array_equal(out[~inside], astronaut_bgr[~inside])


def test_open_mouth_stays_the_targets_and_keep_eyes_keeps_the_eyes(source, astronaut_bgr, astronaut_face):
    from facecanvas.ops.swap import SwapOperation, SwapOptions
    from facecanvas.swap.compose import openings_mask

    box = (0, 0, astronaut_bgr.shape[1], astronaut_bgr.shape[0])
    kept = SwapOperation(SwapOptions(source="x", keep_eyes=True), source=source)(astronaut_bgr, [astronaut_face])
    m = openings_mask(astronaut_face.landmarks, box)
    core = cv2.erode((m > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert core.sum() > 100  # the astronaut smiles with her teeth showing
    assert np.abs(kept[core].astype(int) - astronaut_bgr[core]).mean() < 12
    mouth = cv2.erode((openings_mask(astronaut_face.landmarks, box, eyes=False) > 0).astype(np.uint8),
                      np.ones((3, 3), np.uint8)) > 0
    assert mouth.sum() > 50


def test_default_eyes_are_the_sources_with_the_targets_gaze(op, analyzer, astronaut_bgr, astronaut_face):
    from facecanvas.swap.compose import openings_mask

    out = op(astronaut_bgr, [astronaut_face])
    m = openings_mask(astronaut_face.landmarks, (0, 0, astronaut_bgr.shape[1], astronaut_bgr.shape[0]), mouth=False)
    core = cv2.erode((m > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if not np.array_equal(op._mesh.target_eyes, (True, True)):  # the source's eyes are open: they go in
        assert (np.abs(out[core].astype(int) - astronaut_bgr[core]).max(1) > 12).mean() > 0.2
    # The gaze stays the target's: each iris centre sits where the target's sat between its eye corners.
    faces = analyzer.detect(out)
    assert faces

    def iris_pos(p):
        out_ = []
        for c, a, b in ((468, 33, 133), (473, 362, 263)):
            v = p[b, :2] - p[a, :2]
            out_.append(float((p[c, :2] - p[a, :2]) @ v / (v @ v)))
        return np.array(out_)

    assert np.abs(iris_pos(faces[0].landmarks) - iris_pos(astronaut_face.landmarks)).max() < 0.08


def test_eye_fans_cover_open_eyes_only():
    from facecanvas.swap.compose import eye_fans

    p = np.zeros((478, 2))
    for ring, c, x in ((lg.RIGHT_EYE[:16], 468, 0.0), (lg.LEFT_EYE[:16], 473, 10.0)):
        ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        p[list(ring)] = np.c_[x + 2 * np.cos(ang), np.sin(ang) * (1.0 if x == 0 else 0.1)]
        p[c] = (x, 0)  # the ring's order puts a, b at the ends and top, bottom at the middle
    tris, has = eye_fans(p)
    assert has == (True, False) and tris.shape == (16, 3)


def test_synthetic_occluder_over_the_mouth_stays_on_top(source, analyzer, astronaut_bgr, astronaut_face):
    from facecanvas.ops.swap import SwapOperation, SwapOptions

    f = astronaut_face
    c, iod = f.points("lips").mean(0), f.interocular
    x0, y0, x1, y1 = int(c[0] - 0.55 * iod), int(c[1] - 0.3 * iod), int(c[0] + 0.55 * iod), int(c[1] + 0.35 * iod)
    img = astronaut_bgr.copy()
    cv2.rectangle(img, (x0, y0), (x1, y1), (200, 120, 30), -1)  # an opaque blue card over the mouth
    faces = analyzer.detect(img)
    assert faces
    out = SwapOperation(SwapOptions(source="x"), source=source)(img, faces[:1])
    core = (slice(y0 + 3, y1 - 3), slice(x0 + 3, x1 - 3))
    moved = np.abs(out[core].astype(int) - img[core]).max(2) > 12
    assert moved.mean() < 0.05, f"{moved.mean():.1%} of the occluder was painted over"
    # ... while the rest of the face was swapped.
    upper = (slice(int(f.box[1]), y0), slice(int(f.box[0]), int(f.box[2])))
    assert (np.abs(out[upper].astype(int) - img[upper]).max(2) > 12).mean() > 0.2
    # With occlusion handling off, the card is painted over.
    off = SwapOperation(SwapOptions(source="x", occlusion="off"), source=source)(img, faces[:1])
    assert (np.abs(off[core].astype(int) - img[core]).max(2) > 12).mean() > 0.3


def test_swapped_identity_is_the_source_not_the_target(op, source, analyzer, astronaut_bgr, astronaut_face):
    if not SOURCE_FILE.exists():
        shared_path("faces", "celebahq512", "00001.jpg")
    emb = _sface()
    out = op(astronaut_bgr, [astronaut_face])
    faces = analyzer.detect(out)
    assert faces, "no face detected in the swapped output"
    e_out = emb.embed(out, faces[0])
    e_tgt = emb.embed(astronaut_bgr, astronaut_face)
    to_src, to_tgt = float(e_out @ source.embedding), float(e_out @ e_tgt)
    assert to_src > to_tgt, (to_src, to_tgt)


def test_python_api_takes_a_path_and_leaves_the_input_alone(source_path, analyzer, astronaut_bgr):
    from facecanvas.swap import swap

    before = astronaut_bgr.copy()
    out = swap(astronaut_bgr, str(source_path), analyzer=analyzer)
    assert np.array_equal(astronaut_bgr, before)
    assert out.shape == before.shape and not np.array_equal(out, before)
    naive = swap(astronaut_bgr, str(source_path), analyzer=analyzer, method="naive")
    assert not np.array_equal(naive, out)


def test_registry_builds_swap_from_a_spec(source_path):
    from facecanvas.ops import registry
    from facecanvas.ops.base import OpSpec

    op = registry.DEFAULT.build(OpSpec("swap", {"source": str(source_path), "shape": "0.3"}))
    assert op.name == "swap" and op.options.shape == 0.3
    assert "swap" in registry.DEFAULT.names()


def test_mesh_triangulation_covers_the_face():
    from facecanvas.swap.mesh_warp import triangles

    t = triangles()
    assert t.shape[1] == 3 and len(t) > 800 and t.max() < 468


def test_several_sources_average_embeddings_and_pick_the_best_texture(tmp_path, astronaut_bgr, analyzer):
    from facecanvas.swap import SourceFace

    sharp = tmp_path / "sharp.png"
    blurred = tmp_path / "blur.png"
    cv2.imwrite(str(sharp), astronaut_bgr)
    cv2.imwrite(str(blurred), cv2.resize(cv2.GaussianBlur(astronaut_bgr, (0, 0), 3), None, fx=0.5, fy=0.5))
    src = SourceFace.from_paths(f"{blurred},{sharp}", analyzer)
    assert src.photos == 2 and str(sharp) in src.name
    if src.embedding is not None:
        assert abs(float(np.linalg.norm(src.embedding)) - 1) < 1e-4


# --- bad inputs: one line, the right exit code -------------------------------------------------------

@pytest.fixture(scope="module")
def bad_sources(tmp_path_factory, astronaut_bgr):
    d = tmp_path_factory.mktemp("bad")
    cv2.imwrite(str(d / "noface.png"), np.full((300, 300, 3), 120, np.uint8))
    cv2.imwrite(str(d / "two.png"), np.hstack([astronaut_bgr, astronaut_bgr[:, ::-1]]))
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    cv2.imwrite(str(d / "target.png"), astronaut_bgr)
    return d


@pytest.mark.parametrize("name,code,words", [
    ("noface.png", 3, "no face found in the source photo"),
    ("two.png", 2, "2 faces in the source photo"),
    ("corrupt.jpg", 2, "corrupt.jpg"),
    ("missing.jpg", 2, "missing.jpg"),
])
def test_bad_source_is_one_line_with_its_exit_code(bad_sources, tmp_path, name, code, words):
    r = run_cli("swap", bad_sources / "target.png", "--source", bad_sources / name, "-o", tmp_path / "o.png")
    assert r.returncode == code, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0], r.stderr
    assert not (tmp_path / "o.png").exists()


def test_target_without_a_face_is_exit_3(bad_sources, source_path, tmp_path):
    r = run_cli("swap", bad_sources / "noface.png", "--source", source_path, "-o", tmp_path / "o.png")
    assert r.returncode == 3 and "no face found" in r.stderr


def test_photo_output_carries_the_mark_and_largest_works(bad_sources, source_path, tmp_path):
    dst = tmp_path / "out.png"
    r = run_cli("swap", bad_sources / "two.png", "--source", source_path, "-o", dst, "--largest", "--save-mask")
    assert r.returncode == 0, r.stderr
    assert b"edited by facecanvas" in dst.read_bytes() and b": swap" in dst.read_bytes()
    mask = cv2.imread(str(tmp_path / "out_mask.png"), cv2.IMREAD_GRAYSCALE)
    left, right = mask[:, : mask.shape[1] // 2], mask[:, mask.shape[1] // 2:]
    assert (left > 0).sum() > 1000 and (right > 0).sum() == 0 or (right > 0).sum() > 1000 and (left > 0).sum() == 0


def test_watermark_is_drawn_in_the_corner(op, source, astronaut_bgr, astronaut_face):
    from facecanvas.ops.swap import SwapOperation, SwapOptions

    marked = SwapOperation(SwapOptions(source="x", watermark=True), source=source)(astronaut_bgr, [astronaut_face])
    plain = op(astronaut_bgr, [astronaut_face])
    d = np.abs(marked.astype(int) - plain).max(2) > 0
    ys, xs = np.nonzero(d)
    assert len(ys) > 50 and ys.min() > astronaut_bgr.shape[0] * 0.8 and xs.min() > astronaut_bgr.shape[1] * 0.5


# --- video ---------------------------------------------------------------------------------------------

def _decode(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def test_video_keeps_frames_timestamps_audio_and_the_identity(tmp_path, source_path, source):
    src = astronaut_clip(tmp_path / "clip.mp4", n=24, empty_frames=4)
    dst = tmp_path / "swapped.mp4"
    r = run_cli("swap", src, "--source", source_path, "-o", dst)
    assert r.returncode == 0, r.stderr
    a, b = probe(src), probe(dst)
    assert (b.frames, b.fps, b.width, b.height) == (a.frames, a.fps, a.width, a.height)
    assert b.duration == pytest.approx(a.duration, abs=1e-3)
    assert b.audio_streams == 1 and b.audio_duration == pytest.approx(a.audio_duration, abs=0.03)
    with av.open(str(src)) as c1, av.open(str(dst)) as c2:
        t1 = [f.pts * f.time_base for f in c1.decode(video=0)]
        t2 = [f.pts * f.time_base for f in c2.decode(video=0)]
        meta = dict(c2.metadata)
    assert [float(t) for t in t1] == pytest.approx([float(t) for t in t2], abs=1e-3)
    # The video mark: "edited by facecanvas VERSION" (the operation's name is not passed to the video
    # writer by the batch module yet; photos carry ": swap").
    assert any("edited by facecanvas" in str(v) for v in meta.values()), meta
    fin, fout = _decode(src), _decode(dst)
    # Faceless frames pass through (up to the codec), faces are swapped.
    assert np.abs(fout[0].astype(int) - fin[0]).mean() < 2.0
    assert (np.abs(fout[12].astype(int) - fin[12]).max(2) > 40).sum() > 200
    # One identity along the track: the swapped frames look like each other (SFace).
    emb = _sface()
    from facecanvas import FaceAnalyzer

    with FaceAnalyzer() as an:
        vecs = []
        for fr in fout[6::3]:
            fs = an.detect(fr)
            if fs:
                vecs.append(emb.embed(fr, fs[0]))
    assert len(vecs) >= 5
    sims = [float(vecs[i] @ vecs[j]) for i in range(len(vecs)) for j in range(i + 1, len(vecs))]
    # (the clip's face is small and turns, so even the input's frames are only ~0.7 alike)
    assert min(sims) > 0.45 and np.mean(sims) > 0.55, sims
    if SOURCE_FILE.exists() and source.embedding is not None:
        assert np.mean([float(v @ source.embedding) for v in vecs]) > 0.3


def test_track_state_is_reset(op, astronaut_bgr, astronaut_face):
    from dataclasses import replace as dc_replace

    from facecanvas.analysis.track import TrackedFace

    tf = TrackedFace(astronaut_face.detection, astronaut_face.landmarks, astronaut_face.pose, track_id=7)
    op(astronaut_bgr, [tf])
    assert 7 in op._tracks
    op.reset()
    assert op._tracks == {}
    _ = dc_replace


def test_photo_match_swaps_only_that_person(tmp_path, source_path):
    target = shared_path("wild", "face_recognition", "obama_and_biden.jpg")
    ref = shared_path("identity", "glint", "images", "Barack_Obama", "1.png")
    dst = tmp_path / "out.png"
    r = run_cli("swap", target, "--source", source_path, "-o", dst, "--match", ref, "--save-mask")
    assert r.returncode == 0, r.stderr
    mask = cv2.imread(str(tmp_path / "out_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    faces = int((stats[1:, cv2.CC_STAT_AREA] > 1000).sum())  # a sliver cut off by a kept strip is no face
    assert faces == 1, f"{faces} faces swapped"  # Obama's face only, not Biden's


def test_colour_transfer_never_deepens_the_source_lightness_contrast_by_default():
    from facecanvas.swap.color import LabStats, transfer

    rng = np.random.default_rng(0)
    tex = np.clip(rng.normal(150, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(tex, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
    src = LabStats(lab.mean(0), lab.std(0))
    dst = LabStats(lab.mean(0), lab.std(0) * np.float32(1.5))  # a contrasty target (side light)
    L = lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32).std()
    capped = transfer(tex, src, dst, max_light_gain=1.0)
    free = transfer(tex, src, dst)
    assert L(capped) <= L(tex) * 1.03 and L(free) > L(tex) * 1.3
    low = LabStats(lab.mean(0), lab.std(0) * np.float32(0.5))  # lowering the contrast stays allowed
    assert L(transfer(tex, src, low, max_light_gain=1.0)) < L(tex) * 0.7


def test_scaled_chroma_keeps_a_warm_sources_shadows_off_blue():
    """A warm-lit texture (skin b 178) whose sockets are less yellow (b 150) on a cooler target (b 151):
    Reinhard's shift takes the sockets across grey into blue; scaled about grey they stay warm."""
    from facecanvas.swap.color import LabStats, transfer

    lab = np.full((8, 16, 3), (150, 154, 178), np.uint8)
    lab[:, 8:] = (110, 140, 150)  # the socket half
    tex = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    src = LabStats(np.float32([148, 154, 178]), np.float32([28, 4.5, 4.6]))
    dst = LabStats(np.float32([186, 142, 151]), np.float32([23, 3.5, 5.1]))
    b = lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2LAB)[..., 2].astype(np.float32)  # noqa: E731
    assert b(transfer(tex, src, dst, chroma="shift"))[:, 8:].mean() < 126  # blue
    scaled = b(transfer(tex, src, dst, chroma="scale"))
    assert scaled[:, 8:].mean() > 130
    assert abs(scaled[:, :8].mean() - 151) < 2  # the skin still takes the target's mean
    grey = LabStats(np.float32([148, 128.5, 129]), np.float32([28, 2, 2]))  # a grey source: shifted as before
    assert np.array_equal(transfer(tex, grey, dst, chroma="scale"), transfer(tex, grey, dst, chroma="shift"))
    with pytest.raises(ValueError):
        transfer(tex, src, dst, chroma="hue")


def test_a_highlight_on_the_face_is_no_occluder_where_the_parser_sees_face():
    """A white highlight on a warm skin (skin diluted towards grey, lighter) is far from the skin's chroma;
    it stays out of the occluder mask where the parser is sure of the face. A blue object does not, and
    without the parser's word (grey hair, a white cup look the same) the highlight still counts."""
    from facecanvas.swap.color import LabStats
    from facecanvas.swap.compose import occluder_mask, specular

    skin = LabStats(np.float32([120, 157, 166]), np.float32([16, 2.7, 3.3]))
    assert specular(np.float32([[200, 140, 145]]), skin)[0]  # skin plus white light
    assert not specular(np.float32([[200, 128, 100]]), skin)[0]  # a blue thing
    assert not specular(np.float32([[110, 140, 145]]), skin)[0]  # desaturated but not lighter: a shadow, grey
    lab = np.zeros((120, 120, 3), np.uint8)
    lab[:] = (120, 157, 166)
    lab[40:70, 20:50] = (215, 138, 142)  # the highlight
    lab[40:70, 70:100] = (120, 128, 95)  # a blue object
    bgr = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    region, none = np.ones((120, 120), bool), np.zeros((120, 120), bool)
    seen = occluder_mask(bgr, region, none, none, skin, 100.0, 6.0, face=np.ones((120, 120), np.float32))
    assert seen[55, 35] < 0.1 and seen[55, 85] > 0.9
    blind = occluder_mask(bgr, region, none, none, skin, 100.0, 6.0)
    assert blind[55, 35] > 0.9 and blind[55, 85] > 0.9


def test_forehead_ramp_fades_only_the_upper_forehead(astronaut_face):
    from facecanvas.swap.compose import forehead_ramp

    p = np.asarray(astronaut_face.landmarks, np.float64)
    h, w = int(p[:, 1].max()) + 20, int(p[:, 0].max()) + 20
    ramp = forehead_ramp(p, (h, w), 0.5)
    at = lambda i: ramp[int(round(p[i, 1])), int(round(p[i, 0]))]
    assert at(1) == 1.0 and at(152) == 1.0 and at(9) == 1.0  # nose tip, chin, between the brows
    assert at(10) < 0.1  # the face's top edge
    mid = (p[10, :2] + p[9, :2]) / 2 + (p[10, :2] - p[9, :2]) * 0.25  # three quarters up the forehead
    assert 0.1 < ramp[int(mid[1]), int(mid[0])] < 0.9
    assert (forehead_ramp(p, (h, w), 1.0) == 1).all()


def test_top_edge_ramp_softens_only_the_edge_above_the_brows(astronaut_face):
    from facecanvas.swap.compose import top_edge_ramp

    p = np.asarray(astronaut_face.landmarks, np.float64)
    h, w = int(p[:, 1].max()) + 20, int(p[:, 0].max()) + 20
    region = face_region(p, (h, w))
    iod = astronaut_face.interocular
    ramp = top_edge_ramp(p, region, 0.08 * iod)
    at = lambda i: ramp[int(round(p[i, 1])), int(round(p[i, 0]))]
    assert at(10) < 0.3  # the face's top edge
    assert at(9) == 1.0 and at(1) == 1.0  # between the brows, the nose tip
    assert at(152) == 1.0 and at(234) == 1.0  # the chin and a cheek's edge keep the short ramp of before
    assert (top_edge_ramp(p, region, 0.0) == 1).all()


def test_a_covered_source_cheek_is_completed_with_its_own_skin_but_an_eye_is_not(astronaut_bgr, astronaut_face):
    from facecanvas.swap.source import SourceFace, complete_cheeks

    src = SourceFace.from_face(astronaut_bgr, astronaut_face)
    tex, pts = src.texture, src.points
    p = pts[:, :2]
    cheek = np.round(p[234] * 0.7 + p[1] * 0.3).astype(int)  # on the cheek, clear of the nose
    eye = np.round(p[list(lg.RIGHT_EYE)].mean(0)).astype(int)
    occ = np.zeros(tex.shape[:2], np.float32)
    cv2.circle(occ, tuple(int(v) for v in cheek), 16, 1.0, -1)
    cv2.circle(occ, tuple(int(v) for v in eye), 12, 1.0, -1)
    covered = tex.copy()
    covered[occ > 0.5] = (20, 30, 40)  # a dark object over the cheek and the eye
    out, occ2 = complete_cheeks(covered, pts, occ)
    y, x = cheek[1], cheek[0]
    assert occ2[y, x] < 0.05 and occ2[eye[1], eye[0]] > 0.95
    patch = out[y - 10:y + 11, x - 10:x + 11].reshape(-1, 3).astype(float)
    skin = tex[y - 40:y + 41, x - 40:x + 41].reshape(-1, 3).astype(float)
    assert np.abs(patch.mean(0) - np.median(skin, 0)).max() < 25  # skin-coloured, not the object
    assert np.array_equal(out[occ2 > 0.95], covered[occ2 > 0.95])  # what stays covered is untouched


def test_the_source_photos_own_shadow_along_its_face_edge_is_left_to_the_target(astronaut_bgr, astronaut_face):
    from facecanvas.analysis.align import align_face
    from facecanvas.swap.color import lab_stats, skin_mask
    from facecanvas.swap.source import edge_shadow

    t = align_face(astronaut_face.five_points(), 512)
    tex = t.warp(astronaut_bgr)
    pts = np.zeros((len(astronaut_face.landmarks), 3), np.float32)
    pts[:, :2] = t.to_crop(astronaut_face.landmarks[:, :2])
    skin = lab_stats(tex, skin_mask(pts, tex.shape))
    chin = pts[152, :2].astype(int)
    plain = edge_shadow(tex, pts, skin)  # her lit chin: nothing there (her fringe at the top may count)
    assert plain is None or plain[chin[1] - 10, chin[0]] < 0.1
    shaded = tex.copy()
    cv2.circle(shaded, (int(chin[0]), int(chin[1]) - 8), 30, (40, 40, 50), -1)  # a deep shadow under the chin
    dark = edge_shadow(shaded, pts, skin)
    assert dark is not None and dark[chin[1] - 10, chin[0]] > 0.5
    nose = pts[1, :2].astype(int)
    assert dark[nose[1], nose[0]] == 0  # only along the face's edge

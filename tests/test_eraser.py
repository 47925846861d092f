import cv2
import numpy as np
import pytest

from facecanvas import erase
from facecanvas.inpaint import inpaint
from facecanvas.analysis import align_face
from facecanvas.masks import face_region, part_masks, union
from facecanvas.masks.skin import skin_like

from conftest import shared_path, white_outside_sharp_box


def luma(bgr):
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)


def dark_remnants(image, done, parts=None):
    """Fraction of filled face pixels much darker than the face's own skin (brow, lash, lip remnants).

    Counted inside the face outline (hair past it is not a remnant) and, if given, inside ``parts`` only.
    """
    t = done.transform
    s = t.size
    crop = luma(t.warp(image))
    pts = t.to_crop(done.face.landmarks)
    face = face_region(pts, (s, s))
    skin = face & ~union(part_masks(pts, (s, s), dilation_scale=1.5))
    ref = np.median(crop[skin])
    where = done.hole & cv2.erode(face.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    if parts:
        where &= union([done.masks[p] for p in parts])
    where = cv2.erode(where.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return float((crop[where] < 0.65 * ref).mean())


def test_pixels_outside_the_mask_are_unchanged(astronaut_bgr, analyzer):
    before = astronaut_bgr.copy()
    r = erase(astronaut_bgr, analyzer=analyzer)
    assert np.array_equal(astronaut_bgr, before), "the input array must not be modified"
    outside = r.mask == 0
    assert np.array_equal(r.image[outside], astronaut_bgr[outside])
    changed = np.any(r.image != astronaut_bgr, axis=-1)
    assert changed.sum() > 1000 and not changed[outside].any()


def test_no_dark_brow_eye_or_lip_remnants(astronaut_bgr, analyzer):
    r = erase(astronaut_bgr, analyzer=analyzer)
    assert dark_remnants(astronaut_bgr, r.faces[0]) > 0.05  # the original has dark eyes, brows, lips
    assert dark_remnants(r.image, r.faces[0]) < 0.005


def test_only_the_chosen_parts_change(astronaut_bgr, analyzer, astronaut_face):
    r = erase(astronaut_bgr, ("brows",), faces=[astronaut_face])
    assert set(r.faces[0].masks) == {"brows"}
    # The mouth is untouched, and the eyes are still there (dark irises inside the eye regions).
    lips = astronaut_face.points("lips")
    x0, y0 = lips.min(0).astype(int)
    x1, y1 = lips.max(0).astype(int)
    assert np.array_equal(r.image[y0:y1, x0:x1], astronaut_bgr[y0:y1, x0:x1])
    eyes = erase(astronaut_bgr, ("eyes",), faces=[astronaut_face]).faces[0]
    eyes.hole = eyes.masks["eyes"]
    assert dark_remnants(r.image, eyes) > 0.05
    assert dark_remnants(r.image, r.faces[0]) < 0.005


def _crop_skin_hole(image, done):
    """The aligned crop, its clean skin (skin-coloured, away from every part) and the filled hole's inside."""
    t = done.transform
    s = t.size
    crop = t.warp(image)
    pts = t.to_crop(done.face.landmarks)
    skin = face_region(pts, (s, s)) & ~union(part_masks(pts, (s, s), dilation_scale=1.5))
    skin &= skin_like(crop, skin)
    skin = cv2.erode(skin.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    inner = cv2.erode(done.hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return crop, skin, inner


def test_fill_matches_surrounding_skin_colour(astronaut_bgr, analyzer):
    r = erase(astronaut_bgr, analyzer=analyzer)
    crop, skin, hole = _crop_skin_hole(r.image, r.faces[0])
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    assert np.abs(np.median(lab[hole], 0) - np.median(lab[skin], 0)).max() < 10


def test_fill_keeps_skin_grain(astronaut_bgr, analyzer):
    """In the aligned crop, the fill's fine detail is close to the face's own skin; diffusion is flat."""
    done = erase(astronaut_bgr, analyzer=analyzer).faces[0]
    crop, skin, hole = _crop_skin_hole(astronaut_bgr, done)

    def highpass_rms(img, where):
        g = luma(img)
        return float(np.sqrt(((g - cv2.GaussianBlur(g, (0, 0), 1.0))[where] ** 2).mean()))

    truth = highpass_rms(crop, skin)
    ours = highpass_rms(inpaint(crop, done.hole, "clone", skin), hole) / truth
    telea = highpass_rms(inpaint(crop, done.hole, "telea"), hole) / truth
    assert 0.55 < ours < 1.4
    assert telea < 0.5


def test_no_face_returns_the_image_unchanged(analyzer):
    img = np.full((200, 300, 3), 90, np.uint8)
    r = erase(img, analyzer=analyzer)
    assert r.faces == [] and np.array_equal(r.image, img) and not r.mask.any()


def test_every_face_in_a_group_photo_is_erased(analyzer):
    img = cv2.imread(str(shared_path("wild", "face_recognition", "two_people.jpg")))
    faces = analyzer.detect(img)
    r = erase(img, faces=faces)
    assert len(r.faces) == len(faces) >= 2
    for done in r.faces:
        assert dark_remnants(r.image, done) < 0.02


SHARED_FACES = ["00000", "00010", "00020", "00030", "00040", "00050"]


@pytest.mark.parametrize("stem", SHARED_FACES)
def test_shared_celebahq_faces_come_out_blank(analyzer, stem):
    folder = shared_path("faces", "celebamaskhq", "train", "images")
    files = sorted(folder.glob("*.jpg"))
    path = files[int(stem) % len(files)]
    img = cv2.imread(str(path))
    faces = analyzer.detect(img)
    assert faces, f"no face in {path.name}"
    r = erase(img, faces=faces[:1])
    assert np.array_equal(r.image[r.mask == 0], img[r.mask == 0])
    # Beards legitimately stay dark around the mouth: the check is on brows and eyes.
    assert dark_remnants(r.image, r.faces[0], ("brows", "eyes")) < 0.02, path.name


def test_max_size_caps_the_working_crop_and_still_erases(astronaut_bgr, analyzer):
    big = cv2.resize(astronaut_bgr, (1536, 1536), interpolation=cv2.INTER_CUBIC)
    faces = analyzer.detect(big)
    full = erase(big, faces=faces)
    fast = erase(big, faces=faces, max_size=256)
    assert full.faces[0].transform.size > 256 and fast.faces[0].transform.size == 256
    assert dark_remnants(fast.image, fast.faces[0]) < 0.005
    outside = fast.mask == 0
    assert np.array_equal(fast.image[outside], big[outside])


def test_erase_face_without_paste_leaves_the_image_and_hands_back_the_composite(astronaut_bgr, astronaut_face):
    from facecanvas.blend import paste_back
    from facecanvas.eraser import blank_face, erase_face

    image = astronaut_bgr.copy()
    done = blank_face(image, astronaut_face, whole=False)  # as erase_face (whole=True: see the face box test)
    assert np.array_equal(image, astronaut_bgr) and done.alpha is None
    assert done.crop_alpha.shape == done.hole.shape and done.crop_alpha.max() == pytest.approx(1.0)
    # Pasting what it handed back gives exactly what the pasting call writes.
    pasted = astronaut_bgr.copy()
    paste_back(pasted, done.blank, done.crop_alpha, done.transform)
    direct = astronaut_bgr.copy()
    erase_face(direct, astronaut_face)
    assert np.array_equal(pasted, direct)


def test_harmonic_fill_takes_gray_and_colour_images():
    from facecanvas.inpaint.harmonic import harmonic_fill

    ramp = np.tile(np.linspace(0, 100, 50, dtype=np.float32), (40, 1))  # a plane is harmonic
    hole = np.zeros((40, 50), bool)
    hole[10:30, 10:40] = True
    gray = harmonic_fill(ramp, hole)  # single-channel input used to fail in the pyramid
    colour = harmonic_fill(np.dstack([ramp] * 3), hole)
    assert gray.shape == ramp.shape and colour.shape == (40, 50, 3)
    assert np.abs(gray - ramp)[hole].max() < 1.0 and np.abs(colour[..., 1] - ramp)[hole].max() < 1.0


@pytest.mark.parametrize("size", [(200, 200), (300, 280), (199, 301), (64, 90)])
def test_clone_fill_works_at_any_image_size(astronaut_bgr, size):
    # OpenCV's area resize takes at most 4 channels off an exact halving; the two-membrane solve has 6.
    h, w = size
    img = cv2.resize(astronaut_bgr[:300, 100:400], (w, h), interpolation=cv2.INTER_AREA)
    hole = np.zeros((h, w), bool)
    hole[h // 3: h // 2, w // 3: 2 * w // 3] = True
    out = inpaint(img, hole, method="clone")
    assert out.shape == img.shape and np.array_equal(out[~hole], img[~hole])
    assert abs(float(out[hole].mean()) - float(img[~hole].mean())) < 60


@pytest.mark.parametrize("parts", [("brows", "eyes", "nose", "mouth"), ("brows",), ("eyes", "mouth")])
def test_erase_reads_only_the_face_box_of_its_crop(astronaut_bgr, astronaut_face, monkeypatch, parts):
    # erase_face resamples its crop sharply (cubic) only where it reads (clone_reads) and bilinearly elsewhere. That is
    # only safe while nothing outside the box reaches the result: with white outside it, the erase must match
    # one made from a crop resampled sharply all over (to 2 levels: the box's own warp rounds a little apart).
    from facecanvas import eraser as E
    from facecanvas.blend import paste_back

    big = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC)  # crop at 512, cubic
    face = E.FaceAnalyzer().analyze(big).faces[0]
    settings = E.EraseSettings(parts)
    whole = E.blank_face(big, face, settings)
    expected = big.copy()
    paste_back(expected, whole.blank, whole.crop_alpha, whole.transform)
    white_outside_sharp_box(monkeypatch)
    got = big.copy()
    done = E.erase_face(got, face, settings)
    assert done.transform.interpolation == cv2.INTER_CUBIC and done.transform.size > E.PLAN_SIZE
    assert np.abs(got.astype(int) - expected).max() <= 2
    assert np.mean(got != expected) < 0.002


def test_clone_fill_clamps_grain_like_numpy():
    from facecanvas.inpaint.methods import _clamp, _grain_limit

    rng = np.random.default_rng(3)
    x = rng.normal(0, 9, (40, 30, 3)).astype(np.float32)
    for lim in (np.array([4.0, 7.5, 12.0]), 5.0, np.inf):
        got = _clamp(x, lim)
        assert got.shape == x.shape and np.array_equal(got, np.clip(x, -lim, lim).astype(np.float32))
    g = x[..., :1]
    assert np.array_equal(_clamp(g, np.array([3.0])), np.clip(g, -3.0, 3.0))
    sample = rng.random((40, 30)) > 0.5
    ref = x[sample][:: max(1, sample.sum() // 4000)]
    expected = 3.0 * 1.4826 * np.median(np.abs(ref - np.median(ref, 0)), 0) + 1e-3
    assert np.allclose(_grain_limit(x, sample), expected)
    assert _grain_limit(x, np.zeros((40, 30), bool)) == np.inf


def test_clone_render_reads_nothing_outside_clone_reads(astronaut_bgr, astronaut_face):
    # The eraser resamples its crop sharply only inside clone_reads' box: outside it, the render must not look.
    from facecanvas import eraser as E
    from facecanvas.inpaint.methods import clone_reads, plan_clone, render_clone

    small = align_face(astronaut_face.five_points(), 128)
    crop = small.warp(astronaut_bgr)
    pts = small.to_crop(astronaut_face.landmarks)
    hole, _, source, known, edge, *_ = E._plan_masks(crop, pts, E.PARTS)
    plan = plan_clone(crop, hole, source, known, edge=edge)
    big = align_face(astronaut_face.five_points(), 384).warp(astronaut_bgr)
    hole384 = cv2.resize(hole.astype(np.uint8), (384, 384), interpolation=cv2.INTER_LINEAR) > 0
    x0, y0, x1, y1 = clone_reads(plan, hole, 384)
    assert 0 < x1 - x0 < 384 and 0 < y1 - y0 < 384
    white = np.full_like(big, 255)
    white[y0:y1, x0:x1] = big[y0:y1, x0:x1]
    assert np.array_equal(render_clone(white, hole384, plan)[hole384], render_clone(big, hole384, plan)[hole384])


def test_a_planned_fill_without_reads_is_still_driven_as_planned(astronaut_bgr, astronaut_face):
    # PlannedFill.reads is optional: a fill that has only plan and render gets the face box resampled sharply.
    from facecanvas import eraser as E
    from facecanvas.inpaint import PlannedFill
    from facecanvas.inpaint.fills import CloneFill

    inner = CloneFill()

    class Minimal:
        name, crop_size = "minimal", None
        fill, plan, render = inner.fill, inner.plan, inner.render

    assert isinstance(Minimal(), PlannedFill) and not hasattr(Minimal(), "reads")
    big = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    face = E.FaceAnalyzer().analyze(big).faces[0]
    a, b = big.copy(), big.copy()
    E.erase_face(a, face, E.EraseSettings(fill=Minimal()))
    E.erase_face(b, face, E.EraseSettings())
    assert np.abs(a.astype(int) - b).max() <= 2 and not np.array_equal(a, big)


@pytest.mark.parametrize("stem", ["00013", "00019"])
def test_no_fold_is_taken_next_to_a_part_that_stays(analyzer, monkeypatch, stem):
    """Erasing eyes, brows and mouth but keeping the nose (as comic does): the folds taken into the hole stop
    FOLD_KEPT_MARGIN short of the nose (a fold cut off at it left a light blocky patch beside it)."""
    import facecanvas.eraser as E
    from facecanvas.masks import part_mask
    from facecanvas.masks.parts import interocular

    img = cv2.imread(str(shared_path("faces", "celebahq512", f"{stem}.jpg")))
    face = analyzer.detect(img)[0]
    t = align_face(face.five_points(), E.PLAN_SIZE)
    crop, pts = t.warp(img), t.to_crop(face.landmarks)
    labels = E.trusted_labels(E.EraseSettings().face_parser, img, face)
    labels = None if labels is None else E._resize_labels(labels, E.PLAN_SIZE)
    parts = ("brows", "eyes", "mouth")
    monkeypatch.setattr(E, "_slivers", lambda hole, *a, **k: np.zeros_like(hole))  # (they follow the hole)

    def hole_with_margin(margin):
        monkeypatch.setattr(E, "FOLD_KEPT_MARGIN", margin)
        return E._plan_masks(crop, pts, parts, labels)[0]

    shipped, barely = hole_with_margin(E.FOLD_KEPT_MARGIN), hole_with_margin(0.0)
    monkeypatch.setattr(E, "_folds", lambda crop, hole, *a, **k: np.zeros_like(hole))
    without = E._plan_masks(crop, pts, parts, labels)[0]
    s = E.PLAN_SIZE
    r = int(round(0.1 * interocular(pts)))
    near = cv2.dilate(part_mask(pts, "nose", (s, s)).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    assert (barely & ~without & near).any()  # these faces have folds running on to the nose
    assert (shipped & ~without).any()  # folds are still taken elsewhere
    assert not (shipped & ~without & near).any()


def test_clone_fill_carries_the_border_grain_into_the_holes_edge(monkeypatch):
    # Grain correlated over a pixel or two: next to the border the border predicts it, a cloned grain does not.
    from facecanvas.inpaint import methods

    rng = np.random.default_rng(4)
    grain = cv2.GaussianBlur(rng.normal(0, 12, (128, 128)).astype(np.float32), (0, 0), 1.2)
    img = np.clip(150 + grain[..., None] * np.array([1.0, 0.9, 0.8]), 0, 255).astype(np.uint8)
    hole = np.zeros((128, 128), bool)
    hole[40:88, 36:92] = True
    edge = hole & ~cv2.erode(hole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)

    def edge_error():
        out = methods.clone_fill(img, hole)
        assert np.array_equal(out[~hole], img[~hole])
        return float(np.mean((out[edge].astype(float) - img[edge]) ** 2))

    carried = edge_error()
    monkeypatch.setattr(methods, "BORDER_GRAIN", False)
    cloned = edge_error()
    assert carried < 0.85 * cloned

"""AR effects on real faces: geometry re-measured on the output, seams, stickers, yaw gate, every face."""

import cv2
import numpy as np
import pytest

from facecanvas import apply_effect
from facecanvas.ops.effect import EffectOperation, EffectOptions
from facecanvas.effects.measure import find_eyes, find_part, inner_spread, mesh_scale, nose_position, seam_score

from conftest import run_cli, shared_path, white_outside_sharp_box

# Frontal CelebA-HQ faces without glasses, varied in sex, skin and light (internal data: skipped if absent).
CELEBA = ("00015.jpg", "00021.jpg", "00030.jpg", "00045.jpg", "00071.jpg")


def celeba(name):
    return cv2.imread(str(shared_path("faces", "celebahq512", name)), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module", params=("astronaut",) + CELEBA)
def subject(request, analyzer, astronaut_bgr):
    img = astronaut_bgr if request.param == "astronaut" else celeba(request.param)
    faces = analyzer.detect(img)
    assert faces, request.param
    return img, faces[0]


def redetect(analyzer, image):
    faces = analyzer.detect(image)
    assert len(faces) == 1, "the effect's output must still be one detectable face"
    return faces[0]


# ----------------------------------------------------------------------------------------- geometry

@pytest.mark.parametrize("mouth_scale, eye_scale", [(None, None), (1.3, 0.8)])
def test_comic_mouth_grows_by_the_configured_factor_and_eyes_shrink(analyzer, subject, mouth_scale, eye_scale):
    img, face = subject
    params = {} if mouth_scale is None else {"mouth_scale": mouth_scale, "eye_scale": eye_scale}
    want = mouth_scale or 1.5
    out = apply_effect(img, "comic", faces=[face], **params).image
    after = redetect(analyzer, out)
    mouth = find_part(img, out, face, after, "mouth")
    assert mouth.score > 0.5, "the original mouth must be found again"
    assert abs(mouth.scale / want - 1) <= 0.10, (mouth.scale, want)
    # The mesh alone under-reads the change (its shape prior), but it agrees on the direction.
    assert mesh_scale(face, after, "mouth") > 1.0
    for eye in ("right_eye", "left_eye"):
        m = find_part(img, out, face, after, eye)
        assert m.scale < 0.9, (eye, m.scale)


def test_mono_eye_leaves_exactly_one_eye_above_the_nose(analyzer, subject):
    img, face = subject
    assert len(find_eyes(img, img, face, face)) == 2  # the counter sees both eyes of the original
    out = apply_effect(img, "mono-eye", faces=[face]).image
    after = redetect(analyzer, out)
    eyes = find_eyes(img, out, face, after)
    assert len(eyes) == 1, [(e.position.tolist(), e.score) for e in eyes]
    eye, nose = eyes[0], nose_position(after, face)
    assert abs(eye.position[0] - nose[0]) < 0.5 * eye.iod  # centred over the nose
    assert eye.position[1] < nose[1] - 0.4 * eye.iod  # above it


@pytest.mark.parametrize("scale", [0.75, 0.85])
def test_small_face_shrinks_the_inner_face_by_the_configured_factor(analyzer, subject, scale):
    img, face = subject
    out = apply_effect(img, "small-face", faces=[face], scale=scale).image
    ratio = inner_spread(redetect(analyzer, out)) / inner_spread(face)
    assert abs(ratio / scale - 1) <= 0.10, (ratio, scale)


def test_toonized_eyes_grow_and_eyebrowless_keeps_the_eyes(analyzer, astronaut_bgr, astronaut_face):
    img, face = astronaut_bgr, astronaut_face
    out = apply_effect(img, "toonized", faces=[face]).image
    after = redetect(analyzer, out)
    assert find_part(img, out, face, after, "right_eye").scale > 1.2
    assert find_part(img, out, face, after, "mouth").scale > 1.05
    out = apply_effect(img, "eyebrowless", faces=[face]).image
    assert len(find_eyes(img, out, face, redetect(analyzer, out))) == 2
    brows = np.zeros(img.shape[:2], np.uint8)
    for side in ("left_brow", "right_brow"):
        cv2.fillConvexPoly(brows, cv2.convexHull(face.points(side).astype(np.int32)), 1)
    def structure(a):  # brow hairs are edges; the blank skin that replaces them has only grain
        g = cv2.GaussianBlur(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 1.0)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[brows > 0].mean()

    assert structure(out) < 0.6 * structure(img)


def test_strength_zero_is_the_original_and_half_is_half(analyzer, astronaut_bgr, astronaut_face):
    img, face = astronaut_bgr, astronaut_face
    assert np.array_equal(apply_effect(img, "comic", faces=[face], strength=0.0).image, img)
    out = apply_effect(img, "comic", faces=[face], strength=0.5).image
    m = find_part(img, out, face, redetect(analyzer, out), "mouth")
    assert abs(m.scale - 1.25) <= 0.1, m.scale


# ----------------------------------------------------------------------------------------- seams

def _donor_only(blend):
    return {"name": f"transplant-{blend}", "erase": ["eyes", "nose", "mouth"],
            "paste": [{"part": ["left_eye", "right_eye"], "source": "donor", "blend": blend},
                      {"part": "nose", "source": "donor", "blend": blend},
                      {"part": "mouth", "source": "donor", "blend": blend}]}


@pytest.mark.parametrize("name", CELEBA[:4])
def test_seams_are_as_smooth_as_the_faces_own_skin(analyzer, name):
    img = celeba(name)
    face = analyzer.detect(img)[0]
    for effect in ("comic", "mono-eye", "small-face", "toonized"):
        r = apply_effect(img, effect, faces=[face])
        score = seam_score(img, r.image, r.faces[0])
        assert score is not None and score.ratio < 1.8, (effect, score)
    # The measure has teeth: parts from a darker copy of the face, pasted with a plain feathered alpha,
    # leave a seam it sees; pasted with Poisson blending they do not.
    darker = (img * 0.7).astype(np.uint8)
    naive = apply_effect(img, _donor_only("alpha"), faces=[face], donor=darker)
    seamless = apply_effect(img, _donor_only("poisson"), faces=[face], donor=darker)
    naive_ratio = seam_score(img, naive.image, naive.faces[0]).ratio
    seamless_ratio = seam_score(img, seamless.image, seamless.faces[0]).ratio
    assert seamless_ratio < 1.8 and naive_ratio > max(2.0, 1.5 * seamless_ratio), (naive_ratio, seamless_ratio)


# ----------------------------------------------------------------------------------------- stickers

RED = np.array([0, 0, 255])


@pytest.fixture(scope="module")
def sticker_effect(tmp_path_factory):
    """A 300x60 RGBA bar: opaque red, then half-transparent red, then fully transparent."""
    d = tmp_path_factory.mktemp("sticker")
    bar = np.zeros((60, 300, 4), np.uint8)
    bar[..., :3] = RED
    bar[:, :100, 3] = 255
    bar[:, 100:200, 3] = 128
    cv2.imwrite(str(d / "bar.png"), bar)
    (d / "bar.toml").write_text('name = "bar"\nerase = []\n[[sticker]]\nimage = "bar.png"\n'
                                'anchor = "forehead"\nwidth = 1.5\n')
    return str(d / "bar.toml")


def _roll(image, degrees):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 3), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def _opaque_red(out):
    return np.all(np.abs(out.astype(int) - RED) <= 2, axis=-1)


def test_sticker_alpha_is_respected(analyzer, astronaut_bgr, sticker_effect):
    img = astronaut_bgr
    face = analyzer.detect(img)[0]
    out = apply_effect(img, sticker_effect, faces=[face]).image
    opaque = _opaque_red(out) & ~_opaque_red(img)
    assert opaque.sum() > 100
    changed = np.any(out != img, axis=-1)
    # Opaque pixels replace the face, half-transparent ones mix 50/50, transparent ones change nothing.
    ys, xs = np.nonzero(opaque)
    cy, x_end = int(np.median(ys)), xs.max()
    third = (xs.max() - xs.min() + 1)  # on screen, each third of the bar is about this wide
    half = out[cy, x_end + third // 4: x_end + 3 * third // 4].astype(float)
    under = img[cy, x_end + third // 4: x_end + 3 * third // 4].astype(float)
    assert np.abs(half - (0.5 * RED + 0.5 * under)).max() <= 3
    clear = slice(x_end + third + third // 4, x_end + 2 * third - third // 4)
    assert not changed[cy - 3:cy + 4, clear].any()
    # Nothing outside the bar changes at all.
    assert changed.sum() < 3 * opaque.sum()


def _bar_angle(mask):
    ys, xs = np.nonzero(mask)
    pts = np.column_stack([xs, ys]).astype(float)
    pts -= pts.mean(0)
    vals, vecs = np.linalg.eigh(pts.T @ pts)
    v = vecs[:, np.argmax(vals)]
    return np.degrees(np.arctan2(v[1], v[0])) % 180


def _eye_angle(face):
    e = face.eye_centers()
    return np.degrees(np.arctan2(*(e[1] - e[0])[::-1])) % 180


@pytest.mark.parametrize("roll", [0, 25, -20])
def test_sticker_follows_the_head(analyzer, astronaut_bgr, sticker_effect, roll):
    img = _roll(astronaut_bgr, roll)
    face = analyzer.detect(img)[0]
    out = apply_effect(img, sticker_effect, faces=[face]).image
    bar = _opaque_red(out) & ~_opaque_red(img)
    diff = abs((_bar_angle(bar) - _eye_angle(face) + 90) % 180 - 90)
    assert diff < 3, (roll, _bar_angle(bar), _eye_angle(face))
    # Anchored on the forehead: the bar's first third sits above the eyes, between the brows and hairline.
    cx, cy = np.argwhere(bar)[:, ::-1].mean(0)
    eyes = face.eye_centers().mean(0)
    up = np.array([np.sin(np.radians(-roll)), -np.cos(np.radians(-roll))])
    assert 0.5 * face.interocular < (np.array([cx, cy]) - eyes) @ up < 2.0 * face.interocular


# ----------------------------------------------------------------------------------------- faces

def test_every_face_gets_the_effect(analyzer):
    img = cv2.imread(str(shared_path("wild", "deepface", "selfie-many-people.jpg")))
    faces = analyzer.detect(img)
    assert len(faces) >= 4
    r = apply_effect(img, "comic", analyzer=analyzer)
    assert len(r.faces) + len(r.skipped) == len(faces)
    assert len(r.faces) == sum(abs(f.pose.yaw) <= 35 for f in faces)
    for done in r.faces:
        lips = done.face.points("lips")
        x0, y0 = lips.min(0).astype(int)
        x1, y1 = lips.max(0).astype(int)
        assert np.any(r.image[y0:y1, x0:x1] != img[y0:y1, x0:x1])


def test_faces_turned_too_far_are_left_alone_with_a_warning(analyzer):
    img = cv2.imread(str(shared_path("wild", "ultralight", "24.jpg")))
    faces = analyzer.detect(img)
    turned = [f for f in faces if abs(f.pose.yaw) > 35]
    assert turned, "this photo has faces turned far to the side"
    r = apply_effect(img, "mono-eye", faces=turned)
    assert r.faces == [] and len(r.skipped) == len(turned) == len(r.warnings)
    assert np.array_equal(r.image, img)
    assert all("yaw" in w and "left unchanged" in w for w in r.warnings)


def test_yaw_limit_comes_from_the_effect_file(astronaut_bgr, astronaut_face):
    spec = {"name": "strict", "max_yaw": 0.1, "paste": [{"part": "mouth", "scale": 1.4}]}
    r = apply_effect(astronaut_bgr, spec, faces=[astronaut_face])
    assert r.skipped and np.array_equal(r.image, astronaut_bgr)


def test_transplant_uses_the_donors_parts(analyzer, astronaut_bgr, astronaut_face):
    donor = celeba(CELEBA[0])
    donor_face = analyzer.detect(donor)[0]
    out = apply_effect(astronaut_bgr, "transplant", faces=[astronaut_face], donor=donor, analyzer=analyzer).image
    after = redetect(analyzer, out)
    scales = np.arange(0.7, 1.4, 0.02)
    from_donor = find_part(astronaut_bgr, out, astronaut_face, after, "mouth", scales,
                           template_from=(donor, donor_face))
    own = find_part(astronaut_bgr, out, astronaut_face, after, "mouth", scales)
    assert from_donor.score > 0.6 and from_donor.score > own.score + 0.1, (from_donor.score, own.score)


def test_effect_op_is_a_per_frame_operation(analyzer, astronaut_bgr, astronaut_face):
    op = EffectOperation(EffectOptions(effect="toonized", crop_size=256), analyzer=analyzer)
    before = astronaut_bgr.copy()
    out = op(astronaut_bgr, [astronaut_face])
    assert out.shape == before.shape and out.dtype == np.uint8
    assert np.array_equal(astronaut_bgr, before), "the input frame must not be modified"
    assert np.any(out != before)
    assert np.array_equal(op(astronaut_bgr, []), astronaut_bgr)  # no faces: the frame as it was


def test_occluded_eyes_behind_glasses_still_give_an_output(analyzer):
    """Glasses: the frames inside the part regions are erased and moved with the eyes (see README);
    the effect still runs and the seams stay smooth."""
    img = celeba("00004.jpg")
    face = analyzer.detect(img)[0]
    r = apply_effect(img, "comic", faces=[face])
    assert r.faces and seam_score(img, r.image, r.faces[0]).ratio < 2.0


# ----------------------------------------------------------------------------------------- CLI

def test_cli_effect_and_gallery(tmp_path, astronaut_bgr):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    out = tmp_path / "comic.jpg"
    r = run_cli("effect", "comic", photo, "-o", out, "--set", "mouth_scale=1.6", "--strength", "0.8")
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(out)).shape == astronaut_bgr.shape
    sheet = tmp_path / "sheet.png"
    r = run_cli("gallery", photo, "-o", sheet, "--tile", "128", "--cols", "4")
    assert r.returncode == 0, r.stderr
    s = cv2.imread(str(sheet))
    assert s.shape[1] == 4 * 128 + 5 * 6 and s.shape[0] > 2 * 128  # original, blank and 5 effects
    r = run_cli("effect", "transplant", photo, "-o", tmp_path / "t.png")
    assert r.returncode == 2 and "--donor" in r.stderr and not (tmp_path / "t.png").exists()


@pytest.mark.parametrize("name", ["comic", "small-face", "eyebrowless"])
def test_effects_read_only_the_face_box_of_their_crop(astronaut_bgr, monkeypatch, name):
    # Effects resample their crop sharply only over eraser.fill_box (the rest bilinearly): nothing outside it
    # may reach the output. With white outside the box, the output must match one made from a crop resampled
    # sharply all over, to the few levels by which the box's own warp rounds apart (Poisson pastes spread them).
    from facecanvas import FaceAnalyzer
    import facecanvas.effects.compose as compose

    big = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC)  # a 512 px cubic crop
    faces = FaceAnalyzer().analyze(big).faces
    blank_face = compose.blank_face
    monkeypatch.setattr(compose, "blank_face", lambda *a, **k: blank_face(*a, **{**k, "whole": True}))
    expected = apply_effect(big, name, faces=faces).image
    monkeypatch.setattr(compose, "blank_face", blank_face)
    white_outside_sharp_box(monkeypatch)
    got = apply_effect(big, name, faces=faces).image
    diff = np.abs(got.astype(int) - expected).max(-1)
    assert diff.max() <= 8 and np.mean(diff > 2) < 1e-4

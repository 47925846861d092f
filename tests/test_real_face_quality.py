"""The eraser and effects on real faces: what the face parser calls hair or glasses stays on top, untouched;
no grey band where eyebrowless took the brows; no bright ring around a pasted eye.

The first tests need no data: a stand-in parser labels a patch over the brows as hair (or glasses) on the
bundled astronaut. The others use held-out CelebAMask-HQ faces (internal data, ../shared; skipped without it)
with their ground-truth labels served as the parser (``OracleParser``), so they check the eraser's use of the
labels, and with the shipped parser where it fits the face.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecanvas.analysis.align import align_face
from facecanvas.eraser import EraseSettings, blank_face, erase_face, trusted_labels
from facecanvas.masks.face_parser import BROWS, EYES, GLASSES, HAIR, LIPS, NOSE, SKIN
from facecanvas.masks.parts import part_masks

from conftest import shared_path

CELEBAMASK = ("faces", "celebamaskhq", "train")


class PatchParser:
    """Landmark-shaped labels (skin, parts) with one extra class painted over part of the brows."""

    input_size = 256

    def __init__(self, face, cls: int, frac: float = 0.5):
        self.face, self.cls, self.frac = face, cls, frac

    def parse(self, crop):
        s = crop.shape[0]
        t = align_face(self.face.five_points(), s)
        pts = t.to_crop(self.face.landmarks)
        lab = np.zeros((s, s), np.uint8)
        from facecanvas.masks import face_region

        lab[face_region(pts, (s, s))] = SKIN
        for part, cls in (("nose", NOSE), ("brows", BROWS), ("eyes", EYES), ("mouth", LIPS)):
            lab[part_masks(pts, (s, s), (part,), dilation_scale=0.3)[part]] = cls
        brows = part_masks(pts, (s, s), ("brows",), dilation_scale=1.5)["brows"]
        ys, xs = np.nonzero(brows)
        cut = xs.min() + self.frac * (xs.max() - xs.min())
        patch = brows & (np.arange(s)[None, :] < cut)  # the subject's right brow and its surroundings
        lab[patch] = self.cls
        return lab


def _image_mask(face, crop_mask: np.ndarray, shape) -> np.ndarray:
    t = align_face(face.five_points(), crop_mask.shape[0])
    return cv2.warpAffine(crop_mask.astype(np.uint8), t.inverse, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


@pytest.mark.parametrize("cls", [HAIR, GLASSES])
def test_occluder_over_the_brows_stays_untouched(astronaut_bgr, astronaut_face, cls):
    parser = PatchParser(astronaut_face, cls)
    assert trusted_labels(parser, astronaut_bgr, astronaut_face) is not None
    out = astronaut_bgr.copy()
    done = erase_face(out, astronaut_face, EraseSettings(parser=parser))
    patch = parser.parse(np.zeros((256, 256, 3), np.uint8)) == cls
    # The occluder's inside (the boundary moves by a pixel in the resampling) is exactly as it was.
    inner = _image_mask(astronaut_face, cv2.erode(patch.astype(np.uint8), np.ones((5, 5), np.uint8)), out.shape)
    assert inner.sum() > 200
    assert np.array_equal(out[inner], astronaut_bgr[inner])
    assert done.alpha[inner].max() == 0
    # The other brow is still erased.
    other = _image_mask(astronaut_face, parser.parse(np.zeros((256, 256, 3), np.uint8)) == BROWS, out.shape) & ~inner
    assert np.abs(out[other].astype(int) - astronaut_bgr[other]).max(-1).mean() > 8
    if cls == GLASSES:
        out2 = astronaut_bgr.copy()
        erase_face(out2, astronaut_face, EraseSettings(parser=parser, remove_glasses=True))
        changed = np.abs(out2[inner].astype(int) - astronaut_bgr[inner]).max(-1) > 12
        assert changed.mean() > 0.5


def test_no_parser_is_the_landmark_eraser(astronaut_bgr, astronaut_face):
    a, b = astronaut_bgr.copy(), astronaut_bgr.copy()
    erase_face(a, astronaut_face, EraseSettings(parser=None))
    erase_face(b, astronaut_face, EraseSettings(parser=PatchParser(astronaut_face, SKIN)))
    # A parser that sees only skin and parts changes nothing about what is erased.
    assert np.abs(a.astype(int) - b).max(-1).mean() < 1.0


def test_a_parser_that_fails_is_not_trusted(astronaut_bgr, astronaut_face):
    class Wrong:
        input_size = 128

        def parse(self, crop):
            return np.full(crop.shape[:2], HAIR, np.uint8)

    assert trusted_labels(Wrong(), astronaut_bgr, astronaut_face) is None
    out = astronaut_bgr.copy()
    done = erase_face(out, astronaut_face, EraseSettings(parser=Wrong()))
    assert done.labels is None and (done.alpha > 0).sum() > 1000


def _valley_depth(bgr, face, parts=("mouth", "nose"), q=99):
    """The q-th percentile, within 0.35 iod of ``parts`` in the inner face, of how far the skin's lightness
    lies below its broad shading: folds and creases (a dent in a blank face) score high, flat skin near 0."""
    from facecanvas.inpaint.harmonic import masked_blur
    from facecanvas.masks import face_region
    from facecanvas.masks.parts import interocular

    s = 256
    t = align_face(face.five_points(), s)
    pts = t.to_crop(face.landmarks)
    iod = interocular(pts)
    disk = lambda d: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(d) | 1,) * 2)  # noqa: E731
    oval = face_region(pts, (s, s))
    inner = cv2.erode(oval.astype(np.uint8), disk(0.3 * iod)).astype(bool)
    core = np.any([m for m in part_masks(pts, (s, s), parts, dilation_scale=0.0).values()], axis=0)
    ring = cv2.dilate(core.astype(np.uint8), disk(0.7 * iod)).astype(bool) & inner
    light = cv2.cvtColor(t.warp(bgr, cv2.INTER_LINEAR), cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    fine = cv2.GaussianBlur(light, (0, 0), 0.03 * iod)
    return float(np.percentile((masked_blur(light, oval, 0.25 * iod) - fine)[ring], q))


def test_no_dents_where_smile_folds_met_the_mouth(astronaut_bgr, astronaut_face):
    # Her smile folds lay in the margin the part masks leave around the mouth: kept, they ended at the fill
    # as two dark crescents (99th percentile 25.7 levels before the folds were looked for there).
    out = astronaut_bgr.copy()
    erase_face(out, astronaut_face)
    assert _valley_depth(astronaut_bgr, astronaut_face) > 40  # the folds are there to begin with
    assert _valley_depth(out, astronaut_face) < 20


def test_folds_in_the_margin_are_taken_but_a_lit_cheek_is_not():
    from facecanvas.eraser import _folds

    s, iod = 128, 30.0
    crop = np.full((s, s, 3), 170, np.uint8)
    hole = np.zeros((s, s), bool)
    hole[40:80, 40:70] = True
    known = np.ones((s, s), bool)
    known[36:84, 36:74] = False  # the margin round the parts that the skin model leaves out
    skin = np.ones((s, s), bool)
    crop[40:80, 71:73] = 120  # a dark fold just outside the hole, in the margin
    crop[40:80, 26:39] = 200  # a broad lit cheek on the other side, reaching into the margin
    got = _folds(crop, hole, known, iod, skin)
    assert got[45:75, 71:73].mean() > 0.9
    assert got[45:75, 26:39].mean() < 0.1
    assert not _folds(crop, hole, known, iod)[45:75, 71:73].any()  # the margin unseen: the old behaviour


def test_thin_skin_between_two_arms_of_the_fill_is_filled_but_not_beside_hair():
    from facecanvas.eraser import _slivers

    s, iod = 128, 30.0
    hole = np.zeros((s, s), bool)
    hole[50:90, 20:60] = True
    hole[50:90, 62:100] = True  # two arms 2 px apart (the brows' holes under a fringe's dip)
    kept = np.zeros((s, s), bool)
    kept[:48, :] = True  # a fringe 2 px above the hole
    skin = np.ones((s, s), bool)
    got = _slivers(hole, kept, skin, iod)
    assert got[55:85, 60:62].all()
    assert not got[:50].any()  # the strip under the fringe stays: the parser's hair edge is rough
    assert not got[:, 101:].any() and not (got & (hole | kept)).any()


def test_small_islands_of_glasses_or_hair_inside_the_face_are_erased_but_frames_stay():
    from facecanvas.eraser import _may_erase

    s = 256
    lab = np.full((s, s), HAIR, np.uint8)
    lab[40:220, 40:220] = SKIN
    lab[120:126, 124:130] = GLASSES  # a nose pad, cut off from its frame
    lab[70:74, 100:104] = HAIR  # the loose tip of a strand
    lab[90:96, 50:200] = GLASSES  # a frame across the face, and its lenses' rims
    lab[96:116, 60:66] = lab[96:116, 114:120] = lab[96:116, 130:136] = lab[96:116, 184:190] = GLASSES
    may = _may_erase(lab, remove_glasses=False)
    assert may[120:126, 124:130].all() and may[70:74, 100:104].all()
    assert not may[90:96, 60:190].any()
    assert not may[:30].any()  # the hair round the face stays


def test_a_few_glasses_pixels_by_the_eyes_are_the_parser_mistaking_lids_not_glasses():
    from facecanvas.eraser import _may_erase
    from facecanvas.masks.face_parser import GLASSES_MIN

    s = 160
    lab = np.full((s, s), HAIR, np.uint8)
    lab[20:150, 20:140] = SKIN
    lab[60:64, 45:70] = lab[60:64, 90:115] = GLASSES  # dark lids taken for frames (dark skin, eye shadow)
    assert (lab == GLASSES).mean() < GLASSES_MIN
    assert _may_erase(lab, remove_glasses=False)[60:64, 45:115].all()
    lab[55:80, 35:125] = GLASSES  # a real pair: lenses and bridge
    assert (lab == GLASSES).mean() > GLASSES_MIN
    assert not _may_erase(lab, remove_glasses=False)[58:77, 38:122].any()
    assert _may_erase(lab, remove_glasses=True)[55:80, 35:125].all()


# ------------------------------------------------------------------ held-out CelebAMask-HQ faces


@pytest.fixture(scope="module")
def held_out(analyzer):
    """The first 30 held-out faces (the parser never trained on them) and up to 3 more with glasses."""
    data = shared_path(*CELEBAMASK)
    from facecanvas.eval.blank_faces import read_bgr, read_parsing
    from facecanvas.eval.look_eval import C_GLASSES, held_out_stems

    stems = held_out_stems(data)
    with_glasses = [s for s in stems[30:] if (read_parsing(data / "masks" / f"{s}.png") == C_GLASSES).sum() > 2000]
    faces = []
    for stem in stems[:30] + with_glasses[:3]:
        img = read_bgr(data / "images" / f"{stem}.jpg")
        found = analyzer.detect(img)
        if found:
            faces.append((stem, img, read_parsing(data / "masks" / f"{stem}.png", img.shape), found[0]))
    assert len(faces) >= 28
    return faces


def _fringe(labels, face):
    from facecanvas.eval.look_eval import C_HAIR, PART_IDS, _disk

    near = cv2.dilate(np.isin(labels, PART_IDS).astype(np.uint8), _disk(0.25 * face.interocular)).astype(bool)
    return near & (labels == C_HAIR)


def test_fringe_is_unchanged_after_erase(held_out):
    from facecanvas.eval.look_eval import OracleParser, hair_repainted

    shares, before = [], []
    for stem, img, labels, face in held_out:
        if _fringe(labels, face).sum() < 300:
            continue
        for parser, out_list in ((OracleParser(labels, face), shares), (None, before)):
            out = img.copy()
            erase_face(out, face, EraseSettings(parser=parser))
            out_list.append(hair_repainted(img, out, labels, face.interocular))
        if len(shares) == 6:
            break
    assert len(shares) >= 4
    # Without the parser about a quarter of the fringe is painted over; with it, almost none.
    assert np.median(before) > 0.1
    assert np.median(shares) <= 0.03, shares


def test_glasses_stay_unless_removed(held_out):
    from facecanvas.eval.look_eval import C_GLASSES, OracleParser

    tried = 0
    for stem, img, labels, face in held_out:
        glasses = labels == C_GLASSES
        t = align_face(face.five_points(), 256)
        pts = t.to_crop(face.landmarks)
        eyes = _image_mask(face, part_masks(pts, (256, 256), ("eyes",))["eyes"], img.shape)
        frame = cv2.erode((glasses & eyes).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if frame.sum() < 150:
            continue
        tried += 1
        parser = OracleParser(labels, face)
        kept = img.copy()
        erase_face(kept, face, EraseSettings(parser=parser))
        removed = img.copy()
        erase_face(removed, face, EraseSettings(parser=parser, remove_glasses=True))
        diff_kept = np.abs(kept[frame].astype(int) - img[frame]).max(-1)
        diff_removed = np.abs(removed[frame].astype(int) - img[frame]).max(-1)
        assert (diff_kept > 12).mean() < 0.1, stem  # the frame's edge moves by a pixel in the resampling
        assert (diff_removed > 12).mean() > 0.3, stem
        if tried == 2:
            break
    if tried == 0:
        pytest.skip("no face with glasses over the eyes among the first held-out faces")


def test_no_brow_band_in_eyebrowless(held_out):
    from facecanvas.eval.look_eval import OracleParser, run_edit, score_edit

    ratios = []
    effects: dict = {}
    for stem, img, labels, face in held_out[:16]:
        out, alpha = run_edit("eyebrowless", img, face, OracleParser(labels, face), None, effects)
        if out is None:
            continue
        r = score_edit(img, out, alpha, labels, face)["brow"]
        if r is not None:
            ratios.append(r)
    assert len(ratios) >= 8
    # Before the parser-aware compose, the brow region kept ~0.6-0.7 of its contrast against the forehead.
    assert np.median(ratios) <= 0.35, ratios


def test_eyebrowless_keeps_the_eyes_whole(held_out):
    """The brows are erased, the eyes stay: the brow hole used to reach into the upper lid and the eye,
    which were then pasted back over the fill with a soft edge (a pale rim round each eye; 37 % of one
    face's eye pixels changed by more than 6 levels)."""
    from facecanvas.eval.look_eval import OracleParser, run_edit

    effects: dict = {}
    shares = []
    for stem, img, labels, face in held_out[:10]:
        out, _ = run_edit("eyebrowless", img, face, OracleParser(labels, face), None, effects)
        if out is None:
            continue
        eyes = np.zeros(img.shape[:2], np.uint8)
        from facecanvas.analysis import landmark_groups as lg

        for g in (lg.RIGHT_EYE, lg.LEFT_EYE):
            cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(face.landmarks[list(g), :2]).astype(np.int32)), 1)
        d = np.abs(out.astype(int) - img).max(-1)[eyes > 0]
        shares.append(float((d > 6).mean()))
    assert len(shares) >= 6
    assert np.median(shares) < 0.05, shares


def test_no_halo_around_the_pasted_eye(held_out):
    from facecanvas.effects import Effect
    from facecanvas.effects.compose import apply_to_face
    from facecanvas.eval.look_eval import OracleParser, _luma

    eff = Effect("mono-eye")
    gaps = []
    for stem, img, labels, face in held_out[:12]:
        if abs(face.pose.yaw) > eff.resolved.max_yaw:
            continue
        out = img.copy()
        r = apply_to_face(out, face, eff.resolved, eff.stickers, None, None, None, parser=OracleParser(labels, face))
        eye = r.regions[-1]
        iod = float(np.linalg.norm(np.diff(r.transform.to_crop(face.landmarks)[[468, 473], :2], axis=0)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(0.06 * iod) + 1,) * 2)
        ring = cv2.dilate(eye.astype(np.uint8), k).astype(bool) & ~eye & r.hole
        if ring.sum() < 30:
            continue
        shown = _luma(r.transform.warp(out))[ring]
        blank = _luma(r.erased.blank)[ring]
        gaps.append(float(np.median(shown) - np.median(blank)))
    assert len(gaps) >= 6
    # The ring around the pasted eye is the blank face's tone, within a few levels: no bright rim.
    assert np.median(np.abs(gaps)) <= 4.0, gaps
    assert max(gaps) <= 10.0, gaps


def test_an_eye_effect_on_glasses_says_so_and_edits_under_them_when_asked(held_out):
    from facecanvas.ops import build
    from facecanvas.eval.look_eval import C_GLASSES

    tried = 0
    for stem, img, labels, face in held_out:
        if (labels == C_GLASSES).sum() < 2000:
            continue
        kept = build("effect", {"effect": "mono-eye"}).apply(img, [face])
        if not kept.notes:
            continue  # the shipped parser did not put glasses over these eyes
        tried += 1
        assert kept.faces == 1 and not kept.skipped and "--remove-glasses" in kept.notes[0]
        removed = build("effect", {"effect": "mono-eye", "remove_glasses": True}).apply(img, [face])
        assert not removed.notes
        x0, y0, x1, y1 = (int(v) for v in face.box)
        eyes = (slice(y0 + (y1 - y0) // 4, y0 + (y1 - y0) // 2), slice(x0, x1))  # the band of the eyes
        changed = lambda out: (np.abs(out[eyes].astype(int) - img[eyes]).max(-1) > 12).mean()
        assert changed(removed.image) > changed(kept.image) + 0.05, stem
        break
    if tried == 0:
        pytest.skip("the shipped parser put glasses over no held-out glasses-wearer's eyes")


@pytest.mark.parametrize("name", ["24_0_1_20170102233456210.jpg.chip.jpg", "26_0_1_20170103181054528.jpg.chip.jpg"])
def test_eyes_on_dark_skin_are_erased_whole(analyzer, name):
    # On these two the parser took dark lids for bits of glasses, which then stayed over the blank face as
    # remnants of the eyes (0.89 and 0.64 of the eyes' pixels changed).
    from facecanvas.eval.blank_faces import read_bgr

    img = read_bgr(shared_path("faces", "utkface", "images") / name)
    face = analyzer.detect(img)[0]
    out = img.copy()
    erase_face(out, face)
    eyes = np.zeros(img.shape[:2], np.uint8)
    for side in ("left_eye", "right_eye"):
        cv2.fillConvexPoly(eyes, cv2.convexHull(face.points(side)[:, :2].astype(np.int32)), 1)
    changed = np.abs(out.astype(int) - img).max(-1) > 12
    assert changed[eyes > 0].mean() >= 0.9


def test_eyebrowless_cuts_along_the_lid_not_in_plan_pixel_steps(held_out):
    # Brows erased over kept eyes: the alpha just above the upper lid follows the lid smoothly. When the cut
    # was made in the 128 px plan's pixels, it alternated in 4 px steps along the lashes (a hard, stepped
    # dark arc): along a line 0.025 eye distances above the lid its spread was 0.16 (median over eyes of the
    # first 10 held-out faces), now 0.07.
    from facecanvas.eraser import blank_face
    from facecanvas.masks import part_mask
    from facecanvas.masks.parts import interocular

    spreads = []
    for stem, img, labels, face in held_out[:10]:
        done = blank_face(img, face, EraseSettings(("brows",)))
        a, s = done.crop_alpha, done.crop_alpha.shape[0]
        pts = done.transform.to_crop(face.landmarks)
        n, comp = cv2.connectedComponents(part_mask(pts, "eyes", (s, s), 0.0).astype(np.uint8))
        for k in range(1, n):
            ys, xs = np.nonzero(comp == k)
            cols = range(int(np.percentile(xs, 25)), int(np.percentile(xs, 75)))
            line = [a[int(round(ys[xs == x].min() - 0.025 * interocular(pts))), x] for x in cols]
            spreads.append(np.std(line))
        assert a[part_mask(pts, "eyes", (s, s), 0.0)].max() == 0  # the eyes stay whole
    assert len(spreads) >= 12 and np.median(spreads) < 0.11


def test_a_white_region_cut_off_from_the_face_is_not_its_skin():
    # A white hat over the brows that the parser took for a forehead: cut off from the face by the brows'
    # band and far from the face's colour, it becomes an occluder; a forehead cut off by glasses does not.
    from facecanvas.eraser import cut_off_face
    from facecanvas.masks.face_parser import HAT, OTHER

    s = 160
    lab = np.full((s, s), HAIR, np.uint8)
    lab[60:150, 30:130] = SKIN
    lab[52:60, 30:130] = GLASSES
    lab[10:52, 30:130] = SKIN
    crop = np.zeros((s, s, 3), np.uint8)
    crop[:] = (60, 80, 120)  # dark skin (BGR)
    crop[10:52, 30:130] = 245  # a white hat
    out = cut_off_face(lab, crop)
    assert (out[10:52, 30:130] == OTHER).all() and (out[60:150, 30:130] == SKIN).all()
    assert (out[52:60] == lab[52:60]).all() and HAT not in out
    crop[10:52, 30:130] = (70, 95, 140)  # a forehead, lit a little more than the cheeks
    assert (cut_off_face(lab, crop) == lab).all()


def test_a_white_hat_over_the_brows_gives_the_fill_no_white(analyzer):
    # UTKFace, a white hat sitting on the brows: the parser called the hat above them skin, and eyebrowless,
    # erase and small-face painted white blobs where the brows were: of the pixels they changed above the eyes
    # and off the hat, 19%, 75% and 16% came out lighter than 200 (the skin is about 100); now 0, 0 and 2%
    # (small-face moves the eyes' catchlights).
    from facecanvas.effects import apply_effect
    from facecanvas.eval.blank_faces import read_bgr

    img = read_bgr(shared_path("faces", "utkface", "images") / "23_1_1_20170102233446754.jpg.chip.jpg")
    face = analyzer.detect(img)[0]
    light = lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)[..., 0]
    upper = np.arange(img.shape[0])[:, None] < face.points("left_eye")[:, 1].max()  # above the teeth
    hat = (light(img) > 200) & upper
    erased = img.copy()
    erase_face(erased, face)
    for out in (erased, apply_effect(img, "eyebrowless", faces=[face]).image,
                apply_effect(img, "small-face", faces=[face]).image):
        changed = (np.abs(out.astype(int) - img).max(-1) > 12) & upper
        assert changed.sum() > 100
        assert (light(out)[changed & ~hat] > 200).mean() < 0.05  # no white on the skin
        assert (changed & hat).sum() < 0.05 * hat.sum()  # the hat stays

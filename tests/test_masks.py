import numpy as np
import pytest

from facecanvas.analysis import align_face
import cv2

from facecanvas.masks import PARTS, feather, grow, parse_parts, part_mask, part_masks, union


def test_every_part_has_a_mask_inside_the_face(astronaut_face):
    t = align_face(astronaut_face.five_points(), 256)
    pts = t.to_crop(astronaut_face.landmarks)
    masks = part_masks(pts, (256, 256))
    assert set(masks) == set(PARTS)
    for name, m in masks.items():
        assert m.dtype == bool and 50 < m.sum() < 0.2 * m.size, name
    ys = {n: np.nonzero(m)[0].mean() for n, m in masks.items()}
    assert ys["brows"] < ys["eyes"] < ys["nose"] < ys["mouth"]


def test_dilation_scales_with_face_size(astronaut_face):
    pts = align_face(astronaut_face.five_points(), 256).to_crop(astronaut_face.landmarks)
    small = part_mask(pts, "eyes", (256, 256))
    big = part_mask(pts * 2, "eyes", (512, 512))
    assert big.sum() / small.sum() == pytest.approx(4.0, rel=0.08)
    assert part_mask(pts, "eyes", (256, 256), dilation=0.0).sum() < small.sum()


def test_parse_parts():
    assert parse_parts("brows, eyes") == ("brows", "eyes")
    assert parse_parts(None) == PARTS == parse_parts("all")
    with pytest.raises(ValueError, match="unknown part"):
        parse_parts("brows,ears")


def test_feather_is_zero_outside_and_one_deep_inside():
    m = np.zeros((64, 64), bool)
    m[16:48, 16:48] = True
    a = feather(m, 4)
    assert a[~m].max() == 0 and a[32, 32] == 1 and 0 < a[16, 32] < 1


def test_union_of_nothing_needs_a_shape():
    assert union([], (4, 4)).shape == (4, 4)


def _blobs(seed: int, shape=(160, 200)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, np.uint8)
    for _ in range(3):
        cv2.ellipse(m, (int(rng.integers(-10, shape[1] + 10)), int(rng.integers(-10, shape[0] + 10))),
                    (int(rng.integers(2, 50)), int(rng.integers(2, 30))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return m.astype(bool)


@pytest.mark.parametrize("radius", [2.4, 6, 12, 17.3])
def test_grow_is_the_elliptic_dilation_to_within_a_pixel_of_its_edge(radius):
    for seed in range(5):
        m = _blobs(seed)
        r = int(round(radius))
        ref = cv2.dilate(m.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        ref = ref.astype(bool)
        got = grow(m, radius)
        assert got[m].all()
        differ = got != ref
        # (the chamfer distance's rounding: a pixel along the edge, two where it meets the picture's border)
        edge = cv2.morphologyEx(ref.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        near_edge = cv2.dilate(edge, np.ones((3, 3), np.uint8)).astype(bool)
        assert not (differ & ~near_edge).any()
        assert differ.sum() <= 0.03 * ref.sum()
    assert np.array_equal(grow(_blobs(0), 0.3), _blobs(0))
    assert not grow(np.zeros((20, 20), bool), 5).any()


def test_feather_on_the_mask_box_equals_the_whole_crop_distance():
    for seed in range(8):
        m = _blobs(seed)
        d = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
        t = np.clip(d / 7.5, 0, 1)
        np.testing.assert_allclose(feather(m, 7.5), t * t * (3 - 2 * t), atol=1e-6)

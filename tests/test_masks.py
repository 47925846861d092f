import numpy as np
import pytest

from facecanvas.analysis import align_face
from facecanvas.masks import PARTS, feather, parse_parts, part_mask, part_masks, union


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

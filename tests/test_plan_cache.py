"""Video reuse of the eraser's clone plan (inpaint/plan_cache.py) on the real astronaut face."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from facecanvas.eraser import EraseSettings, erase, erase_face
from facecanvas.ops import build
from facecanvas.inpaint.plan_cache import PlanCache


def test_reuse_only_while_the_new_hole_fits_and_not_too_often():
    cache = PlanCache(max_age=2, margin=1)
    hole = np.zeros((64, 64), bool)
    hole[20:40, 20:40] = True
    planned = cache.grow(hole)
    assert planned.sum() > hole.sum() and planned[hole].all()
    plan = object()
    cache.store(7, plan, planned)
    assert cache.reuse(7, hole) is plan and cache.reuse(7, hole) is plan
    assert cache.reuse(7, hole) is None, "a plan serves at most max_age more frames"
    cache.store(7, plan, planned)
    wider = hole.copy()
    wider[20:40, 10:20] = True  # a mouth that opened wider: pixels the plan never covered
    assert cache.reuse(7, wider) is None
    assert cache.reuse(8, hole) is None
    cache.keep_only([8])
    assert cache.reuse(7, hole) is None


def _two_frames(op, bgr, face, track_id, monkeypatch):
    """The op on the same frame twice, as one track; returns both outputs and how often the second
    frame planned a fill afresh."""
    from facecanvas.analysis.track import TrackedFace
    import facecanvas.inpaint.fills as fills_mod

    fields = {f.name: getattr(face, f.name) for f in dataclasses.fields(face)}
    tracked = TrackedFace(**fields, track_id=track_id)  # as the tracker gives it
    # The plan itself, not the whole blank face kept (tested below).
    (op._plans if hasattr(op, "_plans") else op.effect._plans).result_age = 0
    first = op(bgr, [tracked])
    calls = []
    real = fills_mod.plan_clone
    monkeypatch.setattr(fills_mod, "plan_clone", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = op(bgr, [tracked])
    return first, second, len(calls)


def test_video_op_reuses_the_plan_and_changes_only_the_mask(astronaut_bgr, astronaut_face, monkeypatch):
    first, second, planned = _two_frames(build("erase", video=True), astronaut_bgr, astronaut_face, 3, monkeypatch)
    assert planned == 0, "the second frame of the same track must reuse the first frame's plan"
    assert np.array_equal(first, second)  # same frame in, same frame out: the grain does not re-roll
    mask = erase(astronaut_bgr, faces=[astronaut_face], max_size=256).mask
    # A track's fill covers the hole its plan was made for: the photo's, grown by the cache's margin
    # (2 px of the 128 px plan: a few px here).
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))) > 0
    changed = np.any(second != astronaut_bgr, axis=2)
    assert changed.any() and not changed[~grown].any()
    # The one-off photo path plans afresh and matches the video op's first frame.
    photo = astronaut_bgr.copy()
    erase_face(photo, astronaut_face, EraseSettings(max_size=256))
    assert np.abs(photo.astype(int) - first.astype(int)).mean() < 1.0


def test_effect_op_reuses_the_plan_for_a_tracked_face(astronaut_bgr, astronaut_face, monkeypatch):
    op = build("effect", {"effect": "comic", "crop_size": 256})
    first, second, planned = _two_frames(op, astronaut_bgr, astronaut_face, 5, monkeypatch)
    assert planned == 0, "an effect on the next frame of the same track must reuse the eraser's plan"
    assert np.array_equal(first, second)


def test_video_op_works_a_small_face_at_the_plan_size_and_still_reuses_the_plan(astronaut_bgr, analyzer, monkeypatch):
    # A small face (as in a group shot) is not upsampled to 192 px in video: it is worked on at the plan's
    # own 128 px, and its plan is still reused by the track's next frames.
    small = cv2.resize(astronaut_bgr, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    frame = cv2.copyMakeBorder(small, 64, 64, 64, 64, cv2.BORDER_REFLECT)
    face = analyzer.detect(frame)[0]
    import facecanvas.eraser as er

    sizes = []
    real = er.blank_face
    monkeypatch.setattr(er, "blank_face", lambda *a, **k: (lambda r: sizes.append(r.blank.shape[0]) or r)(real(*a, **k)))
    import facecanvas.ops.erase as erase_op

    monkeypatch.setattr(erase_op, "erase_face", lambda im, f, s, p=None, k=None: er.erase_face(im, f, s, p, k))
    first, second, planned = _two_frames(build("erase", video=True), frame, face, 4, monkeypatch)
    assert sizes and set(sizes) == {er.PLAN_SIZE}
    assert planned == 0 and np.array_equal(first, second)
    changed = np.any(second != frame, axis=2)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    assert changed.any() and not changed[: max(0, y0 - 40)].any()


def _tracked(face, track_id=2, landmarks=None):
    from facecanvas.analysis.track import TrackedFace

    fields = {f.name: getattr(face, f.name) for f in dataclasses.fields(face)}
    if landmarks is not None:
        fields["landmarks"] = landmarks
    return TrackedFace(**fields, track_id=track_id)


def _count_kept(monkeypatch):
    import facecanvas.eraser as er

    used = []
    real = er._blank_again
    monkeypatch.setattr(er, "_blank_again", lambda *a: (lambda r: used.append(r is not None) or r)(real(*a)))
    return used


def test_a_still_face_gets_its_blank_face_again_for_a_few_frames(astronaut_bgr, astronaut_face, monkeypatch):
    op = build("erase", video=True)
    used = _count_kept(monkeypatch)
    outs = [op(astronaut_bgr, [_tracked(astronaut_face)]) for _ in range(op._plans.result_age + 2)]
    # The first frame is made, the next result_age are the kept one, then one is made afresh.
    assert used == [False] + [True] * op._plans.result_age + [False]
    assert all(np.array_equal(outs[0], o) for o in outs)


def test_the_kept_blank_face_follows_the_light_and_is_dropped_for_a_new_shape(astronaut_bgr, astronaut_face,
                                                                             monkeypatch):
    from facecanvas.analysis.landmark_groups import LIPS
    from facecanvas.eraser import SAME_LIGHT

    op = build("erase", video=True)
    used = _count_kept(monkeypatch)
    first = op(astronaut_bgr, [_tracked(astronaut_face)])
    mask = np.any(first != astronaut_bgr, axis=2)
    # A little brighter: the kept fill is shifted by the skin's change around it.
    lighter = cv2.add(astronaut_bgr, np.full_like(astronaut_bgr, 4))
    out = op(lighter, [_tracked(astronaut_face)])
    assert used[-1] is True
    gain = out[mask].astype(float).mean() - first[mask].astype(float).mean()
    assert 3.0 < gain < 5.0, gain
    # Much brighter (a new light): made afresh.
    op(cv2.add(astronaut_bgr, np.full_like(astronaut_bgr, int(SAME_LIGHT) + 6)), [_tracked(astronaut_face)])
    assert used[-1] is False
    # The mouth opened (its lower lip moved): made afresh, even on the same picture.
    lms = np.array(astronaut_face.landmarks, np.float32)
    lms[list(LIPS[1:10]), 1] += 0.1 * astronaut_face.interocular
    op(astronaut_bgr, [_tracked(astronaut_face, landmarks=lms)])
    assert used[-1] is False


def test_a_tracked_face_fills_the_whole_hole_its_plan_was_made_for(astronaut_bgr, astronaut_face):
    """The plan's edge is matched to the skin around the (grown) hole it was made for; filling less would
    leave the skin in between as a thin dark outline of the parts."""
    from facecanvas.eraser import blank_face

    plans = PlanCache(result_age=0)
    done = blank_face(astronaut_bgr, _tracked(astronaut_face), EraseSettings(max_size=256, parser=None), plans, 2)
    s = done.blank.shape[0]
    planned = cv2.resize(plans.planned_hole(2).astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST) > 0
    own = erase_face(astronaut_bgr.copy(), astronaut_face, EraseSettings(max_size=256, parser=None)).hole
    assert planned.sum() > own.sum() * 1.05  # the margin is there to be filled
    assert (done.crop_alpha[planned] > 0).mean() > 0.98

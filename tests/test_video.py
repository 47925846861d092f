"""Video files: the shared path on real clips and on a synthetic moving astronaut (pan, zoom, rotate).

Checks what a user relies on: same frame count, fps and duration; audio copied with its duration;
the output decodes fully; faceless frames pass through unchanged; rotation metadata kept; faces
tracked with stable IDs and held through short misses; clear errors and no partial files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from conftest import REPO, run_cli, shared_path
from facecanvas.analysis.detect import create_detector
from facecanvas.analysis.smoothing import OneEuroFilter
from facecanvas.analysis.track import FaceTracker, TrackerConfig
from facecanvas.eval.temporal import TemporalMeter
from facecanvas.media.synthetic import astronaut_clip, moving_face_frames
from facecanvas.media.video_io import probe
from facecanvas.ops.passthrough import PassthroughOperation
from facecanvas.video import FrameProcessor, process_video


def decode_all(path) -> list[np.ndarray]:
    """Every frame, upright; raises if the file does not decode to the end."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            a = f.to_ndarray(format="bgr24")
            k = ((f.rotation or 0) // 90) % 4
            out.append(np.rot90(a, k) if k else a)
    return out


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or ".part" in p.name)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        # 6 faceless frames, then the astronaut panning, zooming and rolling; an occluded stretch.
        "moving": astronaut_clip(d / "moving.mp4", n=45, empty_frames=6, occlude=(30, 33)),
        "two": astronaut_clip(d / "two.mp4", n=30, faces=2, audio=False),
        "rotated": astronaut_clip(d / "rotated.mp4", n=20, rotation=90),
        "dir": d,
    }


@pytest.fixture(scope="module")
def detector():
    return create_detector("auto", 960)


# --- the command line on the synthetic clip -------------------------------------------------------

def test_erase_video_keeps_frames_fps_duration_audio(clips, tmp_path):
    src = clips["moving"]
    dst = tmp_path / "blank.mp4"
    r = run_cli("erase", src, "-o", dst)
    assert r.returncode == 0, r.stderr
    assert "45 frames" in r.stderr and "1 track" in r.stderr
    a, b = probe(src), probe(dst)
    assert (b.frames, b.fps, b.width, b.height) == (a.frames, a.fps, a.width, a.height)
    assert b.duration == pytest.approx(a.duration, abs=1e-3)
    assert b.codec == "h264" and b.pix_fmt == "yuv420p"  # plays in ordinary players
    assert b.audio_streams == 1 and b.audio_duration == pytest.approx(a.audio_duration, abs=0.03)
    frames = decode_all(dst)  # decodes to the end
    assert len(frames) == 45
    # The face was edited: frame 20 differs from the input around the face, the background does not.
    src_frames = decode_all(src)
    diff = np.abs(frames[20].astype(int) - src_frames[20]).max(axis=2)
    assert (diff > 40).sum() > 200
    assert np.median(diff) < 3
    assert leftovers(tmp_path) == []



def test_effect_on_video_goes_through_the_same_path(clips, tmp_path):
    src = clips["moving"]
    dst = tmp_path / "comic.mp4"
    r = run_cli("effect", "comic", src, "-o", dst)
    assert r.returncode == 0, r.stderr
    a, b = probe(src), probe(dst)
    assert (b.frames, b.fps, b.width, b.height) == (a.frames, a.fps, a.width, a.height)
    assert b.audio_streams == 1
    frames, src_frames = decode_all(dst), decode_all(src)
    assert np.array_equal(frames[0], src_frames[0]) or np.abs(frames[0].astype(int) - src_frames[0]).max() < 8
    assert (np.abs(frames[20].astype(int) - src_frames[20]).max(axis=2) > 40).sum() > 200
    assert leftovers(tmp_path) == []

def test_faceless_frames_pass_through_unchanged(clips, tmp_path):
    # Lossless RGB output, so "unchanged" can be checked bit for bit.
    dst = tmp_path / "lossless.mkv"
    r = run_cli("erase", clips["moving"], "-o", dst, "--codec", "libx264rgb", "--crf", "0")
    assert r.returncode == 0, r.stderr
    src, out = decode_all(clips["moving"]), decode_all(dst)
    assert len(src) == len(out) == 45
    for i in range(6):  # the faceless frames
        assert np.array_equal(src[i], out[i]), f"frame {i} has no face but was changed"
    assert not np.array_equal(src[20], out[20])


def test_rotation_metadata_is_kept_and_faces_are_found_upright(clips, tmp_path):
    dst = tmp_path / "rot.mp4"
    r = run_cli("erase", clips["rotated"], "-o", dst)
    assert r.returncode == 0, r.stderr
    a, b = probe(clips["rotated"]), probe(dst)
    assert a.rotation == b.rotation == 90
    assert (b.width, b.height) == (a.width, a.height)
    assert "faces edited in 20 frames" in r.stderr


def test_video_refuses_to_overwrite_and_never_touches_input(clips, tmp_path):
    dst = tmp_path / "x.mp4"
    dst.write_bytes(b"keep me")
    r = run_cli("erase", clips["two"], "-o", dst)
    assert r.returncode == 4 and "already exists" in r.stderr
    assert dst.read_bytes() == b"keep me"
    r = run_cli("erase", clips["two"], "-o", clips["two"], "--overwrite")
    assert r.returncode == 4 and "input" in r.stderr


# --- tracking --------------------------------------------------------------------------------------

def test_two_faces_get_two_stable_track_ids(detector):
    frames = moving_face_frames(30, faces=2)
    with FaceTracker(detector) as tracker:
        per_frame = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
    assert all(len(faces) == 2 for faces in per_frame[1:])
    ids = {f.track_id for faces in per_frame for f in faces}
    assert len(ids) == 2
    # An ID stays with its face: the left face keeps the same ID in every frame.
    left = {min(faces, key=lambda f: f.box[0]).track_id for faces in per_frame}
    assert len(left) == 1


def test_mesh_every_moves_landmarks_by_flow_between_mesh_frames(detector):
    """--mesh-every 2: every other frame's landmarks come from optical flow; they stay on the moving face
    (within a few % of the eye distance of where the mesh puts them)."""
    frames = moving_face_frames(30, faces=2)
    with FaceTracker(detector) as ref_tracker:
        ref = [ref_tracker.update(f, i / 25) for i, f in enumerate(frames)]
    with FaceTracker(detector, TrackerConfig(mesh_every=2)) as tracker:
        got = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
        assert tracker.stats.flow_steps >= 20  # about half of the 2 x 29 tracked face-frames
    assert all(len(faces) == 2 for faces in got[1:])
    for a, b in zip(ref[1:], got[1:]):
        for fa, fb in zip(sorted(a, key=lambda f: f.box[0]), sorted(b, key=lambda f: f.box[0])):
            err = np.linalg.norm(fa.landmarks[:, :2] - fb.landmarks[:, :2], axis=1).mean()
            assert err < 0.1 * fa.interocular, err


def test_flow_step_follows_a_shift_and_refuses_a_different_picture(astronaut_bgr, astronaut_face):
    from facecanvas.analysis.flow import FlowStep

    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    shifted = np.roll(gray, (3, -4), axis=(0, 1))
    lms = np.asarray(astronaut_face.landmarks, np.float32)
    moved = FlowStep(gray, shifted).move(lms, astronaut_face.interocular)
    assert moved is not None and np.allclose(moved[:, :2] - lms[:, :2], (-4, 3), atol=0.5)
    noise = np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)
    assert FlowStep(gray, noise).move(lms, astronaut_face.interocular) is None


def test_flow_step_refuses_a_mouth_that_moved_on_a_still_head(astronaut_bgr, astronaut_face):
    """The lips leaving the head's motion (a mouth opening between mesh frames) sends the track to the mesh."""
    from facecanvas.analysis.flow import FlowStep
    from facecanvas.analysis.landmark_groups import INNER_LIPS, LIPS

    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    lms = np.asarray(astronaut_face.landmarks, np.float32)
    lips = lms[list(LIPS + INNER_LIPS), :2]
    (x0, y0), (x1, y1) = lips.min(0).astype(int) - 6, lips.max(0).astype(int) + 6
    drop = int(round(0.12 * astronaut_face.interocular))
    moved = gray.copy()
    moved[y0 + drop:y1 + drop, x0:x1] = gray[y0:y1, x0:x1]  # the mouth, lowered; the head stays
    assert FlowStep(gray, moved).move(lms, astronaut_face.interocular) is None
    assert FlowStep(gray, gray.copy()).move(lms, astronaut_face.interocular) is not None


def test_mesh_runs_every_frame_with_two_faces_and_every_third_with_more(detector):
    """The default (mesh_every None): the mesh on every frame while one or two faces are tracked; with
    three or more, on every third frame, the others moved by the flow."""
    from facecanvas.analysis.track import AUTO_MESH_EVERY

    for faces, expect_flow in ((2, False), (3, True)):
        frames = moving_face_frames(16, size=(960, 360), faces=faces)
        with FaceTracker(detector) as tracker:
            got = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
        assert all(len(g) == faces for g in got[1:]), [len(g) for g in got]
        if expect_flow:
            # (a track's first frame, and any the flow is unsure of, go to the mesh)
            assert tracker.stats.flow_steps >= faces * len(frames) * (AUTO_MESH_EVERY - 1) / AUTO_MESH_EVERY / 2
        else:
            assert tracker.stats.flow_steps == 0


def test_track_assignment_equals_the_hungarian_one():
    from scipy.optimize import linear_sum_assignment

    from facecanvas.analysis.track import _assign

    rng = np.random.default_rng(1)
    for _ in range(200):
        cost = rng.uniform(0.5, 1.0, (rng.integers(1, 5), rng.integers(1, 5)))
        cost[rng.random(cost.shape) < 0.6] = 1.0  # most pairs do not overlap at all
        ref = {(int(t), int(d)) for t, d in zip(*linear_sum_assignment(cost)) if cost[t, d] < 0.8}
        assert {(t, d) for t, d in _assign(cost) if cost[t, d] < 0.8} == ref


def test_mediapipe_is_imported_without_matplotlib_or_sounddevice():
    code = ("import sys; from facecanvas.analysis.mp_import import import_mediapipe; mp = import_mediapipe(); "
            "assert 'matplotlib' not in sys.modules and 'sounddevice' not in sys.modules; "
            "mp.solutions.face_mesh.FaceMesh().close(); "
            "import matplotlib.pyplot as plt; assert callable(plt.figure); "
            "assert sys.modules.get('sounddevice', 0) is not None; print('ok')")  # no None entry left behind
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_missed_face_is_held_then_found_with_the_same_id(detector):
    frames = moving_face_frames(45, empty_frames=6, occlude=(30, 33))
    with FaceTracker(detector) as tracker:
        per_frame = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
    assert all(not faces for faces in per_frame[:6])  # no face yet
    assert all(len(faces) == 1 and not faces[0].held for faces in per_frame[6:30])  # found at once
    covered = [faces for faces in per_frame[30:33]]
    assert all(len(faces) == 1 and faces[0].held for faces in covered), "the occluded face must be held"
    assert {f.track_id for faces in per_frame for f in faces} == {0}
    assert all(len(faces) == 1 and not faces[0].held for faces in per_frame[35:])


def test_face_leaving_is_dropped_after_the_hold(detector):
    frames = moving_face_frames(20) + moving_face_frames(20, empty_frames=20)  # the face is gone
    cfg = TrackerConfig(hold_frames=4)
    with FaceTracker(detector, cfg) as tracker:
        per_frame = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
    assert len(per_frame[19]) == 1
    assert all(not faces for faces in per_frame[20 + cfg.hold_frames + 1:])


def test_scene_cut_starts_new_tracks(detector):
    frames = moving_face_frames(15, size=(640, 360)) + [np.ascontiguousarray(f[:, ::-1]) for f in
                                                         moving_face_frames(15, size=(640, 360))]
    with FaceTracker(detector) as tracker:
        per_frame = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
        assert tracker.stats.scene_cuts == 0  # a mirrored copy is the same scene for the histogram
    # A real cut: a different picture (no face) in between.
    from skimage.data import coffee

    cut = np.ascontiguousarray(coffee()[:360, :640, ::-1])
    frames = moving_face_frames(10) + [cut] * 3 + moving_face_frames(10)
    with FaceTracker(detector) as tracker:
        per_frame = [tracker.update(f, i / 25) for i, f in enumerate(frames)]
        assert tracker.stats.scene_cuts >= 2
    assert not per_frame[10] and not per_frame[11]  # faces are not held across a cut
    assert per_frame[-1] and per_frame[-1][0].track_id != per_frame[5][0].track_id


def test_one_euro_removes_jitter_without_lagging_fast_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=1.5)
    t = np.arange(120) / 30
    still = 100 + rng.normal(0, 0.5, 120)  # a still point with 0.5 px noise, face scale 60 px
    out = np.array([f(np.array([x]), ti, 60.0)[0] for x, ti in zip(still, t)])
    assert np.std(np.diff(out[30:])) < 0.35 * np.std(np.diff(still[30:]))
    f.reset()
    fast = 100 + 600 * t  # 10 face sizes per second
    out = np.array([f(np.array([x]), ti, 60.0)[0] for x, ti in zip(fast, t)])
    lag = np.abs(out[30:] - fast[30:]).mean()
    assert lag < 0.25 * 600 / 30, f"lags {lag:.1f} px behind a 20 px/frame motion"


def test_face_filter_lets_the_lips_speak_and_keeps_them_on_the_head():
    """The lips' motion relative to the head is smoothed with its own (larger) beta: a mouth opening
    reaches the output sooner than under the head's filter, and a fast head move does not tear the lips
    from the face (a larger beta on the lip points alone did, on the synthetic astronaut clip)."""
    from facecanvas.analysis.smoothing import FaceFilter

    rng = np.random.default_rng(2)
    base = rng.uniform(0, 100, (30, 3))
    lips, rigid = list(range(20, 30)), list(range(20))
    t = np.arange(40) / 25
    # a still head, the lower lip points drop 10 px at frame 10
    plain, face = OneEuroFilter(1.0, 1.5), FaceFilter(1.0, 1.5, 30.0, lips, rigid)
    lag = {}
    for name, f in (("plain", plain), ("face", face)):
        outs = []
        for i, ti in enumerate(t):
            x = base.copy()
            x[25:, 1] += 10.0 * (i >= 10)
            outs.append(f(x, ti, 60.0))
        lag[name] = float(np.mean([10.0 - (o[25:, 1] - base[25:, 1]).mean() for o in outs[11:16]]))
    assert lag["face"] < 0.5 * lag["plain"], lag
    # the whole head slides 15 px a frame: the lips keep their place on the smoothed face
    face.reset()
    for i, ti in enumerate(t):
        x = base.copy()
        x[:, 0] += 15.0 * i
        o = face(x, ti, 60.0)
    shift = o[:, 0] - base[:, 0]
    assert np.abs(shift[lips] - shift[rigid].mean()).max() < 0.5


def test_smoothed_landmarks_jitter_less_than_raw(detector):
    # A still face (the same frame repeated, plus sensor-like noise): smoothing must calm the mesh.
    rng = np.random.default_rng(1)
    base = moving_face_frames(1)[0]
    frames = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(25)]
    jitter = {}
    for smooth in (True, False):
        with FaceTracker(detector, TrackerConfig(smooth=smooth)) as tracker:
            lms = [tracker.update(f, i / 25)[0].landmarks[:, :2] for i, f in enumerate(frames)]
        jitter[smooth] = float(np.mean([np.abs(b - a).mean() for a, b in zip(lms[5:], lms[6:])]))
    assert jitter[True] < 0.6 * jitter[False], jitter


# --- the shared path in Python -------------------------------------------------------------------

def test_process_video_calls_op_only_on_frames_with_faces(clips, tmp_path, detector):
    calls = []

    def op(frame, faces):
        calls.append(len(faces))
        return frame

    processor = FrameProcessor(op, FaceTracker(detector))
    rep = process_video(clips["moving"], tmp_path / "o.mp4", processor, progress=False)
    processor.tracker.close()
    assert rep.frames == 45 and len(calls) == 45 - 6 and set(calls) == {1}


def test_process_video_warms_up_tracker_and_op_before_their_first_frame(clips, tmp_path, detector):
    events = []

    class Op:
        def warm_up(self):
            events.append("op warm")

        def __call__(self, frame, faces):
            events.append("op")
            return frame

    class Tracker(FaceTracker):
        def warm_up(self):
            super().warm_up()
            events.append("tracker warm")

        def update(self, bgr, t):
            events.append("track")
            return super().update(bgr, t)

    processor = FrameProcessor(Op(), Tracker(detector))
    rep = process_video(clips["moving"], tmp_path / "o.mp4", processor, progress=False)
    assert processor.tracker.landmarker.built == 1  # the warm-up's mesh served the track
    processor.tracker.close()
    assert rep.frames == 45 and events.count("op warm") == 1 and events.count("tracker warm") == 1
    assert events.index("tracker warm") < events.index("track") and events.index("op warm") < events.index("op")

    # A warm-up that fails is only set-up skipped: the run goes on and meets the error where it is handled.
    class Failing:
        def warm_up(self):
            raise RuntimeError("no")

        def __call__(self, frame, faces):
            return frame

    processor = FrameProcessor(Failing(), FaceTracker(detector))
    assert process_video(clips["moving"], tmp_path / "o2.mp4", processor, progress=False).frames == 45
    processor.tracker.close()


def test_process_video_runs_opencv_on_one_thread_and_restores_it(clips, tmp_path, detector):
    import cv2

    seen = set()

    def op(frame, faces):
        seen.add(cv2.getNumThreads())
        return frame

    before = cv2.getNumThreads()
    processor = FrameProcessor(op, FaceTracker(detector))
    process_video(clips["moving"], tmp_path / "o.mp4", processor, progress=False)
    processor.tracker.close()
    assert seen == {1} and cv2.getNumThreads() == before


def test_largest_limits_the_op_to_one_face(clips, tmp_path, detector):
    seen = []
    processor = FrameProcessor(lambda f, faces: seen.append(len(faces)) or f, FaceTracker(detector), largest=True)
    process_video(clips["two"], tmp_path / "o.mp4", processor, progress=False)
    processor.tracker.close()
    assert seen and set(seen) == {1}


def test_temporal_metric_is_one_for_an_untouched_video_and_tells_flicker_from_calm(detector):
    frames = moving_face_frames(20)
    untouched, flicker, frozen = TemporalMeter(), TemporalMeter(), TemporalMeter()
    with FaceTracker(detector) as tracker:
        for i, f in enumerate(frames):
            faces = tracker.update(f, i / 25)
            # An output re-encoded as H.264 would do: the same frames after a lossy round trip.
            jpeg = cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_COLOR)
            untouched.add(f, jpeg, faces)
            # Brightness that jumps up and down every frame: jumpier than the input (it moves ~50 levels/frame).
            jumpy = np.clip(f.astype(int) + (60 if i % 2 else -60), 0, 255).astype(np.uint8)
            flicker.add(f, jumpy, faces)
            frozen.add(f, frames[0], faces)  # the same picture every frame: calmer than the input
    assert untouched.stats.pairs == 19 and untouched.stats.ratio == pytest.approx(1.0, abs=0.1)
    assert flicker.stats.ratio > 1.5
    assert frozen.stats.ratio < 0.2


def test_match_reference_photo_selects_that_person_only(tmp_path, detector):
    import cv2

    from facecanvas.analysis.identity import FaceMatcher, TrackIdentity
    from facecanvas.media.image_io import load_image

    glint = shared_path("identity", "glint")
    people: dict[str, list] = {}
    for line in (glint / "labels.csv").read_text().splitlines()[1:]:
        path, who = line.split(",", 1)
        people.setdefault(who, []).append(glint / path)
    a_imgs, b_imgs = list(people.values())[:2]

    def big(p):
        img = load_image(p).bgr
        return cv2.copyMakeBorder(cv2.resize(img, (224, 224), interpolation=cv2.INTER_CUBIC), 60, 60, 60, 60,
                                  cv2.BORDER_REPLICATE)

    ref = big(a_imgs[0])
    with FaceTracker(detector) as t0:
        ref_faces = t0.update(ref, 0)
    identity = TrackIdentity(FaceMatcher(ref, ref_faces))
    frame = np.hstack([big(a_imgs[1]), big(b_imgs[0])])
    processor = FrameProcessor(PassthroughOperation(), FaceTracker(detector), identity=identity)
    _, chosen = processor(frame, 0.0)
    processor.tracker.close()
    assert len(chosen) == 1 and chosen[0].box[0] < 344, "only the reference person (left) is selected"


# --- real shared clips --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["retalking/face_3.mp4", "tpsmm/vox_driving.mp4"])
def test_erase_real_clip(name, tmp_path):
    src = shared_path("videos", *name.split("/"))
    dst = tmp_path / "out.mp4"
    r = run_cli("erase", src, "-o", dst, "--preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    a, b = probe(src), probe(dst)
    assert (b.frames, b.fps, b.width, b.height) == (a.frames, a.fps, a.width, a.height)
    assert b.duration == pytest.approx(a.duration, abs=0.02)
    assert b.audio_streams == a.audio_streams == 1
    assert b.audio_duration == pytest.approx(a.audio_duration, abs=0.03)
    assert len(decode_all(dst)) == a.frames
    assert "1 track" in r.stderr


def test_dfdc_1080p_identity_keeps_everything(tmp_path, detector):
    src = shared_path("videos", "dfdc", "abofeumbvv.mp4")
    processor = FrameProcessor(PassthroughOperation(), FaceTracker(detector))
    rep = process_video(src, tmp_path / "o.mp4", processor, progress=False)
    processor.tracker.close()
    a, b = probe(src), probe(tmp_path / "o.mp4")
    assert rep.frames == a.frames == b.frames == 300
    assert b.fps == a.fps and b.audio_duration == pytest.approx(a.audio_duration, abs=0.03)
    assert rep.timings.frames_with_faces > 250


# --- bad input, interruption -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_inputs(clips, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    fast = astronaut_clip(d / "faststart.mp4", n=30, faststart=True)  # index first: a cut file still opens
    data = fast.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    data = clips["moving"].read_bytes()
    (d / "cut_index.mp4").write_bytes(data[: len(data) // 2])  # index at the end: cut away
    (d / "garbage.mp4").write_bytes(b"not a video " * 100)
    (d / "empty.mp4").write_bytes(b"")
    # Audio only.
    with av.open(str(d / "audio_only.mp4"), "w") as o:
        a = o.add_stream("aac", rate=44100)
        a.layout = "mono"
        for s in range(0, 44100, 1024):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 44100, s
            for p in a.encode(fr):
                o.mux(p)
        for p in a.encode():
            o.mux(p)
    # A video stream in a codec no decoder knows: an AVI whose FOURCC is made up.
    with av.open(str(d / "m4.avi"), "w") as o:
        s = o.add_stream("mpeg4", rate=25)
        s.width = s.height = 64
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="bgr24")
            f.pts = i
            for p in s.encode(f):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    (d / "unknown_codec.avi").write_bytes((d / "m4.avi").read_bytes().replace(b"FMP4", b"ZQZQ"))
    return d


@pytest.mark.parametrize("name, words", [
    ("truncated.mp4", "truncated"),
    ("cut_index.mp4", "truncated/corrupt"),
    ("garbage.mp4", "not a video"),
    ("empty.mp4", "empty"),
    ("missing.mp4", "no such file"),
    ("audio_only.mp4", "no video stream (streams: audio)"),
    ("unknown_codec.avi", "unsupported video codec"),
])
def test_bad_video_gets_one_clear_line_and_no_output(bad_inputs, tmp_path, name, words):
    src = bad_inputs / name
    r = run_cli("erase", src, "-o", tmp_path / "out.mp4")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("facecanvas: error:") and str(src) in lines[0], r.stderr
    assert words in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing left behind, not even a temporary file


def test_unknown_codec_and_incompatible_audio_are_output_errors(clips, tmp_path):
    r = run_cli("erase", clips["moving"], "-o", tmp_path / "a.mp4", "--codec", "nope")
    assert r.returncode == 4 and "codec 'nope' is not available" in r.stderr
    r = run_cli("erase", clips["moving"], "-o", tmp_path / "a.webm")
    assert r.returncode == 4 and "--no-audio" in r.stderr
    assert leftovers(tmp_path) == [] and not (tmp_path / "a.webm").exists()


def test_photos_and_videos_cannot_be_mixed(clips, tmp_path, astronaut_bgr):
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), astronaut_bgr)
    r = run_cli("erase", tmp_path / "p.png", clips["two"], "-o", tmp_path / "out")
    assert r.returncode == 2 and "cannot be mixed" in r.stderr


def test_ctrl_c_closes_the_partial_output_properly(tmp_path):
    src = astronaut_clip(tmp_path / "long.mp4", n=400, size=(960, 540))
    dst = tmp_path / "out.mp4"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    # SIG_DFL: a child of a non-interactive shell may inherit an ignored SIGINT.
    p = subprocess.Popen([sys.executable, "-m", "facecanvas.cli.main", "erase", str(src), "-o", str(dst)],
                         stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Interrupt once frames are being written (start-up time varies; the clip must not finish first).
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and p.poll() is None:
        parts = list(tmp_path.glob(".out.*.part.mp4"))
        if parts and parts[0].stat().st_size > 50_000:
            break
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    partial = tmp_path / "out.partial.mp4"
    assert not dst.exists(), "an interrupted run must not leave the output as if complete"
    assert "saved, closed properly, as" in err and str(partial) in err
    n = len(decode_all(partial))  # a proper file: decodes to its end
    assert 0 < n < 400 and f"after {n} of 400 frames" in err
    info = probe(partial)
    assert info.audio_streams == 1 and info.audio_duration == pytest.approx(info.duration, abs=0.1)
    assert leftovers(tmp_path) == ["out.partial.mp4"]


# --- tracking in a child process (track_process.py) ------------------------------------------------------

def _recording_processor(seen: list, **options):
    from facecanvas.pipeline import TrackingOptions, make_processor

    def op(frame, faces):
        seen.append([(f.track_id, f.landmarks.copy()) for f in faces])
        return frame

    return make_processor(op, TrackingOptions(**options))


@pytest.mark.parametrize("name, options", [("moving", {}), ("two", {"largest": True})])
def test_a_child_process_tracks_exactly_as_the_thread_does(clips, tmp_path, name, options):
    runs = {}
    for child in (False, True):
        seen: list = []
        processor = _recording_processor(seen, **options)
        rep = process_video(clips[name], tmp_path / f"{child}.mp4", processor, progress=False, track_process=child)
        processor.tracker.close()
        runs[child] = seen, rep, processor.tracker.stats
    (a, ra, sa), (b, rb, sb) = runs[False], runs[True]
    assert len(a) == len(b) == ra.timings.frames_with_faces and a
    for fa, fb in zip(a, b):
        assert [t for t, _ in fa] == [t for t, _ in fb]
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(fa, fb))
    # The child's figures come back as if it had tracked here.
    assert rb.frames == ra.frames and rb.track_ids == ra.track_ids >= 1
    assert rb.timings.frames == ra.timings.frames and rb.timings.track_s > 0
    assert (sb.detections_run, sb.tracks_started) == (sa.detections_run, sa.tracks_started)
    assert np.array_equal(decode_all(tmp_path / "False.mp4")[-1], decode_all(tmp_path / "True.mp4")[-1])


def test_a_child_started_ahead_of_its_video_tracks_the_same(clips, tmp_path):
    from facecanvas.track_process import TrackChild

    runs = []
    for early in (None, TrackChild(quiet=True)):
        seen: list = []
        processor = _recording_processor(seen)
        process_video(clips["moving"], tmp_path / f"{early is None}.mp4", processor, progress=False,
                      track_process=True, track_child=early)
        processor.tracker.close()
        runs.append(seen)
        if early is not None:
            assert early.taken and early.process.returncode is not None, "used, then stopped with the video"
    assert len(runs[0]) == len(runs[1]) > 0
    for fa, fb in zip(*runs):
        assert all(ta == tb and np.array_equal(x, y) for (ta, x), (tb, y) in zip(fa, fb))


def test_a_child_started_ahead_and_not_used_is_stopped(clips, tmp_path):
    from facecanvas.errors import InputError
    from facecanvas.track_process import TrackChild

    child = TrackChild(quiet=True)
    child.close()
    assert child.process.returncode is not None
    # A video tracked in a thread (or one that cannot be opened) stops the child it was given.
    unused = TrackChild(quiet=True)
    process_video(clips["moving"], tmp_path / "o.mp4", _recording_processor([]), progress=False,
                  track_process=False, track_child=unused)
    assert unused.process.returncode is not None
    bad = TrackChild(quiet=True)
    with pytest.raises(InputError):
        process_video(tmp_path / "missing.mp4", tmp_path / "p.mp4", _recording_processor([]), progress=False,
                      track_child=bad)
    assert bad.process.returncode is not None


def _tracking_children() -> list[int]:
    """Process ids of tracking children (track_process's ``python -c``) running on this machine."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if b"facecanvas.track_process" in f.read():
                    pids.append(int(d))
        except (OSError, ValueError):
            pass
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to list processes")
def test_the_cli_stops_its_early_tracking_child_on_an_error_and_it_stays_quiet(clips, tmp_path):
    from facecanvas.cli.main import _early_track_child

    assert _early_track_child(["faces", str(clips["moving"])]) is None  # not a command that edits video
    assert _early_track_child(["erase", str(tmp_path / "missing.mp4")]) is None  # no such file
    before = set(_tracking_children())
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"already here")
    r = run_cli("erase", clips["moving"], "-o", dst)  # the output exists and --overwrite was not given
    assert r.returncode != 0 and dst.read_bytes() == b"already here"
    # One line: the child started ahead (its MediaPipe chatter) says nothing, and it is gone.
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert set(_tracking_children()) <= before, "no tracking child is left running"


def test_a_child_is_used_only_for_processors_made_from_options(clips):
    from facecanvas import track_process
    from facecanvas.pipeline import TrackingOptions, make_processor

    assert track_process.can_use(make_processor(PassthroughOperation(), TrackingOptions())) == (
        len(os.sched_getaffinity(0)) >= 2)
    assert not track_process.can_use(make_processor(PassthroughOperation(), TrackingOptions(), live=True))
    import dataclasses

    big = dataclasses.replace(probe(clips["moving"]), width=1920, height=1080)
    assert not track_process.can_use(make_processor(PassthroughOperation(), TrackingOptions()), big)
    assert not track_process.can_use(FrameProcessor(PassthroughOperation(), FaceTracker(create_detector("auto", 960))))


def test_the_tracking_child_stops_when_closed_early_and_its_errors_reach_the_caller(clips, tmp_path):
    from facecanvas.errors import InputError
    from facecanvas.pipeline import TrackingOptions
    from facecanvas.track_process import TrackProcess

    info = probe(clips["moving"])
    child = TrackProcess(clips["moving"], info, TrackingOptions())
    frame, faces = next(iter(child))
    assert frame.index == 0 and faces == [] and frame.bgr.shape == (info.height, info.width, 3)
    child.close()
    assert child._child.returncode is not None, "no tracking process is left running"

    # A file that turns out truncated: the child's InputError is raised here, one line, as from a thread.
    data = clips["moving"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises((InputError, RuntimeError)) as e:
        child = TrackProcess(cut, info, TrackingOptions())
        try:
            for _ in child:
                pass
        finally:
            child.close()
    assert "\n" not in str(e.value)


def test_a_killed_tracking_child_is_a_clear_error_and_no_output(clips, tmp_path):
    from facecanvas import track_process

    class Killing(track_process.TrackProcess):
        def __iter__(self):
            for n, item in enumerate(super().__iter__()):
                if n == 10:
                    self._child.kill()
                yield item

    processor = _recording_processor([])
    dst = tmp_path / "o.mp4"
    real = track_process.TrackProcess
    track_process.TrackProcess = Killing
    try:
        with pytest.raises(RuntimeError, match="tracking process stopped"):
            process_video(clips["moving"], dst, processor, progress=False, track_process=True)
    finally:
        track_process.TrackProcess = real
        processor.tracker.close()
    assert not dst.exists() and leftovers(tmp_path) == []


def test_no_child_process_means_tracking_in_a_thread(clips, tmp_path, monkeypatch):
    from facecanvas import track_process

    def refuse(*a, **k):
        raise OSError("no more processes")

    monkeypatch.setattr(track_process, "TrackProcess", refuse)
    seen: list = []
    processor = _recording_processor(seen)
    rep = process_video(clips["moving"], tmp_path / "o.mp4", processor, progress=False, track_process=True)
    processor.tracker.close()
    assert rep.frames == 45 and len(seen) == rep.timings.frames_with_faces > 30


def test_frames_of_another_size_than_the_ring_come_whole(clips):
    """A frame whose size differs from the probed one (a stream that changes size) does not fit the
    shared ring: it comes pickled with its faces instead, in order."""
    import dataclasses

    from facecanvas.pipeline import TrackingOptions
    from facecanvas.track_process import TrackProcess

    info = probe(clips["moving"])
    wrong = dataclasses.replace(info, width=info.width + 2)
    child = TrackProcess(clips["moving"], wrong, TrackingOptions())
    try:
        got = [(frame.index, frame.bgr.shape) for frame, _ in child]
    finally:
        child.close()
    assert [i for i, _ in got] == list(range(45))
    assert {s for _, s in got} == {(info.height, info.width, 3)}
    assert child.stats.tracks_started >= 1


def test_a_child_whose_frame_ring_fails_is_stopped(clips, monkeypatch):
    """A failure after the child started (its frame ring cannot be mapped) stops the child and leaves no
    descriptor open; process_video then tracks in a thread."""
    import subprocess as sp

    from facecanvas import track_process
    from facecanvas.pipeline import TrackingOptions

    started = []
    real_popen = sp.Popen
    monkeypatch.setattr(track_process.subprocess, "Popen", lambda *a, **k: started.append(real_popen(*a, **k)) or started[-1])

    def no_ring(*a, **k):
        raise OSError("no memory to map")

    monkeypatch.setattr(track_process._Ring, "__init__", no_ring)
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError):
        track_process.TrackProcess(clips["moving"], probe(clips["moving"]), TrackingOptions())
    assert started and started[0].returncode is not None, "the child was stopped"
    started[0].stdin.close()
    assert len(os.listdir("/proc/self/fd")) == fds


@pytest.mark.parametrize("child", ["1", "0"])
def test_match_photo_without_a_face_is_one_line_and_no_output(clips, tmp_path, child, monkeypatch):
    """The --match reference is analysed on the first tracked frame (in the tracking child, or the
    thread), not before: its error is still one line, exit 3, and nothing is written."""
    ref = tmp_path / "nobody.png"
    cv2.imwrite(str(ref), np.full((200, 200, 3), 128, np.uint8))
    monkeypatch.setenv("FACECANVAS_TRACK_PROCESS", child)
    dst = tmp_path / "o.mp4"
    r = run_cli("erase", clips["two"], "--match", ref, "-o", dst)
    assert r.returncode == 3 and "no face found to match against" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not dst.exists() and leftovers(tmp_path) == []


def test_frames_for_the_encoder_are_converted_as_ffmpeg_would():
    from facecanvas.media.synthetic import moving_face_frames
    from facecanvas.media.video_io import _video_frame

    bgr = moving_face_frames(1)[0]
    ours = _video_frame(bgr, "yuv420p")
    ffmpeg = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    a, b = ours.to_ndarray().astype(int), ffmpeg.to_ndarray().astype(int)
    assert ours.format.name == "yuv420p" and a.shape == b.shape
    assert np.abs(a - b).mean() < 1.0  # the same colour space and range; chroma is averaged a little differently
    assert _video_frame(bgr, "yuv444p").format.name == "bgr24"  # other formats: the encoder converts

"""The video part of ``facecanvas eval deid``: what de-identification keeps and holds along a clip.

Clips (``VIDEO_CLIPS``, under the shared data root): the three news-style talking heads of retalking and
the VoxCeleb-style clip of tpsmm, one person each, the first ``frames`` frames of each. None of them was
used to choose any deid parameter. Each clip is decoded and tracked once (the tracker and smoothing the
CLI uses for video); every method then edits the same tracked faces, frame after frame, as
``facecanvas deid CLIP`` does (deid: a fresh ``DeidOperation(video=True)`` per clip, its defaults,
the recognizer on every 2nd frame of a track).

Measures per method (means over the clips):

* ms/frame: the edit alone; fps: frames per second of tracking + edit (no decode, no encode: the
  whole command line's figure is benchmarks/bench_deid.py's);
* temporal: the project's flicker measure (eval/temporal.py), face-region frame-to-frame change,
  output / input (1 = as jumpy as the input face);
* mouth corr: the Pearson correlation along the clip of the mouth opening (face_metrics.expression,
  inner-lip gap in % of the eye distance) of the output's re-detected face mesh with the input's
  (the same detector on both); ``min`` is the worst clip; frames where the output face is not found
  are left out and counted in ``detected``;
* consistency: the SFace cosine similarity between output frames of one track (every ``every``-th
  frame, all pairs; the face embedded at the input's alignment), averaged; ``same-id pairs`` is the
  share of those pairs at or above the SFace threshold (SFace takes both frames for one person: the
  same new identity holds). The ``none`` row is the real person's own consistency;
* still verified vs its input frame: the share of sampled output frames that still match the
  unedited same frame, with SFace (in the loop: deid's own check) and dlib (independent; nothing was
  tuned with it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VIDEO_CLIPS = ("videos/retalking/face_1.mp4", "videos/retalking/face_2.mp4", "videos/retalking/face_3.mp4",
               "videos/tpsmm/vox_driving.mp4")


def pearson(a, b) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def mouth_opening(landmarks) -> float:
    from .face_metrics import expression

    return float(expression(landmarks)[0])


def pair_consistency(embs: list[np.ndarray], threshold: float) -> tuple[float | None, float | None, int]:
    """(mean cosine over all pairs, share of pairs >= threshold, pairs) of unit embeddings."""
    if len(embs) < 2:
        return None, None, 0
    e = np.stack(embs)
    s = (e @ e.T)[np.triu_indices(len(e), 1)]
    return float(s.mean()), float((s >= threshold).mean()), len(s)


def read_frames(path: Path, limit: int) -> tuple[list[np.ndarray], float]:
    import av

    frames = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        fps = float(st.average_rate or 25)
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) >= limit:
                break
    return frames, fps


@dataclass
class ClipRow:
    clip: str
    method: str
    frames: int = 0
    face_frames: int = 0
    op_s: float = 0.0
    track_s: float = 0.0
    temporal: float | None = None
    mouth_corr: float | None = None
    detected: float | None = None
    consistency: float | None = None
    same_pairs: float | None = None
    still_sface: float | None = None
    still_dlib: float | None = None
    fallback_frames: int = 0
    mouth: list = field(default_factory=list, repr=False)  # (input, output) per frame, for plots


@dataclass
class VideoReport:
    rows: list  # ClipRow
    frames: int
    every: int

    def by_method(self) -> dict[str, list[ClipRow]]:
        out: dict = {}
        for r in self.rows:
            out.setdefault(r.method, []).append(r)
        return out

    def summary(self) -> dict[str, dict]:
        res = {}
        for m, rows in self.by_method().items():
            def mean(k):
                v = [getattr(r, k) for r in rows if getattr(r, k) is not None]
                return float(np.mean(v)) if v else None

            corr = [r.mouth_corr for r in rows if r.mouth_corr is not None]
            frames = sum(r.frames for r in rows)
            op_s = sum(r.op_s for r in rows)
            res[m] = {"clips": len(rows), "frames": frames, "ms": 1000 * op_s / max(frames, 1),
                      "fps": frames / max(op_s + sum(r.track_s for r in rows), 1e-9),
                      "temporal": mean("temporal"), "mouth_corr": float(np.mean(corr)) if corr else None,
                      "mouth_corr_min": float(np.min(corr)) if corr else None, "detected": mean("detected"),
                      "consistency": mean("consistency"), "same_pairs": mean("same_pairs"),
                      "still_sface": mean("still_sface"), "still_dlib": mean("still_dlib"),
                      "fallback_frames": sum(r.fallback_frames for r in rows)}
        return res

    def to_table(self) -> str:
        cols = [("ms/frame", "ms", "{:.0f}"), ("fps track+edit", "fps", "{:.1f}"), ("temporal", "temporal", "{:.3f}"),
                ("mouth corr", "mouth_corr", "{:.3f}"), ("mouth corr min", "mouth_corr_min", "{:.3f}"),
                ("detected", "detected", "{:.3f}"), ("consistency sface", "consistency", "{:.3f}"),
                ("same-id pairs", "same_pairs", "{:.3f}"), ("still verified sface", "still_sface", "{:.3f}"),
                ("still verified dlib", "still_dlib", "{:.3f}"), ("fallback frames", "fallback_frames", "{}")]
        s = self.summary()
        n = max((v["clips"] for v in s.values()), default=0)
        lines = [f"deid evaluation on video: {n} talking-head clips, first {self.frames} frames each "
                 f"(identity measures every {self.every}th frame)", "",
                 "| method | frames | " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * (len(cols) + 2)]
        for m, d in s.items():
            vals = [(fmt.format(d[k]) if d.get(k) is not None else "-") for _, k, fmt in cols]
            lines.append(f"| {m} | {d['frames']} | " + " | ".join(vals) + " |")
        per = [r for r in self.rows if r.method == "deid"]
        if per:
            lines += ["", "deid per clip: " + "; ".join(
                f"{Path(r.clip).stem} mouth corr {r.mouth_corr:.3f}" if r.mouth_corr is not None
                else f"{Path(r.clip).stem} mouth corr -" for r in per)]
        return "\n".join(lines)


def run_video_eval(data: Path, methods, analyzer, sface, dlib=None, frames: int = 120, every: int = 5,
                   clips=VIDEO_CLIPS, deid_options: dict | None = None, log=None) -> VideoReport:
    """Every method of ``methods`` (none, blur, pixelate, deid) on the same tracked frames of ``clips``."""
    from ..analysis.identity import SFACE_THRESHOLD
    from ..ops.deid import DeidOperation, DeidOptions
    from ..ops.passthrough import PassthroughOperation
    from ..pipeline import TrackingOptions, make_processor
    from .dlib_id import DLIB_THRESHOLD
    from .deid_eval import blur_face, pixelate_face
    from .face_metrics import box_iou
    from .temporal import TemporalMeter

    say = log or (lambda m: None)
    rows = []
    paths = [Path(data) / c for c in clips]
    paths = [p for p in paths if p.is_file()]
    for path in paths:
        imgs, fps = read_frames(path, frames)
        proc = make_processor(PassthroughOperation(), TrackingOptions())
        t0 = time.perf_counter()
        tracked = [list(proc.track(im, i / fps)) for i, im in enumerate(imgs)]
        track_s = time.perf_counter() - t0
        proc.tracker.close()

        def mesh(img, face):
            found = [f for f in analyzer.detect(img) if box_iou(f.box, face.box) > 0.3]
            return found[0] if found else None

        # input measurements, once per clip
        in_mesh = {}
        in_s, in_d = {}, {}
        for t, (im, faces) in enumerate(zip(imgs, tracked)):
            for f in faces:
                key = (t, f.track_id)
                in_mesh[key] = mesh(im, f)
                if t % every == 0:
                    in_s[key] = sface.embed(im, f)
                    if dlib is not None:
                        in_d[key] = dlib.embed(im, f)
        for m in methods:
            row = ClipRow(str(path.relative_to(data)) if path.is_relative_to(data) else str(path), m,
                          frames=len(imgs), track_s=track_s)
            op = None
            if m == "deid":
                op = DeidOperation(DeidOptions(**{"key": "eval", **(deid_options or {})}), video=True,
                                   analyzer=analyzer, embedder=sface)
            elif m.startswith("net:model="):  # the learned network
                op = DeidOperation(DeidOptions(key="eval", method="net", model=m.partition("=")[2]), video=True,
                                   analyzer=analyzer, embedder=sface)
            meter = TemporalMeter()
            mouth_in, mouth_out, det, tracks, still_s, still_d = [], [], [], {}, [], []
            for t, (im, faces) in enumerate(zip(imgs, tracked)):
                t1 = time.perf_counter()
                if m == "none" or not faces:
                    out = im.copy()
                elif m == "blur":
                    out = im
                    for f in faces:
                        out = blur_face(out, f)
                elif m == "pixelate":
                    out = im
                    for f in faces:
                        out = pixelate_face(out, f)
                else:
                    r = op.apply(im, faces)
                    out = r.image
                    row.fallback_frames += int(r.details.get("deid", {}).get("fallback", 0) > 0)
                row.op_s += time.perf_counter() - t1
                meter.add(im, out, faces)
                row.face_frames += bool(faces)
                for f in faces:
                    key = (t, f.track_id)
                    fi = in_mesh.get(key)
                    fo = mesh(out, f) if m != "none" else fi
                    if fi is not None:
                        det.append(fo is not None)
                        if fo is not None:
                            mouth_in.append(mouth_opening(fi.landmarks))
                            mouth_out.append(mouth_opening(fo.landmarks))
                    if key in in_s:
                        es = sface.embed(out, f)
                        tracks.setdefault(f.track_id, []).append(es)
                        still_s.append(float(es @ in_s[key]) >= SFACE_THRESHOLD)
                        if dlib is not None:
                            ed = dlib.embed(out, f)
                            still_d.append(float(np.linalg.norm(ed - in_d[key])) <= DLIB_THRESHOLD)
            row.temporal = meter.stats.ratio if meter.stats.pairs else None
            row.mouth_corr = pearson(mouth_in, mouth_out)
            row.mouth = list(zip(mouth_in, mouth_out))
            row.detected = float(np.mean(det)) if det else None
            cons = [pair_consistency(v, SFACE_THRESHOLD) for v in tracks.values()]
            cons = [c for c in cons if c[0] is not None]
            if cons:
                w = np.array([c[2] for c in cons], np.float64)
                row.consistency = float(np.average([c[0] for c in cons], weights=w))
                row.same_pairs = float(np.average([c[1] for c in cons], weights=w))
            row.still_sface = float(np.mean(still_s)) if still_s else None
            row.still_dlib = float(np.mean(still_d)) if still_d else None
            rows.append(row)
            say(f"video {path.name} {m}: done")
    return VideoReport(rows, frames, every)

"""``facecanvas eval deid``: how well faces are de-identified, and what is kept, on the shared Glint people.

Data (``--data``, the shared data root): ``identity/glint`` (12 people x 30 ArcFace-aligned 112 px crops),
loaded and padded for detection as ``facecanvas eval swap`` does. People sorted by name: 0-5 are the
development split (the deid parameters were chosen on them, with SFace and by eye), 6-11 the held-out
split reported by default. Probes: ``probes`` photos of each person of the split; each is edited by
every method, and compared with the *other* photos of the same person (the gallery: every unedited
photo of all 12 people except the probe).

Methods: none (the unedited probe, the baseline), blur (Gaussian, sigma = face width / 16, over the face
box), pixelate (8 blocks across the face box), deid (the operation's defaults: a synthetic identity,
SFace verification and escalation). Recognizers: dlib's (the independent evaluator: nothing was tuned
or selected with it) and SFace (in the loop: deid's own verification uses it). Edited probes are
embedded at the input face's alignment (the attacker knows where the face is).

Metrics per method and recognizer:

* still verified: the edited probe vs one fixed other photo of the same person, at the recognizer's
  threshold (SFace cosine >= 0.363, dlib distance <= 0.6);
* TPR at FAR 1e-3: the threshold at which 0.1 % of impostor pairs (unedited photos of different people)
  pass; the rate of genuine pairs (edited probe vs every other photo of the person) above it;
* rank-1: the true person is the nearest of the 12 (mean embedding per person); mean rank (1 = best);
* from the face mesh of the re-detected output: detected (a face where the input's was), landmark NME
  (mean point distance / eye distance), pose error (degrees), expression error (face_metrics). Deid's
  photos choose among identities with that same mesh (ops/deid ``choose``), so these are "in the loop"
  too; with dlib, "expr dlib-68" is the expression error from dlib's 68 landmarks, which nothing uses
  (eval/dlib_landmarks; the blur's and the original's figures give its scale);
* skin tone: CIE76 ΔE between the mean colour of the input's skin and the output's at the same place
  (face_metrics.skin_tone_shift): the new identity should keep the person's skin tone and lighting.

Pseudonym consistency: with 20 keys, how often two photos of one person get the same synthetic identity
(the same LSH bucket of their SFace embeddings) and how often two different people do.

Video (``video_frames`` > 0, the default; eval/deid_video.py): the same methods on shared talking-head
clips: speed, the temporal flicker measure, the correlation of the mouth opening with the input's,
identity consistency within a track and still-verified against the input frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .face_metrics import box_iou, expression_error, pose_error, skin_tone_shift
from .swap_eval import DEV_PEOPLE, TEST_PEOPLE, _load, load_glint

METHODS = ("none", "blur", "pixelate", "deid")


@dataclass
class DeidReport:
    split: str
    rows: list = field(default_factory=list)  # (method, dict of metrics)
    pseudonyms: dict = field(default_factory=dict)
    recognizers: tuple = ("dlib", "sface")
    video: object = None  # deid_video.VideoReport

    def to_table(self) -> str:
        cols = [("still verified dlib", "still_dlib", "{:.3f}"), ("still verified sface", "still_sface", "{:.3f}"),
                ("TPR@1e-3 dlib", "tpr_dlib", "{:.3f}"), ("TPR@1e-3 sface", "tpr_sface", "{:.3f}"),
                ("rank-1 dlib", "r1_dlib", "{:.3f}"), ("mean rank dlib", "rank_dlib", "{:.2f}"),
                ("rank-1 sface", "r1_sface", "{:.3f}"), ("detected", "detected", "{:.3f}"),
                ("NME", "nme", "{:.4f}"), ("pose deg", "pose", "{:.2f}"), ("expr", "expression", "{:.2f}"),
                ("expr dlib-68", "expr68", "{:.2f}"),
                ("tone ΔE", "tone", "{:.1f}"), ("fallback", "fallback", "{:.3f}"), ("ms/face", "ms", "{:.0f}")]
        head = "| method | n | " + " | ".join(c[0] for c in cols) + " |"
        lines = [f"deid evaluation, {self.split} people (Glint)", "", head, "|" + "---|" * (len(cols) + 2)]
        for m, d in self.rows:
            vals = [(fmt.format(d[k]) if d.get(k) is not None else "-") for _, k, fmt in cols]
            lines.append(f"| {m} | {d['n']} | " + " | ".join(vals) + " |")
        p = self.pseudonyms
        if p:
            lines += ["", f"pseudonym consistency (LSH {p['bits']} bits, {p['keys']} keys): same person, two photos -> "
                      f"same identity {p['same']:.3f} ({p['same_pairs']} pairs); different people -> same identity "
                      f"{p['diff']:.3f} ({p['diff_pairs']} pairs)"]
            for b, (s, d) in sorted(p.get("other_bits", {}).items()):
                lines.append(f"  with {b} bits: same person {s:.3f}, different people {d:.3f}")
        if self.video is not None:
            lines += ["", self.video.to_table()]
        return "\n".join(lines)


def blur_face(bgr, face, div: float = 16.0):
    out = bgr.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(bgr.shape[1], x1), min(bgr.shape[0], y1)
    out[y0:y1, x0:x1] = cv2.GaussianBlur(bgr, (0, 0), max(1.0, (x1 - x0) / div))[y0:y1, x0:x1]
    return out


def pixelate_face(bgr, face, blocks: int = 8):
    out = bgr.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(bgr.shape[1], x1), min(bgr.shape[0], y1)
    small = cv2.resize(bgr[y0:y1, x0:x1], (blocks, blocks), interpolation=cv2.INTER_AREA)
    out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return out


def _far_threshold(impostor: np.ndarray, far: float, higher_is_match: bool) -> float:
    s = np.sort(impostor)
    if higher_is_match:
        return float(s[min(len(s) - 1, int(np.ceil((1 - far) * len(s))))])
    return float(s[max(0, int(np.floor(far * len(s))) - 1)])


def pseudonym_rates(embs: dict[int, list[np.ndarray]], bits: int = 3, keys: int = 20) -> tuple[float, float, int, int]:
    from ..deid.pseudonym import Pseudonyms

    same = diff = ns = nd = 0
    people = sorted(embs)
    for k in range(keys):
        ps = Pseudonyms(f"eval-key-{k}", bits=bits)
        b = {p: [ps.bucket(e) for e in embs[p]] for p in people}
        for p in people:
            v = b[p]
            for i in range(len(v)):
                for j in range(i + 1, len(v)):
                    same += v[i] == v[j]
                    ns += 1
        for x, p in enumerate(people):
            for q in people[x + 1:]:
                for i in range(0, len(b[p]), 3):
                    for j in range(0, len(b[q]), 3):
                        diff += b[p][i] == b[q][j]
                        nd += 1
    return same / max(ns, 1), diff / max(nd, 1), ns // keys, nd // keys


def run_deid_eval(data: Path, methods=METHODS, split: str = "test", probes: int = 5, log=None,
                  use_dlib: bool = True, samples: list | None = None, deid_options: dict | None = None,
                  video_frames: int = 120) -> DeidReport:
    """``use_dlib=False``: development runs, where choices are made without looking at dlib.
    ``deid_options``: DeidOptions fields for the deid method (default: the operation's defaults).
    ``video_frames``: frames per shared clip for the video part (0: no video part)."""
    from ..analysis import FaceAnalyzer
    from ..analysis.identity import SFACE_THRESHOLD, SFaceEmbedder
    from ..ops.deid import DeidOperation, DeidOptions
    from .dlib_id import DLIB_THRESHOLD, DlibRecognizer, available
    from .dlib_landmarks import DlibLandmarks, expression_error68

    data = Path(data)
    people, photos = load_glint(data)
    if len(people) < 12:
        raise InputError(f"{data}/identity/glint: {len(people)} people; the splits need 12")
    # "net:model=PATH.onnx": the learned network (photos only: the video part runs the default's methods)
    nets = {m: m.partition("=")[2] for m in methods if m.startswith("net:model=")}
    unknown = [m for m in methods if m not in METHODS and m not in nets]
    if unknown:
        raise InputError(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}, "
                         "net:model=PATH.onnx")
    split_people = DEV_PEOPLE if split == "dev" else TEST_PEOPLE
    say = log or (lambda m: None)
    sface = SFaceEmbedder()
    dlib = DlibRecognizer() if use_dlib and available() else None
    marks68 = DlibLandmarks() if dlib else None
    report = DeidReport("development (0-5)" if split == "dev" else "held-out (6-11)",
                        recognizers=("dlib", "sface") if dlib else ("sface",))
    with FaceAnalyzer() as analyzer:
        say(f"gallery: {len(photos)} Glint photos")
        loaded = [_load(p, analyzer) for p in photos]
        gal = []  # (index, person, sface, dlib)
        for k, (p, a) in enumerate(zip(photos, loaded)):
            if a.face is None:
                continue
            gal.append((k, p.person, sface.embed(a.bgr, a.face), dlib.embed(a.bgr, a.face) if dlib else None))
        by_person: dict[int, list] = {}
        for g in gal:
            by_person.setdefault(g[1], []).append(g)
        # impostor thresholds at FAR 1e-3 (unedited photos of different people)
        S = np.stack([g[2] for g in gal])
        P = np.array([g[1] for g in gal])
        iu = np.triu_indices(len(gal), 1)
        imp = P[iu[0]] != P[iu[1]]
        thr_s = _far_threshold((S @ S.T)[iu][imp], 1e-3, True)
        thr_d = None
        if dlib:
            D = np.stack([g[3] for g in gal])
            dd = np.linalg.norm(D[:, None] - D[None], axis=2)[iu][imp]
            thr_d = _far_threshold(dd, 1e-3, False)
        rates = pseudonym_rates({p: [g[2] for g in v] for p, v in by_person.items() if p in split_people})
        other = {b: pseudonym_rates({p: [g[2] for g in v] for p, v in by_person.items() if p in split_people},
                                    bits=b, keys=10)[:2] for b in (2, 4)}
        report.pseudonyms = {"bits": 3, "keys": 20, "same": rates[0], "diff": rates[1], "same_pairs": rates[2],
                             "diff_pairs": rates[3], "other_bits": other}
        ops = {m: DeidOperation(DeidOptions(**{"key": "eval", **(deid_options or {})}), analyzer=analyzer,
                                embedder=sface) for m in methods if m == "deid"}
        ops.update({m: DeidOperation(DeidOptions(key="eval", method="net", model=path), analyzer=analyzer,
                                     embedder=sface) for m, path in nets.items()})
        probe_list = []
        for p in split_people:
            mine = by_person.get(p, [])
            for j in range(min(probes, len(mine) - 1)):
                probe_list.append((mine[(j * 6) % len(mine)], mine[(j * 6 + 3) % len(mine)]))
        for m in methods:
            acc = {k: [] for k in ("still_dlib", "still_sface", "tpr_dlib", "tpr_sface", "r1_dlib", "rank_dlib",
                                   "r1_sface", "detected", "nme", "pose", "expression", "expr68", "tone", "fallback",
                                   "ms")}
            for n, (probe, ref) in enumerate(probe_list):
                k, person = probe[0], probe[1]
                a = loaded[k]
                t0 = time.perf_counter()
                if m == "none":
                    out = a.bgr.copy()
                elif m == "blur":
                    out = blur_face(a.bgr, a.face)
                elif m == "pixelate":
                    out = pixelate_face(a.bgr, a.face)
                else:
                    ops[m].reset()
                    r = ops[m].apply(a.bgr, [a.face])
                    out = r.image
                    acc["fallback"].append(float(r.details["deid"]["fallback"] > 0))
                if m != "none":
                    acc["ms"].append((time.perf_counter() - t0) * 1000)
                es = sface.embed(out, a.face)
                others = [g for g in gal if g[1] == person and g[0] != k]
                acc["still_sface"].append(float(es @ ref[2] >= SFACE_THRESHOLD))
                acc["tpr_sface"].append(float(np.mean([es @ g[2] >= thr_s for g in others])))
                ranks = _ranks(es, gal, k, lambda v, c: float(v @ (c / (np.linalg.norm(c) + 1e-9))))
                acc["r1_sface"].append(float(ranks[person] == 1))
                if dlib:
                    ed = dlib.embed(out, a.face)
                    acc["still_dlib"].append(float(np.linalg.norm(ed - ref[3]) <= DLIB_THRESHOLD))
                    acc["tpr_dlib"].append(float(np.mean([np.linalg.norm(ed - g[3]) <= thr_d for g in others])))
                    ranks = _ranks(ed, gal, k, lambda v, c: -float(np.linalg.norm(v - c)), dlib=True)
                    acc["r1_dlib"].append(float(ranks[person] == 1))
                    acc["rank_dlib"].append(float(ranks[person]))
                tone = skin_tone_shift(a.bgr, out, a.face.landmarks)[0]
                if np.isfinite(tone):
                    acc["tone"].append(tone)
                found = [f for f in analyzer.detect(out) if box_iou(f.box, a.face.box) > 0.3]
                acc["detected"].append(float(bool(found)))
                if found:
                    f = found[0]
                    iod = max(a.face.interocular, 1e-6)
                    acc["nme"].append(float(np.linalg.norm(f.landmarks[:, :2] - a.face.landmarks[:, :2], axis=1).mean() / iod))
                    acc["pose"].append(pose_error(a.face.landmarks, f.landmarks))
                    acc["expression"].append(expression_error(a.face.landmarks, f.landmarks))
                    if marks68:  # the independent check: deid chooses with the mesh that "expr" uses
                        acc["expr68"].append(expression_error68(marks68.points(a.bgr, a.face.box),
                                                                marks68.points(out, f.box)))
                if samples is not None and n < 12:
                    samples.append((m, a.bgr, out, a.face))
            row = {"n": len(probe_list)}
            for key, v in acc.items():
                row[key] = float(np.mean(v)) if v else None
            report.rows.append((m, row))
            say(f"{m}: done")
        report.thresholds = {"sface_far1e-3": thr_s, "dlib_far1e-3": thr_d}
        if video_frames > 0:
            from .deid_video import run_video_eval

            report.video = run_video_eval(data, methods, analyzer, sface, dlib, frames=video_frames,
                                          deid_options=deid_options, log=say)
    return report


def _ranks(vec, gal, exclude: int, score, dlib: bool = False) -> dict[int, int]:
    cents = {}
    for g in gal:
        if g[0] == exclude:
            continue
        cents.setdefault(g[1], []).append(g[3] if dlib else g[2])
    scores = {p: score(vec, np.mean(v, axis=0)) for p, v in cents.items()}
    order = sorted(scores, key=lambda p: -scores[p])
    return {p: i + 1 for i, p in enumerate(order)}


def write_samples(path, samples) -> None:
    by: dict = {}
    for m, src, out, face in samples:
        by.setdefault(id(src), [src, face, []])[2].append(out)
    rows = []
    for src, face, outs in list(by.values())[:12]:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        pad = int(0.3 * (x1 - x0))
        b = (max(0, x0 - pad), max(0, y0 - pad), min(src.shape[1], x1 + pad), min(src.shape[0], y1 + pad))
        crop = lambda im: cv2.resize(im[b[1]:b[3], b[0]:b[2]], (128, 128))  # noqa: E731
        rows.append(np.hstack([crop(src)] + [crop(o) for o in outs]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(path), np.vstack(rows))


def run_cli(args) -> int:
    import sys

    given = getattr(args, "methods", None)
    methods = METHODS if not given else tuple(m.strip() for m in given.split(",") if m.strip())
    samples = [] if getattr(args, "samples", None) else None
    split = getattr(args, "split", "test")
    # The development split is where parameters are chosen: dlib (the independent yardstick) stays out,
    # as in eval swap.
    report = run_deid_eval(Path(args.data), methods=methods, split=split, use_dlib=split != "dev",
                           samples=samples, log=lambda m: print(m, file=sys.stderr) if sys.stderr.isatty() else None,
                           video_frames=getattr(args, "video_frames", 120))
    print(report.to_table())
    if samples:
        write_samples(args.samples, samples)
    return 0

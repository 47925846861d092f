"""``facecanvas eval swap``: identity transfer, target leakage, pose and expression fidelity of face swaps.

Data (``--data``, the shared data root): ``identity/glint`` (12 people x 30 ArcFace-aligned 112 px crops,
labels.csv path,identity) for sources and same-identity galleries, plus ``faces/celebahq512`` and
``faces/utkface`` as extra targets (people outside the gallery). Tight crops are enlarged and framed
before detection (``pad_for_detection``).

Pairs are deterministic: people sorted by name, 0-5 are the development split (every parameter of the
swap was chosen on them, by eye and with SFace), 6-11 the held-out split reported by default. For each
person A of a split, ``sources`` photos are sources; each is put on one Glint photo of another person B
of the same split and on one CelebA-HQ or UTKFace face.

Metrics, per method:

* ID retrieval: is A the nearest of the 12 people (cosine to each person's mean embedding; gallery =
  every photo of each person except the source and target photos), with dlib's recognizer (the
  independent yardstick: nothing was tuned with it) and SFace (in the loop);
* target leakage (Glint targets): how often B is still the nearest person;
* pose error: degrees of the 3D rotation between the target's mesh and the output's (re-detected) mesh;
* expression error: mean absolute difference of mouth opening, eye openings and smile (% eye distance);
* skin tone shift: CIE76 between the mean colour of the target's skin and the output's there (the
  target's skin tone and lighting should stay);
* detected: the output still has a face where the target's was; ms per face: the swap call alone.
"""

from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .face_metrics import box_iou, expression_error, pose_error, skin_tone_shift

METHODS = ("none", "naive", "mesh", "aei")
DEV_PEOPLE = range(0, 6)
TEST_PEOPLE = range(6, 12)


@dataclass
class Photo:
    path: Path
    person: int | None  # index among the Glint people; None for extra targets
    kind: str  # glint, celebahq512, utkface


@dataclass
class Analysed:
    bgr: np.ndarray
    face: object | None
    sface: np.ndarray | None = None
    dlib: np.ndarray | None = None


@dataclass
class PairResult:
    method: str
    source: Photo
    target: Photo
    detected: bool = False
    id_dlib: bool | None = None
    id_sface: bool | None = None
    leak_dlib: bool | None = None
    leak_sface: bool | None = None
    pose: float | None = None
    expression: float | None = None
    ms: float | None = None
    sim_source: float | None = None  # SFace cosine of the output to the source photo
    tone: float | None = None  # CIE76 between the target's skin and the output's (face_metrics.skin_tone_shift)


@dataclass
class SwapReport:
    split: str
    results: list[PairResult] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    recognizers: tuple[str, ...] = ("dlib", "sface")

    def summary(self, method: str) -> dict:
        rs = [r for r in self.results if r.method == method]

        def rate(vals):
            v = [x for x in vals if x is not None]
            return (float(np.mean(v)) if v else None, len(v))

        def mean(vals):
            v = [x for x in vals if x is not None]
            return float(np.mean(v)) if v else None

        return {
            "pairs": len(rs),
            "id_dlib": rate(r.id_dlib for r in rs), "id_sface": rate(r.id_sface for r in rs),
            "leak_dlib": rate(r.leak_dlib for r in rs), "leak_sface": rate(r.leak_sface for r in rs),
            "pose": mean(r.pose for r in rs), "pose_p90": _pct([r.pose for r in rs], 90),
            "expression": mean(r.expression for r in rs), "expression_p90": _pct([r.expression for r in rs], 90),
            "detected": rate(r.detected for r in rs), "ms": mean(r.ms for r in rs),
            "sim_source": mean(r.sim_source for r in rs), "tone": mean(r.tone for r in rs),
        }

    def to_table(self) -> str:
        methods = list(dict.fromkeys([r.method for r in self.results] + list(self.unavailable)))
        rows = [("", *methods)]

        def fmt(v, kind):
            if v is None:
                return "-"
            if kind == "rate":
                val, n = v
                return "-" if val is None else f"{val:.3f} ({n})"
            return f"{v:.2f}" if kind == "num" else f"{v:.0f}"

        lines = [
            ("ID top-1, dlib (independent)", "id_dlib", "rate"),
            ("ID top-1, SFace (in the loop)", "id_sface", "rate"),
            ("target leakage, dlib", "leak_dlib", "rate"),
            ("target leakage, SFace", "leak_sface", "rate"),
            ("SFace cos to source", "sim_source", "num"),
            ("pose error, deg (mean)", "pose", "num"),
            ("pose error, deg (p90)", "pose_p90", "num"),
            ("expression error (mean)", "expression", "num"),
            ("expression error (p90)", "expression_p90", "num"),
            ("skin tone shift, CIE76 (mean)", "tone", "num"),
            ("face still detected", "detected", "rate"),
            ("ms per face (swap only)", "ms", "int"),
        ]
        sums = {m: self.summary(m) for m in methods if m not in self.unavailable}
        for label, key, kind in lines:
            rows.append((label, *[self.unavailable.get(m, None) and "not trained" if m in self.unavailable
                                  else fmt(sums[m][key], kind) for m in methods]))
        rows.append(("pairs", *[str(sums[m]["pairs"]) if m in sums else "-" for m in methods]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = [f"face swap, {self.split} people (rates: value (n)); 'none' = the target unchanged"]
        for r in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        for m, why in self.unavailable.items():
            out.append(f"{m}: {why}")
        return "\n".join(out)


def _pct(vals, q):
    v = [x for x in vals if x is not None]
    return float(np.percentile(v, q)) if v else None


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big")


def load_glint(root: Path) -> tuple[list[str], list[Photo]]:
    d = root / "identity" / "glint"
    labels = d / "labels.csv"
    if not labels.is_file():
        raise InputError(f"{labels}: not found (expected the shared data root with identity/glint)")
    rows = list(csv.DictReader(labels.open()))
    people = sorted({r["identity"] for r in rows})
    index = {p: i for i, p in enumerate(people)}
    photos = sorted((Photo(d / r["path"], index[r["identity"]], "glint") for r in rows), key=lambda p: str(p.path))
    return people, photos


def extra_targets(root: Path) -> list[Photo]:
    out = []
    for kind, sub in (("celebahq512", "faces/celebahq512"), ("utkface", "faces/utkface/images")):
        d = root / sub
        if d.is_dir():
            out += [Photo(p, None, kind) for p in sorted(d.glob("*.jpg"))]
    return out


def make_pairs(photos: list[Photo], extras: list[Photo], people: range, sources: int = 4) -> list[tuple[Photo, Photo]]:
    """Deterministic (source, target) pairs for the people of one split."""
    by = {i: [p for p in photos if p.person == i] for i in people}
    ppl = list(people)
    cele = [e for e in extras if e.kind == "celebahq512"]
    utk = [e for e in extras if e.kind == "utkface"]
    pairs = []
    for n, a in enumerate(ppl):
        mine = by[a]
        for k in range(sources):
            src = mine[(k * 7) % len(mine)]
            b = ppl[(n + 1 + k % (len(ppl) - 1)) % len(ppl)]
            pairs.append((src, by[b][(k * 5 + 3 + n) % len(by[b])]))
            pool = cele if (k % 2 == 0 or not utk) else utk
            if pool:
                pairs.append((src, pool[_hash(f"{a}-{k}") % len(pool)]))
    return pairs


class _Recognizers:
    def __init__(self):
        from ..analysis.identity import SFaceEmbedder
        from .dlib_id import DlibRecognizer, available

        self.sface = SFaceEmbedder()
        self.dlib = DlibRecognizer() if available() else None

    def embed(self, a: Analysed) -> Analysed:
        if a.face is not None:
            a.sface = self.sface.embed(a.bgr, a.face)
            if self.dlib is not None:
                a.dlib = self.dlib.embed(a.bgr, a.face)
        return a


def _load(photo: Photo, analyzer) -> Analysed:
    from ..analysis.identity import is_tight, pad_for_detection
    from ..media.image_io import load_image

    bgr = load_image(photo.path).bgr
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    faces = analyzer.detect(bgr)
    if is_tight(bgr, faces):
        padded = pad_for_detection(bgr, 0.5)
        pf = analyzer.detect(padded)
        if pf or not faces:
            bgr, faces = padded, pf
    return Analysed(bgr, faces[0] if faces else None)


def _nearest(vec, gallery: dict[int, list[np.ndarray]], exclude: set[int], euclid: bool,
             vec_ids: dict[int, list[int]]) -> int:
    best, best_score = -1, -np.inf
    for person, vecs in gallery.items():
        keep = [v for v, i in zip(vecs, vec_ids[person]) if i not in exclude]
        if not keep:
            continue
        c = np.mean(keep, axis=0)
        score = -float(np.linalg.norm(vec - c)) if euclid else float(vec @ (c / (np.linalg.norm(c) + 1e-9)))
        if score > best_score:
            best, best_score = person, score
    return best


def parse_method(spec: str) -> tuple[str, dict]:
    """"mesh" -> ("mesh", {}); "mesh:shape=1,occlusion=off" -> ("mesh", {"shape": "1", ...})."""
    base, _, rest = spec.partition(":")
    over = {}
    for item in filter(None, (x.strip() for x in rest.replace(";", ",").split(","))):
        k, eq, v = item.partition("=")
        if not eq:
            raise InputError(f"{spec}: expected METHOD:option=value,...")
        over[k.strip()] = v.strip()
    if base not in METHODS:
        raise InputError(f"unknown method {base!r}; choose from {', '.join(METHODS)}")
    return base, over


def build_ops(methods, model: str | None = None):
    from ..ops.swap import SwapOptions

    ops, unavailable = {}, {}
    for spec in methods:
        m, over = parse_method(spec)
        if m == "aei":
            from ..ops.swap import _default_aei_path

            given = over.get("model") or model  # "aei:model=PATH.onnx" on the command line
            path = Path(given) if given else _default_aei_path()
            if not path.is_file():
                unavailable[spec] = f"not trained ({path} not found)"
                continue
        ops[spec] = SwapOptions.from_dict({"source": "(eval)", "method": "mesh" if m == "none" else m,
                                           **({"model": model} if m == "aei" and model else {}), **over})
    return ops, unavailable


def run_swap_eval(data: Path, methods=("none", "naive", "mesh", "aei"), split: str = "test", sources: int = 4,
                  model: str | None = None, limit: int | None = None, log=None,
                  settings_override: dict | None = None, samples: list | None = None,
                  use_dlib: bool = True) -> SwapReport:
    """The swap benchmark on ``split`` ("dev": people 0-5, "test": 6-11). ``samples``: when a list,
    (method, source, target, output) images are appended to it."""
    from ..analysis import FaceAnalyzer
    from ..ops.swap import SwapOperation
    from ..swap import SourceFace

    data = Path(data)
    people, photos = load_glint(data)
    if len(people) < 12:
        raise InputError(f"{data}/identity/glint: {len(people)} people; the splits need 12")
    extras = extra_targets(data)
    split_people = DEV_PEOPLE if split == "dev" else TEST_PEOPLE
    pairs = make_pairs(photos, extras, split_people, sources)
    if limit:
        pairs = pairs[:limit]
    option_sets, unavailable = build_ops(methods, model)
    report = SwapReport("development (0-5)" if split == "dev" else "held-out (6-11)", unavailable=unavailable)
    rec = _Recognizers()
    if not use_dlib:
        rec.dlib = None  # the development runs: parameters are chosen without looking at dlib
    if rec.dlib is None:
        report.recognizers = ("sface",)
    say = log or (lambda m: None)
    with FaceAnalyzer() as analyzer:
        say(f"gallery: embedding {len(photos)} Glint photos")
        gal_s: dict[int, list] = {}
        gal_d: dict[int, list] = {}
        ids: dict[int, list[int]] = {}
        index_of = {}
        for k, p in enumerate(photos):
            a = rec.embed(_load(p, analyzer))
            index_of[p.path] = k
            if a.face is None:
                continue
            gal_s.setdefault(p.person, []).append(a.sface)
            gal_d.setdefault(p.person, []).append(a.dlib)
            ids.setdefault(p.person, []).append(k)
        targets: dict[Path, Analysed] = {}
        sources_cache: dict[Path, SourceFace] = {}
        src_emb: dict[Path, np.ndarray] = {}
        for n, (sp, tp) in enumerate(pairs):
            if tp.path not in targets:
                targets[tp.path] = _load(tp, analyzer)
            tgt = targets[tp.path]
            if tgt.face is None:
                continue
            if sp.path not in sources_cache:
                sources_cache[sp.path] = SourceFace.from_paths(str(sp.path), analyzer, embed=False)
                sa = rec.embed(_load(sp, analyzer))
                src_emb[sp.path] = sa.sface
                if sa.sface is not None:  # the learned model's identity input (the same SFace vector)
                    sources_cache[sp.path].embedding = sa.sface
            src = sources_cache[sp.path]
            exclude = {index_of[sp.path]} | ({index_of[tp.path]} if tp.path in index_of else set())
            for m, opts in option_sets.items():
                if settings_override:
                    opts = opts.replace(**settings_override)
                op = SwapOperation(opts, source=src)
                t0 = time.perf_counter()
                out = tgt.bgr.copy() if m.startswith("none") else op.apply(tgt.bgr, [tgt.face]).image
                ms = (time.perf_counter() - t0) * 1000
                r = PairResult(m, sp, tp, ms=None if m.startswith("none") else ms)
                tone = skin_tone_shift(tgt.bgr, out, tgt.face.landmarks)[0]
                r.tone = tone if np.isfinite(tone) else None
                found = [f for f in analyzer.detect(out) if box_iou(f.box, tgt.face.box) > 0.3]
                if found:
                    f = found[0]
                    r.detected = True
                    oa = rec.embed(Analysed(out, f))
                    r.pose = pose_error(tgt.face.landmarks, f.landmarks)
                    r.expression = expression_error(tgt.face.landmarks, f.landmarks)
                    r.sim_source = float(oa.sface @ src_emb[sp.path]) if src_emb[sp.path] is not None else None
                    top = _nearest(oa.sface, gal_s, exclude, False, ids)
                    r.id_sface = top == sp.person
                    r.leak_sface = (top == tp.person) if tp.person is not None else None
                    if oa.dlib is not None:
                        top = _nearest(oa.dlib, gal_d, exclude, True, ids)
                        r.id_dlib = top == sp.person
                        r.leak_dlib = (top == tp.person) if tp.person is not None else None
                else:
                    r.id_sface = r.id_dlib = False if rec.dlib is not None else None
                    r.id_sface = False
                report.results.append(r)
                if samples is not None:
                    samples.append((m, src.texture, tgt.bgr, out, tgt.face))
            say(f"pair {n + 1}/{len(pairs)}")
    return report


def write_samples(path: str | Path, samples: list, per_row: int = 8) -> None:
    """A grid: each row a pair (source texture, target, then each method's output), face crops 160 px."""
    rows, cur, last = [], [], None
    for m, tex, tgt, out, face in samples:
        key = id(tgt)
        if key != last:
            if cur:
                rows.append(cur)
            x0, y0, x1, y1 = (int(v) for v in face.box)
            pad = int(0.25 * (x1 - x0))
            box = (max(0, x0 - pad), max(0, y0 - pad), min(tgt.shape[1], x1 + pad), min(tgt.shape[0], y1 + pad))
            crop = lambda im, b=box: cv2.resize(im[b[1]:b[3], b[0]:b[2]], (160, 160))  # noqa: E731
            cur = [cv2.resize(tex, (160, 160)), crop(tgt)]
            last = key
        if not m.startswith("none"):
            cur.append(crop(out))
    if cur:
        rows.append(cur)
    width = max(len(r) for r in rows)
    rows = [r + [np.zeros((160, 160, 3), np.uint8)] * (width - len(r)) for r in rows[: per_row * 4]]
    cv2.imwrite(str(path), np.vstack([np.hstack(r) for r in rows]))


def run_cli(args) -> int:
    """``facecanvas eval swap --data SHARED_ROOT [--split test|dev] [--methods ...] [--samples PNG]``."""
    import sys

    given = getattr(args, "methods", None)
    if not given:
        methods = METHODS
    else:
        methods = tuple(m.strip() for m in given.split(" " if " " in given else ",") if m.strip())
        # "mesh:shape=1,occlusion=off" contains commas: methods with options are separated by spaces.
    for m in methods:
        parse_method(m)
    samples = [] if getattr(args, "samples", None) else None
    split = getattr(args, "split", "test")
    # The development split is where parameters are chosen: dlib (the independent yardstick) stays out.
    report = run_swap_eval(Path(args.data), methods=methods, split=split, use_dlib=split != "dev",
                           limit=getattr(args, "limit", None), samples=samples,
                           log=lambda m: print(m, file=sys.stderr) if sys.stderr.isatty() else None)
    print(report.to_table())
    if samples:
        write_samples(args.samples, samples)
    return 0

"""How real edits look on real faces: ``facecanvas eval look --data DIR``.

The blank-face benchmark (``erase_eval``) scores the fill on synthetic blank faces; this one scores the
finished edit (erase and every built-in effect) on real photos with CelebAMask-HQ parsing masks (19-class
palette PNGs in ``DIR/masks``), on the face parser's held-out split (``train.parser_data.split_stems``: the
150 stems with the smallest md5 of their name), so nothing is measured on images the parser was trained on.

Per face and edit, in image pixels (``iod``: the face's eye distance):

* **hair repainted**: of the ground-truth hair pixels within ``HAIR_BAND`` iod of the ground-truth facial parts
  (brows, eyes, nose, lips, mouth), the share the edit changed by more than 12 levels (any channel); only faces
  with at least 300 such hair pixels count.
* **brow contrast**: |mean luminance of the brow polygons (landmark hulls, undilated; pixels the ground truth
  calls hair, glasses, hat or background left out) - median luminance of the forehead strip above them
  (0.15-0.40 iod above the brow top, ground-truth skin)|, after / before; faces whose brows stand out by at
  least 6 levels before. 1 = the brows are still there, 0 = the region matches the forehead.
* **seam**: new strong edges on the edit's boundary band: pixels within ``max(2, 0.03 iod)`` of the edge of the
  paste's alpha support whose luminance gradient (Sobel of a sigma-1 blur) exceeds T in the output but not in
  the input, as a share of the band. T = max(12, the 90th percentile of the input's gradient on its own skin).
* **tone gap**: CIE76 delta E between the median CIE Lab colour of the repainted skin (alpha >= 0.5, within
  0.08 iod inside the support's edge, ground truth skin, nose or brows) and of the untouched skin ring just
  outside (alpha = 0, within 0.08 iod, ground-truth skin).

Medians over faces. ``--parser none`` gives the eraser's behaviour without the face parser (where the code has
one), ``--parser oracle`` feeds the ground-truth labels in its place (an upper bound for the parser).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..analysis import FaceAnalyzer
from ..analysis import landmark_groups as lg
from ..analysis.align import align_face
from ..errors import InputError
from .blank_faces import read_bgr, read_parsing

EDITS = ("erase", "comic", "eyebrowless", "mono-eye", "small-face", "toonized", "transplant")
METRICS = ("hair", "brow", "seam", "tone")
HAIR_BAND = 0.25  # iod: how far from the parts hair counts as "near the parts"
CHANGED = 12  # levels: a pixel changed by more than this (any channel) was repainted
MIN_HAIR = 300

# CelebAMask-HQ palette ids
C_SKIN, C_NOSE, C_GLASSES, C_LEYE, C_REYE, C_LBROW, C_RBROW = 1, 2, 3, 4, 5, 6, 7
C_MOUTH, C_ULIP, C_LLIP, C_HAIR, C_HAT = 10, 11, 12, 13, 14
PART_IDS = (C_NOSE, C_LEYE, C_REYE, C_LBROW, C_RBROW, C_MOUTH, C_ULIP, C_LLIP)
# CelebAMask-HQ -> the face parser's classes (same table as train/parser_data.py; kept here so that eval does
# not import train).
CELEBAMASK_TO_PARSER = np.array([0, 1, 4, 8, 3, 3, 2, 2, 9, 9, 6, 5, 5, 7, 11, 9, 10, 10, 0], np.uint8)


def _ranked_stems(data: str | Path) -> list[str]:
    """Stems of ``data`` with images and masks, in the md5 order the parser's split uses."""
    import hashlib

    data = Path(data)
    stems = sorted(p.stem for p in (data / "images").glob("*.jpg") if (data / "masks" / f"{p.stem}.png").exists())
    return sorted(stems, key=lambda s: hashlib.md5(s.encode()).hexdigest())


def held_out_stems(data: str | Path, n_test: int = 150) -> list[str]:
    """The face parser's held-out stems of ``data`` (the same rule as ``train.parser_data.split_stems``)."""
    return sorted(_ranked_stems(data)[:n_test])


DEV_FACES = 80


def dev_stems(data: str | Path, n_test: int = 150, n_dev: int = DEV_FACES) -> list[str]:
    """The development stems: the ``n_dev`` that follow the held-out ones in the same order. Choices about
    the edits are made on them, so the held-out faces stay a report. (The parser trained on these, so its
    labels are better here than on new faces: a development figure flatters the parser a little.)"""
    return sorted(_ranked_stems(data)[n_test:n_test + n_dev])


class OracleParser:
    """Ground-truth CelebAMask-HQ labels served as a face parser for one face (``parse`` of any canonical crop
    of that face): what the eraser would do with a perfect parser."""

    input_size = 256

    def __init__(self, labels_celebamask: np.ndarray, face):
        self.labels = CELEBAMASK_TO_PARSER[np.minimum(labels_celebamask, 18)]
        self.points5 = face.five_points()

    def parse(self, crop_bgr: np.ndarray) -> np.ndarray:
        s = crop_bgr.shape[0]
        t = align_face(self.points5, s)
        return cv2.warpAffine(self.labels, t.matrix, (s, s), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# ------------------------------------------------------------------ running the edits


def _supports_parser() -> bool:
    from ..eraser import EraseSettings

    return "parser" in {f for f in getattr(EraseSettings, "__dataclass_fields__", {})}


def _parser_for(mode: str, labels: np.ndarray, face):
    """What to pass as ``parser``: "auto" (the default: leave it out), None, or an OracleParser."""
    if mode == "auto":
        return "auto"
    if mode == "none":
        return None
    return OracleParser(labels, face)


def run_edit(edit: str, image: np.ndarray, face, parser="auto", donor=None, effects: dict | None = None):
    """(output image, image-space alpha of the paste) of one edit on one face; ``parser``: "auto" (the code's
    default), None or a parser object (ignored by code without a parser)."""
    from ..eraser import EraseSettings, erase_face

    kw = {} if parser == "auto" or not _supports_parser() else {"parser": parser}
    out = image.copy()
    if edit == "erase":
        done = erase_face(out, face, EraseSettings(**kw))
        return out, done.alpha
    from ..effects import Effect
    from ..effects.compose import apply_to_face

    effects = {} if effects is None else effects
    if edit not in effects:
        effects[edit] = Effect(edit) if edit != "transplant" else None
    eff = effects[edit]
    if edit == "transplant":
        if donor is None:
            return None, None
        from ..effects.spec import load_effect

        if "_transplant_resolved" not in effects:
            effects["_transplant_resolved"] = load_effect("transplant").resolve(1.0)
        resolved, stickers = effects["_transplant_resolved"], {}
    else:
        resolved, stickers = eff.resolved, eff.stickers
    if abs(face.pose.yaw) > resolved.max_yaw:
        return None, None
    ckw = kw if "parser" in inspect.signature(apply_to_face).parameters else {}
    r = apply_to_face(out, face, resolved, stickers, donor, None, None, **ckw)
    alpha = r.alpha if r.alpha is not None else np.zeros(image.shape[:2], np.float32)
    return out, alpha


# ------------------------------------------------------------------ metrics


def _luma(bgr: np.ndarray) -> np.ndarray:
    b, g, r = cv2.split(bgr.astype(np.float32))
    return 0.114 * b + 0.587 * g + 0.299 * r


def _disk(r: float) -> np.ndarray:
    r = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _hull(points: np.ndarray, group: str, shape) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(points[list(lg.GROUPS[group]), :2]).astype(np.int32)), 1)
    return m.astype(bool)


def hair_repainted(before: np.ndarray, after: np.ndarray, labels: np.ndarray, iod: float) -> float | None:
    parts = np.isin(labels, PART_IDS).astype(np.uint8)
    near = cv2.dilate(parts, _disk(HAIR_BAND * iod)).astype(bool)
    hair = near & (labels == C_HAIR)
    if hair.sum() < MIN_HAIR:
        return None
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(-1)
    return float((diff[hair] > CHANGED).mean())


def brow_contrast(image: np.ndarray, points: np.ndarray, labels: np.ndarray, iod: float) -> list[float] | None:
    """Per brow: |mean luma of the brow polygon - median luma of the forehead strip above it|."""
    y = _luma(image)
    out = []
    visible = ~np.isin(labels, (0, C_GLASSES, C_HAIR, C_HAT))
    for group in ("left_brow", "right_brow"):
        poly = _hull(points, group, image.shape) & visible
        pts = points[list(lg.GROUPS[group]), :2]
        x0, x1 = int(pts[:, 0].min()), int(np.ceil(pts[:, 0].max()))
        top = float(pts[:, 1].min())
        y0, y1 = int(round(top - 0.40 * iod)), int(round(top - 0.15 * iod))
        strip = np.zeros(image.shape[:2], bool)
        strip[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
        strip &= labels == C_SKIN
        if poly.sum() < 30 or strip.sum() < 30:
            return None
        out.append(abs(float(y[poly].mean()) - float(np.median(y[strip]))))
    return out


def _gradient(bgr: np.ndarray) -> np.ndarray:
    y = cv2.GaussianBlur(_luma(bgr), (0, 0), 1.0)
    return cv2.magnitude(cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3))


def seam_share(before: np.ndarray, after: np.ndarray, alpha: np.ndarray, labels: np.ndarray, iod: float) -> float | None:
    support = (alpha > 0.02).astype(np.uint8)
    if not support.any():
        return None
    k = _disk(max(2.0, 0.03 * iod))
    band = cv2.dilate(support, k).astype(bool) & ~cv2.erode(support, k).astype(bool)
    g0, g1 = _gradient(before), _gradient(after)
    skin = labels == C_SKIN
    thr = max(12.0, float(np.percentile(g0[skin], 90))) if skin.sum() > 100 else 12.0
    new = (g1 > thr) & (g0 <= thr) & band
    return float(new.sum() / max(1, band.sum()))


def _lab(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)


def tone_gap(after: np.ndarray, alpha: np.ndarray, labels: np.ndarray, iod: float) -> float | None:
    inside = (alpha >= 0.5).astype(np.uint8)
    if not inside.any():
        return None
    w = 0.08 * iod
    din = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    dout = cv2.distanceTransform((alpha <= 0).astype(np.uint8), cv2.DIST_L2, 3)
    inner = (inside > 0) & (din <= w) & np.isin(labels, (C_SKIN, C_NOSE, C_LBROW, C_RBROW))
    outer = (alpha <= 0) & (dout <= w) & (labels == C_SKIN)
    if inner.sum() < 30 or outer.sum() < 30:
        return None
    lab = _lab(after)
    return float(np.linalg.norm(np.median(lab[inner], 0) - np.median(lab[outer], 0)))


def score_edit(before, after, alpha, labels, face, with_brows: bool = True) -> dict[str, float | None]:
    iod = float(face.interocular)
    pts = face.landmarks
    scores = {"hair": hair_repainted(before, after, labels, iod), "seam": seam_share(before, after, alpha, labels, iod),
              "tone": tone_gap(after, alpha, labels, iod), "brow": None}
    if with_brows:
        c0 = brow_contrast(before, pts, labels, iod)
        if c0 is not None and np.mean(c0) >= 6.0:
            c1 = brow_contrast(after, pts, labels, iod)
            if c1 is not None:
                scores["brow"] = float(np.mean(c1) / np.mean(c0))
    return scores


# ------------------------------------------------------------------ the report


@dataclass
class LookReport:
    edits: tuple[str, ...]
    values: dict[str, dict[str, list[float]]]  # edit -> metric -> per-face values (faces that count)
    faces: dict[str, int]  # edit -> faces edited
    n: int
    parser: str
    data_dir: str = ""
    seconds: float = 0.0
    per_face: list[dict] = field(default_factory=list)
    split: str = "test"

    def median(self, edit: str, metric: str) -> float:
        v = self.values[edit][metric]
        return float(np.median(v)) if v else float("nan")

    def to_table(self) -> str:
        which = "development" if self.split == "dev" else "held-out"
        lines = [f"Look eval on {self.data_dir or 'data'}: {self.n} {which} faces, parser {self.parser}; "
                 "medians over faces (faces counted in brackets).", "",
                 "| edit | hair repainted | brow contrast (after/before) | seam (new edges on the band) "
                 "| tone gap (dE76) | faces |", "|---|---:|---:|---:|---:|---:|"]
        for e in self.edits:
            cells = []
            for m, fmt in (("hair", "{:.3f}"), ("brow", "{:.2f}"), ("seam", "{:.4f}"), ("tone", "{:.2f}")):
                v = self.values[e][m]
                cells.append(f"{fmt.format(np.median(v))} ({len(v)})" if v else "-")
            lines.append(f"| {e} | " + " | ".join(cells) + f" | {self.faces[e]} |")
        lines += ["", f"hair: share of ground-truth hair within {HAIR_BAND} iod of the parts changed by > {CHANGED} "
                      f"levels (faces with >= {MIN_HAIR} such pixels); brow: brow-polygon contrast against the "
                      "forehead strip, after/before (faces with >= 6 levels before); seam: share of the alpha "
                      "edge band with new strong gradients; tone: CIE76 dE between repainted and surrounding skin."]
        return "\n".join(lines)


def run_look_eval(data_dir: str | Path, edits=EDITS, limit: int | None = None, parser: str = "auto",
                  analyzer: FaceAnalyzer | None = None, progress: bool = True, split: str = "test") -> LookReport:
    """``split``: "test", the parser's held-out faces (the report), or "dev", the development faces."""
    data = Path(data_dir)
    if split not in ("dev", "test"):
        raise ValueError(f"split {split!r}: expected dev or test")
    stems = (dev_stems(data) if split == "dev" else held_out_stems(data))[: None if limit is None else max(0, int(limit))]
    if not stems:
        raise InputError(f"{data}: no images/*.jpg with masks/*.png (give a CelebAMask-HQ split folder, e.g. ../shared/data/faces/celebamaskhq/dev)")
    bad = [e for e in edits if e not in EDITS]
    if bad:
        raise ValueError(f"unknown edit(s) {', '.join(bad)}; choose from {', '.join(EDITS)}")
    t0 = time.perf_counter()
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer(max_faces=1)
    found = []
    try:
        for stem in tqdm(stems, desc="faces", file=sys.stderr, disable=not progress):
            img = read_bgr(data / "images" / f"{stem}.jpg")
            faces = analyzer.detect(img)
            if faces:
                found.append((stem, img, read_parsing(data / "masks" / f"{stem}.png", img.shape), faces[0]))
    finally:
        if own:
            analyzer.close()
    from ..effects.apply import _Donor

    values = {e: {m: [] for m in METRICS} for e in edits}
    count = dict.fromkeys(edits, 0)
    effects: dict = {}
    per_face = []
    for i, (stem, img, labels, face) in enumerate(tqdm(found, desc="edits", file=sys.stderr, disable=not progress)):
        d_stem, d_img, _, d_face = found[(i + 1) % len(found)]
        donor = _Donor(d_img, d_face) if len(found) > 1 else None
        for e in edits:
            p = _parser_for(parser, labels, face)
            out, alpha = run_edit(e, img, face, p, donor, effects)
            if out is None:
                continue
            count[e] += 1
            s = score_edit(img, out, alpha, labels, face, with_brows=e in ("erase", "eyebrowless"))
            per_face.append({"stem": stem, "edit": e, **s})
            for m in METRICS:
                if s[m] is not None:
                    values[e][m].append(s[m])
    return LookReport(tuple(edits), values, count, len(found), parser, str(data), time.perf_counter() - t0, per_face,
                      split)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.eval.look_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="DIR with images/*.jpg and masks/*.png (CelebAMask-HQ)")
    ap.add_argument("--edits", default=",".join(EDITS))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--parser", default="auto", choices=("auto", "none", "oracle"))
    ap.add_argument("--split", default="test", choices=("dev", "test"),
                    help="test: the parser's 150 held-out faces; dev: the 80 after them, where choices are made")
    ap.add_argument("--json", help="also write the per-face scores here")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    rep = run_look_eval(a.data, tuple(e.strip() for e in a.edits.split(",") if e.strip()), a.limit, a.parser,
                        progress=not a.quiet, split=a.split)
    print(rep.to_table())
    print(f"\n{rep.seconds:.0f} s")
    if a.json:
        import json

        Path(a.json).write_text(json.dumps(rep.per_face))
    return 0


if __name__ == "__main__":
    sys.exit(main())

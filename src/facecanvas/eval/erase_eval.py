"""The eraser's own evaluation, after FaceEraser's protocol (Hua et al. 2021, section 3.2 and Table 1).

Each synthetic blank face (``blank_faces``: a forehead over its mirror image, so every pixel is real skin) gets
a hole shaped like the facial parts (brows, eyes, nose, mouth) of *another* face of the data set, taken in the
canonical 256x256 aligned frame. Every method fills the same holes of the same pairs; the fill is compared with
the blank face it was cut from: whole-image PSNR and MAE (the paper's Table 1), PSNR inside the hole, the
texture ratio (grain of the fill / grain of the truth; 1 = the same, < 1 smoother) and the texture gap
|log(texture ratio)| per face (0 = the truth's grain; its median does not let smooth and noisy faces cancel).

    python -m facecanvas.eval.erase_eval /path/to/celebamaskhq/train --limit 300 --samples /tmp/samples.png
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..analysis import Face, FaceAnalyzer, align_face
from ..inpaint import METHODS, get_fill
from ..inpaint.fills import LEARNED, learned_fill
from ..masks import PARTS, part_masks, union
from .blank_faces import BLANK_SIZE, DEFAULT_RULES, BlankFace, ForeheadRules, blank_face, list_face_files
from .blank_faces import read_bgr, read_parsing
from .metrics import aggregate, mae, psnr, texture_ratio

METRICS = ("psnr", "mae", "hole_psnr", "texture", "texture_gap")
HOLE_COLOR = (60, 200, 60)  # BGR: how the hole is shown in the sample grid


@dataclass(frozen=True)
class ErasePair:
    """A blank face (the truth) and the hole to fill in it, from the parts of face ``mask_from``."""

    name: str
    truth: np.ndarray  # 256x256x3 uint8 BGR
    hole: np.ndarray  # 256x256 bool
    mask_from: str

    def masked(self) -> np.ndarray:
        """The method's input: the truth with the hole blacked out, so no method can read the answer."""
        out = self.truth.copy()
        out[self.hole] = 0
        return out


@dataclass
class PairSet:
    pairs: list[ErasePair]
    n_read: int  # images read (bounded by ``limit``)
    skipped: dict[str, str] = field(default_factory=dict)  # image name -> why it gave no blank face
    n_masks: int = 0  # images whose face was found, so that lent its parts as a hole


@dataclass
class MethodScores:
    """One method's per-sample metrics (in pair order) and their aggregates."""

    method: str
    per_sample: dict[str, np.ndarray]  # metric -> (n,) float64; mae on the 0..255 scale
    seconds: float  # time spent filling, all pairs

    def stat(self, metric: str, how: str = "median") -> float:
        return aggregate(self.per_sample[metric])[how]

    @property
    def median(self) -> dict[str, float]:
        return {m: self.stat(m, "median") for m in METRICS}

    @property
    def mean(self) -> dict[str, float]:
        return {m: self.stat(m, "mean") for m in METRICS}


@dataclass
class EvalReport:
    """Per-method aggregated metrics of one run; every method saw exactly the same pairs."""

    methods: tuple[str, ...]
    scores: dict[str, MethodScores]
    n: int  # pairs evaluated (= blank faces kept)
    n_read: int  # images read
    n_skipped: int  # images read that gave no blank face
    skip_reasons: dict[str, int] = field(default_factory=dict)
    n_masks: int = 0
    data_dir: str = ""
    seed: int = 0
    seconds: float = 0.0

    def summary(self, how: str = "median") -> dict[str, dict[str, float]]:
        """method -> metric -> median (or mean) over the pairs; mae here is on the 0..255 scale."""
        return {m: {k: self.scores[m].stat(k, how) for k in METRICS} for m in self.methods}

    def to_table(self, how: str = "median") -> str:
        """Markdown table: method | PSNR | MAE | hole PSNR | texture, ``how`` (median or mean) over the pairs."""
        lines = [
            f"Erase eval on {self.data_dir or 'data'}: {self.n} blank faces ({self.n_read} images read, "
            f"{self.n_skipped} without a clear forehead), holes = parts of other faces, seed {self.seed}; "
            f"{how} over faces.",
            "",
            "| method | PSNR (dB) | MAE (% of 255) | hole PSNR (dB) | texture (1 = truth) | texture gap (0 = truth) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for m in self.methods:
            s = self.summary(how)[m]
            lines.append(f"| {method_label(m)} | {s['psnr']:.2f} | {s['mae'] / 2.55:.3f} | {s['hole_psnr']:.2f} "
                         f"| {s['texture']:.3f} | {s['texture_gap']:.3f} |")
        times = ", ".join(f"{method_label(m)} {1000 * self.scores[m].seconds / max(1, self.n):.1f}" for m in self.methods)
        lines += ["", f"Fill time, ms per face: {times}. PSNR and MAE over the whole 256x256 image; hole PSNR "
                      "inside the hole; texture = RMS of gray - GaussianBlur(gray, 1.5) in the hole (eroded 2 px), "
                      "fill / truth; texture gap = |log(texture)| per face."]
        return "\n".join(lines)


# ------------------------------------------------------------------ holes and pairs


def hole_mask(face: Face, size: int = BLANK_SIZE, parts=PARTS) -> np.ndarray:
    """size x size bool: the union of ``face``'s part masks in the canonical aligned crop."""
    t = align_face(face.five_points(), size)
    return union(part_masks(t.to_crop(face.landmarks), (size, size), parts))


def pair_masks(blanks: list[BlankFace], masks: list[tuple[str, np.ndarray]], seed: int = 0) -> list[ErasePair]:
    """Give blank face i the hole of mask (p_i + k) mod n, p_i its own image's place in ``masks`` (i if absent).

    ``k`` in 1..n-1 is drawn once from ``seed``, so no face gets its own parts and the pairing is reproducible.
    """
    n = len(masks)
    if n < 2:
        raise ValueError(f"need hole masks from at least two faces, got {n}")
    names = [name for name, _ in masks]
    place = {name: i for i, name in enumerate(names)}
    k = int(np.random.default_rng(seed).integers(1, n))
    pairs = []
    for i, b in enumerate(blanks):
        j = (place.get(b.name, i) + k) % n
        if names[j] == b.name:  # only when b's own image is not in ``masks`` but a namesake is
            j = (j + 1) % n
        pairs.append(ErasePair(b.name, b.image, masks[j][1], names[j]))
    return pairs


def build_pairs(data_dir: str | Path, limit: int | None = 200, seed: int = 0, analyzer: FaceAnalyzer | None = None,
                parts=PARTS, rules: ForeheadRules = DEFAULT_RULES, progress: bool = True) -> PairSet:
    """Read the first ``limit`` images of ``data_dir``: each gives a blank face (if its forehead is clear) and a
    hole mask (if a face is found), and the blank faces are paired with other faces' holes (``pair_masks``)."""
    files = list_face_files(data_dir, limit)
    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer(max_faces=1)
    blanks: list[BlankFace] = []
    masks: list[tuple[str, np.ndarray]] = []
    skipped: dict[str, str] = {}
    try:
        for img_path, mask_path in tqdm(files, desc="faces", file=sys.stderr, disable=not progress):
            image = read_bgr(img_path)
            faces = analyzer.detect(image)
            face = faces[0] if faces else None
            if face is not None:
                masks.append((img_path.stem, hole_mask(face, BLANK_SIZE, parts)))
            labels = read_parsing(mask_path, image.shape) if mask_path is not None else None
            bf, reason = blank_face(image, img_path.stem, labels, face, rules)
            if bf is None:
                skipped[img_path.stem] = reason
            else:
                blanks.append(bf)
    finally:
        if own:
            analyzer.close()
    pairs = pair_masks(blanks, masks, seed) if blanks else []
    return PairSet(pairs, len(files), skipped, len(masks))


# ------------------------------------------------------------------ evaluation


def score_fill(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    tex = texture_ratio(pred, truth, hole)
    return {"psnr": psnr(pred, truth), "mae": mae(pred, truth), "hole_psnr": psnr(pred, truth, hole),
            "texture": tex, "texture_gap": texture_gap(tex)}


def texture_gap(ratio: float) -> float:
    """|log(texture ratio)|: 0 = the truth's grain; as far for half the grain as for twice it (nan stays nan)."""
    return float(abs(np.log(ratio))) if ratio > 0 else float("nan")


def is_model_file(method: str) -> bool:
    """``LABEL=PATH.onnx``: another exported model (a FaceEraser or a refiner; told apart by its inputs)."""
    return "=" in method and method.lower().endswith(".onnx")


def is_neural(method: str) -> bool:
    """A learned method: ``neural`` or ``refine`` (the shipped models) or ``LABEL=PATH.onnx``."""
    return method in LEARNED or is_model_file(method)


def check_methods(methods) -> None:
    bad = [m for m in methods if m not in METHODS and not is_neural(m)]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {', '.join(bad) or '(none)'}; choose from {', '.join(METHODS)}, "
                         "or LABEL=MODEL.onnx")


def make_fillers(methods) -> dict:
    """method -> fill(masked image, hole); learned models are loaded once here."""
    fillers = {}
    for m in methods:
        fill = learned_fill(m.split("=", 1)[1]) if is_model_file(m) else get_fill(m)
        fillers[m] = fill.fill
    return fillers


def method_label(method: str) -> str:
    return method.split("=", 1)[0] if is_model_file(method) else method


def evaluate_pairs(pairs: list[ErasePair], methods=METHODS, progress: bool = True) -> dict[str, MethodScores]:
    """Fill every pair with every method (the same inputs for all) and score the fills."""
    methods = tuple(methods)
    fill = make_fillers(methods)
    values = {m: {k: np.full(len(pairs), np.nan) for k in METRICS} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for i, pair in enumerate(tqdm(pairs, desc="erase eval", file=sys.stderr, disable=not progress)):
        masked = pair.masked()
        for m in methods:
            t0 = time.perf_counter()
            pred = fill[m](masked, pair.hole)
            seconds[m] += time.perf_counter() - t0
            for k, v in score_fill(pred, pair.truth, pair.hole).items():
                values[m][k][i] = v
    return {m: MethodScores(m, values[m], seconds[m]) for m in methods}


def run_erase_eval(data_dir: str | Path, methods=("clone", "telea", "ns"), limit: int | None = 200, seed: int = 0,
                   progress: bool = True, analyzer: FaceAnalyzer | None = None, samples_path: str | Path | None = None,
                   n_samples: int = 6) -> EvalReport:
    """Evaluate the hole-filling ``methods`` on blank faces of the first ``limit`` images of ``data_dir``.

    ``samples_path``: also write a PNG grid of the first ``n_samples`` pairs (``write_samples``).
    """
    methods = tuple(methods)
    check_methods(methods)
    t0 = time.perf_counter()
    ps = build_pairs(data_dir, limit, seed, analyzer, progress=progress)
    if not ps.pairs:
        raise ValueError(f"no blank faces in the first {ps.n_read} images of {data_dir} "
                         f"({dict(Counter(ps.skipped.values()))})")
    scores = evaluate_pairs(ps.pairs, methods, progress)
    if samples_path is not None:
        write_samples(samples_path, ps.pairs, methods, n_samples)
    return EvalReport(methods, scores, len(ps.pairs), ps.n_read, len(ps.skipped), dict(Counter(ps.skipped.values())),
                      ps.n_masks, str(data_dir), seed, time.perf_counter() - t0)


# ------------------------------------------------------------------ a grid to look at


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def write_samples(path: str | Path, pairs: list[ErasePair] | str | Path, methods=METHODS, count: int = 6,
                  seed: int = 0, limit: int | None = None, gap: int = 4) -> Path:
    """PNG grid, one row per pair (the first ``count``): truth | masked input | each method's fill.

    ``pairs``: from ``build_pairs`` (or ``run_erase_eval(..., samples_path=...)``, which draws the very pairs it
    scored), or a data directory, whose first ``limit`` images (default ``max(30, 5 * count)``) are paired with
    ``seed`` here. Each fill is labelled with its hole PSNR and texture ratio.
    """
    methods = tuple(methods)
    if isinstance(pairs, (str, Path)):
        pairs = build_pairs(pairs, limit or max(30, 5 * count), seed, progress=False).pairs
    rows = list(pairs)[: max(1, count)]
    if not rows:
        raise ValueError("no pairs to draw")
    s = BLANK_SIZE
    cols = ["truth", "input (hole)"] + [method_label(m) for m in methods]
    fill = make_fillers(methods)
    head = 26
    w = len(cols) * s + (len(cols) + 1) * gap
    h = head + len(rows) * s + (len(rows) + 1) * gap
    grid = np.full((h, w, 3), 255, np.uint8)
    for c, name in enumerate(cols):
        x = gap + c * (s + gap)
        cv2.putText(grid, name, (x + 6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for r, pair in enumerate(rows):
        y = head + gap + r * (s + gap)
        shown = pair.truth.copy()
        shown[pair.hole] = HOLE_COLOR
        tiles = [pair.truth.copy(), shown]
        masked = pair.masked()
        for m in methods:
            pred = fill[m](masked, pair.hole)
            sc = score_fill(pred, pair.truth, pair.hole)
            tile = pred.copy()
            _label(tile, f"hole {sc['hole_psnr']:.1f} dB  tex {sc['texture']:.2f}", (6, s - 8))
            tiles.append(tile)
        _label(tiles[0], pair.name[:12], (6, s - 8))
        _label(tiles[1], f"parts of {pair.mask_from[:8]}", (6, s - 8))
        for c, tile in enumerate(tiles):
            x = gap + c * (s + gap)
            grid[y:y + s, x:x + s] = tile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), grid):
        raise OSError(f"cannot write {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.eval.erase_eval",
                                 description="FaceEraser-style evaluation of the hole fillers on synthetic blank faces.")
    ap.add_argument("data_dir", help="DIR/images/*.jpg (+ DIR/masks/*.png CelebAMask-HQ parsing), or a dir of images")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=200, help="read at most this many images (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", help="also write a PNG grid of a few pairs here")
    ap.add_argument("--n-samples", type=int, default=6)
    ap.add_argument("--mean", action="store_true", help="table of means instead of medians")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    a = ap.parse_args(argv)
    report = run_erase_eval(a.data_dir, [m.strip() for m in a.methods.split(",") if m.strip()], a.limit, a.seed,
                            not a.quiet, samples_path=a.samples, n_samples=a.n_samples)
    print(report.to_table("mean" if a.mean else "median"))
    print(f"\n{report.seconds:.1f} s in all; skipped: {report.skip_reasons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

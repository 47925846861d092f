"""Training data for the FaceShifter swap model: a cache of aligned canonical crops and SFace embeddings.

``build_cache`` runs once over the shared faces (outside the repository; non-commercial research data:
nothing of it, crops included, may be committed) and writes into a cache folder:

(in chunks: ``<dataset>/chunk_NNNN/`` each holding the three files below)

* ``index.json``: one record per image: ``key`` (dataset/file name), ``dataset``, ``identity`` (Glint
  only), ``split`` ("train" or "val"), ``target`` (usable as a target: a whole head in the crop).
* ``crops_<S>.npy``: N x S x S x 3 uint8 **BGR** canonical crops (``align_face(face.five_points(), S)``
  then ``.warp(bgr)``, the project's whole-head crop, borders replicated).
* ``emb.npy``: N x 128 float32 unit SFace embeddings of each image's ArcFace 112 crop (OpenCV's
  ``FaceRecognizerSF`` on ``arcface_crop``, the product's embedder), the sources' identities.

Faces: the largest face of each image (``FaceAnalyzer().detect``; tight crops such as UTKFace's are padded
for detection first, as ``identity.embed_largest_face`` does). The Glint crops are already ArcFace-aligned
112 px crops: their five points are the template itself, no detection. They serve as *sources* only (their
canonical crop is mostly replicated border, ``target = False``) and give same-identity pairs for the
held-out identity check.

Split: deterministic by a hash of the key (``val_fraction``, default 10 %), or by identity for Glint, so
the held-out faces are never seen in training.

Batches (``make_batch``) are a pure function of (seed, step): that is what makes a resumed run identical
to an uninterrupted one.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DATASETS = {  # name -> (folder under the shared data root, glob)
    "celebahq512": ("faces/celebahq512", "*.jpg"),
    "celebamaskhq": ("faces/celebamaskhq/train/images", "*.jpg"),
    "utkface": ("faces/utkface/images", "*.jpg"),
}
GLINT = "identity/glint"
DEFAULT_ROOT = Path("/work/shared/data")


def split_of(key: str, val_fraction: float = 0.1) -> str:
    """"val" for a fixed ``val_fraction`` of keys (by SHA-1), "train" for the rest."""
    h = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:4], "big") / 2**32
    return "val" if h < val_fraction else "train"


def _largest_face_points(analyzer, bgr: np.ndarray) -> np.ndarray | None:
    """Five points of the largest face in ``bgr``'s own pixels; a tight crop is padded for detection
    (``pad_for_detection``) and the points mapped back, so the crop replicates the photo's border rather
    than showing the grey frame."""
    from ..analysis.identity import is_tight, pad_for_detection

    faces = analyzer.detect(bgr)
    if is_tight(bgr, faces):
        padded = pad_for_detection(bgr, 0.5)
        pf = analyzer.detect(padded)
        if pf or not faces:
            if not pf:
                return None
            h, w = bgr.shape[:2]
            k = max(1.0, 224 / min(h, w))
            ph, pw = padded.shape[:2]
            # pad_for_detection: resize by k (when small), then a border of half the resized side
            off = np.array([(pw - round(w * k)) / 2, (ph - round(h * k)) / 2], np.float32)
            return (pf[0].five_points() - off) * np.float32(w / round(w * k))
    if not faces:
        return None
    return faces[0].five_points()


CHUNK = 200


def _write_chunk(folder: Path, records: list[dict], crops: dict[int, list], embs: list) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for s, c in crops.items():
        np.save(tmp / f"crops_{s}.npy", np.stack(c).astype(np.uint8))
    np.save(tmp / "emb.npy", np.stack(embs).astype(np.float32))
    (tmp / "index.json").write_text(json.dumps(records, indent=0))
    tmp.rename(folder)


def build_cache(out: str | Path, sizes=(128,), root: str | Path = DEFAULT_ROOT, limit: int | None = None,
                val_fraction: float = 0.1, datasets: list[str] | None = None, log=print) -> Path:
    """Detect, align and embed every image once; see the module doc for the files written.

    Written in chunks of ``CHUNK`` images (``out/<dataset>/chunk_NNNN/``), each complete before it is
    renamed into place: an interrupted build keeps its finished chunks and skips them when run again, and
    one process per dataset can build in parallel. ``datasets``: a subset of ``DATASETS`` plus "glint"."""
    from ..analysis import FaceAnalyzer
    from ..analysis.align import ARCFACE_POINTS, align_face
    from ..analysis.identity import SFaceEmbedder

    out, root = Path(out), Path(root)
    out.mkdir(parents=True, exist_ok=True)
    wanted = list(datasets) if datasets else [*DATASETS, "glint"]
    analyzer, embedder = None, SFaceEmbedder()

    def items(name):
        if name == "glint":
            labels = root / GLINT / "labels.csv"
            if not labels.is_file():
                return []
            with open(labels, newline="") as fh:
                rows = list(csv.DictReader(fh))[:limit]
            return [("glint/" + r["path"], root / GLINT / r["path"], r["identity"]) for r in rows]
        folder, pattern = DATASETS[name]
        return [(f"{name}/{f.name}", f, "") for f in sorted((root / folder).glob(pattern))[:limit]]

    for name in wanted:
        todo = items(name)
        missed = 0
        for c0 in range(0, len(todo), CHUNK):
            folder = out / name / f"chunk_{c0 // CHUNK:04d}"
            if (folder / "index.json").is_file():
                continue
            records, crops, embs = [], {s: [] for s in sizes}, []
            for key, f, identity in todo[c0:c0 + CHUNK]:
                bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if bgr is None:
                    missed += 1
                    continue
                if name == "glint":  # already ArcFace-aligned 112 crops: the template is the five points
                    if bgr.shape[:2] != (112, 112):
                        continue
                    points = (ARCFACE_POINTS * 112).astype(np.float32)
                    split = split_of("glint-id/" + identity, 0.25)  # by identity: held-out people
                else:
                    if analyzer is None:
                        analyzer = FaceAnalyzer(max_faces=1)
                    points = _largest_face_points(analyzer, bgr)
                    if points is None:
                        missed += 1
                        continue
                    split = split_of(key, val_fraction)
                t_arc = align_face(points, 112, template="arcface")
                arc = cv2.warpAffine(bgr, t_arc.matrix, (112, 112), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                embs.append(embedder.embed_aligned(arc))
                for s in sizes:
                    interp = cv2.INTER_AREA if bgr.shape[0] > 2 * s else cv2.INTER_CUBIC
                    crops[s].append(align_face(points, s).warp(bgr, interp))
                records.append({"key": key, "dataset": name, "identity": identity, "target": name != "glint",
                                "split": split})
            if records:
                _write_chunk(folder, records, crops, embs)
            log(f"{name}: {min(c0 + CHUNK, len(todo))}/{len(todo)} ({missed} without a face so far)")
    return out


@dataclass
class SwapData:
    """The cached crops (BGR uint8, N x S x S x 3), embeddings and split indices."""

    crops: np.ndarray
    emb: np.ndarray
    records: list[dict]
    train_targets: np.ndarray
    train_sources: np.ndarray
    val_targets: np.ndarray
    val_sources: np.ndarray

    @property
    def size(self) -> int:
        return self.crops.shape[1]


def _chunks(cache: Path) -> list[Path]:
    return sorted(p.parent for p in cache.rglob("index.json") if not p.parent.name.endswith(".tmp"))


def is_cache(folder: str | Path) -> bool:
    """Whether ``folder`` holds at least one finished cache chunk."""
    return Path(folder).is_dir() and bool(_chunks(Path(folder)))


def load_cache(cache: str | Path, size: int) -> SwapData:
    """Every finished chunk under ``cache``, crops at ``size`` (resized from the nearest cached size when
    that size was not built)."""
    cache = Path(cache)
    records, crops, embs = [], [], []
    for folder in _chunks(cache):
        records += json.loads((folder / "index.json").read_text())
        embs.append(np.load(folder / "emb.npy"))
        f = folder / f"crops_{size}.npy"
        if f.is_file():
            crops.append(np.load(f))
            continue
        built = sorted(int(p.stem.split("_")[1]) for p in folder.glob("crops_*.npy"))
        src = min(built, key=lambda s: (s < size, abs(s - size)))
        interp = cv2.INTER_AREA if src > size else cv2.INTER_CUBIC
        crops.append(np.stack([cv2.resize(c, (size, size), interpolation=interp)
                               for c in np.load(folder / f"crops_{src}.npy")]))
    if not records:
        raise FileNotFoundError(f"{cache}: no cached crops; build them with python -m facecanvas.train.swap_data")
    crops = np.ascontiguousarray(np.concatenate(crops))
    emb = np.concatenate(embs)

    def pick(split, target_only):
        return np.array([i for i, r in enumerate(records) if r["split"] == split and (r["target"] or not target_only)],
                        np.int64)

    return SwapData(crops, emb, records, pick("train", True), pick("train", False), pick("val", True),
                    pick("val", False))


def to_input(bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR N x S x S x 3 -> float32 RGB N x 3 x S x S in -1..1 (the generator's image convention)."""
    return np.ascontiguousarray(bgr[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 127.5 - 1.0


def from_output(x: np.ndarray) -> np.ndarray:
    """float RGB N x 3 x S x S in -1..1 -> uint8 BGR N x S x S x 3."""
    return np.clip((x.transpose(0, 2, 3, 1)[..., ::-1] + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def make_batch(data: SwapData, batch_size: int, seed: int, step: int, same_fraction: float = 0.2,
               flip: bool = True) -> dict[str, np.ndarray]:
    """Targets from the training targets, sources from all training images; a ``same_fraction`` of the
    samples has source = target (X_s = X_t, where the reconstruction loss applies). Returns
    ``target`` (N x 3 x S x S, -1..1 RGB), ``source_emb`` (N x 128 unit), ``same`` (N, 0/1),
    ``source`` (the source crops, for sample grids)."""
    rng = np.random.default_rng([seed, step])
    t = rng.choice(data.train_targets, batch_size)
    s = rng.choice(data.train_sources, batch_size)
    same = rng.random(batch_size) < same_fraction
    s = np.where(same, t, s)
    target = data.crops[t]
    if flip:
        flips = rng.random(batch_size) < 0.5
        target = np.where(flips[:, None, None, None], target[:, :, ::-1], target)
    return {"target": to_input(target), "source_emb": data.emb[s], "same": same.astype(np.float32),
            "source": data.crops[s]}


def val_pairs(data: SwapData, count: int = 32, seed: int = 1234) -> list[tuple[int, int]]:
    """Fixed held-out (source, target) index pairs, source != target, both from the held-out split."""
    rng = np.random.default_rng(seed)
    pairs = []
    while len(pairs) < count and len(data.val_targets) > 1:
        t = int(rng.choice(data.val_targets))
        s = int(rng.choice(data.val_sources))
        if s != t:
            pairs.append((s, t))
    return pairs


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build the swap model's crop cache (once).")
    ap.add_argument("--out", required=True, help="cache folder (outside the repository)")
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--sizes", default="128", help="comma-separated crop sizes, e.g. 128,256")
    ap.add_argument("--limit", type=int, help="at most this many images per dataset (tests)")
    ap.add_argument("--datasets", help=f"comma-separated subset of {', '.join([*DATASETS, 'glint'])}")
    a = ap.parse_args(argv)
    build_cache(a.out, tuple(int(s) for s in a.sizes.split(",")), a.root, a.limit,
                datasets=a.datasets.split(",") if a.datasets else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

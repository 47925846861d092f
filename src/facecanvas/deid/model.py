"""The synthetic-identity model: a PCA of shape-free face textures and of 3D face meshes.

``TextureModel.load()`` reads ``facecanvas/models/deid_texture.npz`` (scripts/fit_deid_texture.py;
data and terms in docs/DEID_TEXTURE_MODEL.md). ``model.sample(seed)`` draws one synthetic identity,
mean + sum_k z_k sigma_k u_k with z ~ N(0, 1) from ``numpy.random.default_rng(seed)``, both for the
texture (laid out on the mean mesh, in the canonical crop of ``align_face``) and for the mesh shape,
and returns it as a ``SourceFace`` the swap puts on target faces. No real person's face is shipped:
the model's mean and components are averages over hundreds of faces, and a sample is a random mix.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

MODEL_FILE = "deid_texture.npz"
SOURCE_SIZE = 512  # the SourceFace texture side (the swap's TEXTURE_SIZE)


def default_model_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("facecanvas") / "models" / MODEL_FILE))


@dataclass
class TextureModel:
    size: int
    mean: np.ndarray  # (S, S, 3) float32 BGR
    components: np.ndarray  # (K, S*S*3) float32, unit rows
    std: np.ndarray  # (K,)
    mesh_mean: np.ndarray  # (478, 3) in the S-px canonical crop
    shape_components: np.ndarray  # (Ks, 478*3)
    shape_std: np.ndarray  # (Ks,)
    n_faces: int = 0

    @classmethod
    def load(cls, path: str | Path | None = None) -> "TextureModel":
        return _load(str(path or default_model_path()))

    def sample_arrays(self, seed: int, scale: float = 1.0, shape_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(texture S x S x 3 uint8, mesh (478, 3)) of the synthetic identity ``seed``; ``scale``
        multiplies z (1: a typical face; larger: further from the mean face)."""
        rng = np.random.default_rng(int(seed) % (1 << 63))
        # Truncated at 2 sigma: the tails of a 280-face PCA are single faces' quirks (a glasses frame).
        z = np.clip(rng.standard_normal(len(self.std)), -2, 2) * scale
        zs = np.clip(rng.standard_normal(len(self.shape_std)), -2, 2) * shape_scale
        tex = self.mean.reshape(-1) + (z * self.std) @ self.components
        tex = np.clip(tex.reshape(self.size, self.size, 3), 0, 255)
        mesh = self.mesh_mean.reshape(-1) + (zs * self.shape_std) @ self.shape_components
        return tex.astype(np.uint8), mesh.reshape(-1, 3).astype(np.float32)

    def sample(self, seed: int, scale: float = 1.0, name: str | None = None):
        """The synthetic identity ``seed`` as a ``SourceFace`` (512 px canonical texture + its mesh)."""
        from ..swap.color import lab_stats, skin_mask
        from ..swap.source import SourceFace

        big, pts, mesh = self.texture_and_mesh(seed, scale)
        big = close_mouth(big, pts)
        skin = lab_stats(big, skin_mask(pts, big.shape))
        levels = [big]
        while levels[-1].shape[0] > 64:
            levels.append(cv2.pyrDown(levels[-1]))
        return SourceFace(big, pts, skin, name or f"synthetic identity {seed & 0xffffffff:08x}", levels=levels,
                          shape=mesh)

    def texture_and_mesh(self, seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(512 px texture, (478, 3) the mesh found on it, (478, 3) the identity's sampled shape) of the
        synthetic identity ``seed``, before its mouth is closed (``close_mouth``)."""
        tex, mesh = self.sample_arrays(seed, scale)
        tex = clean_skin(tex, self.mesh_mean.reshape(-1, 3))  # at the model's own size: cheap
        k = SOURCE_SIZE / self.size
        big = cv2.resize(tex, (SOURCE_SIZE, SOURCE_SIZE), interpolation=cv2.INTER_CUBIC)
        # PCA textures are smooth: a light unsharp mask gives back some edge contrast (lids, brows, lips).
        blur = cv2.GaussianBlur(big, (0, 0), 3.0)
        big = cv2.addWeighted(big, 1.6, blur, -0.6, 0)
        # The texture lies on the model's mean mesh (scripts/fit_deid_texture.py), so that is where it is
        # sampled from; the identity's sampled mesh is its shape only. (Sampling the texture at the
        # sampled mesh, whose first components are partly head turn, slid hair onto one cheek and took
        # the skin colour from the wrong place.)
        pts = self.mesh_mean.reshape(-1, 3) * k
        # ... but where a draw's features lie is its own: a PCA mix moves lids, brows, lip corners and the
        # nose's shading off the mean mesh by a few pixels, and the face mesh re-fitted on the output then
        # read them as a closed eye, a smile or a nod (dev people: most of the pose error was the depth the
        # mesh gave the new face). The texture's own mesh, as the face mesh finds it, is what is warped.
        own = register_mesh(big, pts)
        if own is not None:
            pts = pts.copy()
            pts[:, :2] = own[:, :2]
        return big, pts, (mesh * k).astype(np.float32)


# The model's faces mostly smile with parted lips (median opening 8.6 % of the eye distance), and the swap
# takes only the lips from it: their inner edges carried the teeth's pale band onto closed mouths, which the
# face mesh then read as open (development clip source_s18: opening 5.5 against the input's 0.14). The
# opening, grown by this fraction of the eye distance, is filled from the lips around it. Development people
# (SFace, 4 keys): expression 1.93 -> 1.80, still verified, detected, fallback unchanged, rank-1 0.36 -> 0.37,
# pose 2.45 -> 2.49 deg; 17 development clips: temporal 1.19 -> 1.17, identity figures unchanged.
MOUTH_CLOSE = 0.03


def close_mouth(texture: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``texture`` with its mouth opening (inside the inner lip line of ``points``, grown by ``MOUTH_CLOSE``
    eye distances) filled from the lips around it."""
    from ..analysis import landmark_groups as lg
    from ..masks.parts import grow, interocular

    p = np.asarray(points, np.float64)[:, :2]
    iod = interocular(p) or 1.0
    hole = np.zeros(texture.shape[:2], np.uint8)
    cv2.fillPoly(hole, [np.round(p[list(lg.INNER_LIPS)]).astype(np.int32)], 255)
    r = max(1, int(round(MOUTH_CLOSE * iod)))
    return cv2.inpaint(texture, grow(hole, r).astype(np.uint8) * 255, max(3, r), cv2.INPAINT_TELEA)


REGISTER_MAX_SHIFT = 0.12  # a found mesh further than this (mean point distance / eye distance) is not trusted


def register_mesh(texture: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(478, 3) the face mesh found on ``texture`` (a synthetic face, laid out on ``points``), or None
    when it is not found or lies implausibly far from ``points``. The face mesh runs on the crop the
    analyzer would give it, from a detection made of ``points`` (no detector: the face is where the
    model put it)."""
    from ..analysis import landmark_groups as lg
    from ..analysis.face import Detection

    p = np.asarray(points, np.float64)
    oval = p[list(lg.FACE_OVAL), :2]
    box = np.concatenate([oval.min(0), oval.max(0)]).astype(np.float32)
    five = p[[lg.RIGHT_IRIS[0], lg.LEFT_IRIS[0], lg.NOSE_TIP, lg.MOUTH_RIGHT_CORNER, lg.MOUTH_LEFT_CORNER], :2]
    det = Detection(box, 1.0, five.astype(np.float32))
    with _LANDMARKER_LOCK:
        found = _landmarker().landmarks(texture, det)
    if found is None:
        return None
    iod = float(np.linalg.norm(five[0] - five[1])) or 1.0
    if float(np.linalg.norm(found[:, :2] - p[:, :2], axis=1).mean()) > REGISTER_MAX_SHIFT * iod:
        return None
    return found


_LANDMARKER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _landmarker():
    from ..analysis.landmarks import FaceMeshLandmarker

    return FaceMeshLandmarker()


def clean_skin(texture: np.ndarray, points: np.ndarray, spread: float = 3.0) -> np.ndarray:
    """``texture`` with the pixels of its face (the oval, minus brows, eyes, lips and nostrils) that do
    not look like its skin replaced by a smooth extension of the skin around them. A PCA draw keeps
    faint traces of the fitted faces' fringes, glasses and backgrounds near the hairline and the
    temples; the colour transfer then stretched them into cyan or dark blotches on the new face.
    Skin: within ``spread`` robust deviations of the skin's median in LAB chroma, and not far darker
    or lighter (1.4 times that in lightness)."""
    from ..analysis import landmark_groups as lg
    from ..swap.color import skin_mask

    p = np.asarray(points, np.float64)[:, :2]
    h, w = texture.shape[:2]
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round(p[list(lg.FACE_OVAL)]).astype(np.int32)], 1)
    parts = oval.astype(bool) & ~skin_mask(p, texture.shape, margin=0.0)
    inner = np.zeros((h, w), np.uint8)  # the face's parts stay as drawn: only skin is judged
    for g in ("right_brow", "left_brow", "right_eye", "left_eye", "lips"):
        cv2.fillConvexPoly(inner, cv2.convexHull(np.round(p[list(lg.GROUPS[g])]).astype(np.int32)), 1)
    cv2.fillConvexPoly(inner, cv2.convexHull(np.round(p[[98, 97, 2, 326, 327, 94, 19]]).astype(np.int32)), 1)
    iod = float(np.linalg.norm(p[lg.LEFT_IRIS[0]] - p[lg.RIGHT_IRIS[0]])) or 1.0
    r = max(1, int(0.08 * iod))
    inner = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    judged = (oval > 0) & ~inner
    lab = cv2.cvtColor(texture, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = lab[judged & ~parts]
    if len(ref) < 100:
        return texture
    med = np.median(ref, 0)
    mad = np.median(np.abs(ref - med), 0) * 1.4826 + 1.0
    z = np.abs(lab - med) / mad
    odd = judged & ((z[..., 1] > spread) | (z[..., 2] > spread) | (z[..., 0] > 1.4 * spread))
    if not odd.any():
        return texture
    odd = cv2.dilate(odd.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, r // 2)) > 0
    odd &= judged
    good = (judged & ~odd).astype(np.float32)
    sigma = 0.25 * iod
    num = cv2.GaussianBlur(texture.astype(np.float32) * good[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(good, (0, 0), sigma)[..., None]
    fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), med_bgr(med))
    soft = cv2.GaussianBlur(odd.astype(np.float32), (0, 0), max(1.0, r / 2))[..., None]
    out = texture.astype(np.float32) * (1 - soft) + fill * soft
    return np.clip(out, 0, 255).astype(np.uint8)


def med_bgr(lab_med: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab_med, 0, 255).astype(np.uint8).reshape(1, 1, 3), cv2.COLOR_LAB2BGR).reshape(3).astype(np.float32)


@lru_cache(maxsize=2)
def _load(path: str) -> TextureModel:
    from ..errors import FacecanvasError

    if not Path(path).is_file():
        raise FacecanvasError(f"{path}: the de-identification texture model is missing "
                              "(fit it with scripts/fit_deid_texture.py)")
    d = np.load(path)
    s = int(d["size"])
    return TextureModel(s, d["mean"].astype(np.float32), d["components"].astype(np.float32).reshape(len(d["std"]), -1),
                        d["std"].astype(np.float32), d["mesh_mean"].astype(np.float32),
                        d["shape_components"].astype(np.float32).reshape(len(d["shape_std"]), -1),
                        d["shape_std"].astype(np.float32), int(d["n_faces"]))


def seed_from(*parts) -> int:
    """A 64-bit seed from text/bytes/ints (SHA-256)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode("utf-8"))
        h.update(b"\0")
    return int.from_bytes(h.digest()[:8], "big")

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

        tex, mesh = self.sample_arrays(seed, scale)
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
        skin = lab_stats(big, skin_mask(pts, big.shape))
        levels = [big]
        while levels[-1].shape[0] > 64:
            levels.append(cv2.pyrDown(levels[-1]))
        return SourceFace(big, pts, skin, name or f"synthetic identity {seed & 0xffffffff:08x}", levels=levels,
                          shape=(mesh * k).astype(np.float32))


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

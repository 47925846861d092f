"""Which synthetic identity a person gets: keyed pseudonyms.

* ``--key SECRET``: the identity of a person is HMAC-SHA256(key, bucket), where ``bucket`` is a coarse
  locality-sensitive hash of the person's SFace embedding: the signs of ``BITS`` random hyperplanes
  drawn from a generator seeded by the key. The same person in another file or another run with the
  same key usually lands in the same bucket (the same new face); different people usually do not.
  It is a hash of a noisy measurement, so it is weak either way (docs/DEID_TEXTURE_MODEL.md): on the
  held-out Glint people two photos of one person share the bucket 32 % of the time (SFace cosine ~0.55
  between photos: each bit flips ~30 %), two strangers 16 % (2 bits: 46 % / 30 %; 4 bits: 22 % / 8.5 %).
* no key: a random secret per run (os.urandom), so runs never repeat a face.
* within one run a ``PersonRegistry`` keeps it exact: a track or a face whose SFace similarity to a
  person already seen is at least the SFace threshold is that person (same identity), whatever its
  bucket; a track keeps its identity for its whole life.

Only bucket bits and the key enter the seed; no embedding is stored beyond the run.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np

BITS = 3
SFACE_DIM = 128


def _key_bytes(key: str | bytes | None) -> tuple[bytes, bool]:
    if key is None or key == "":
        return os.urandom(32), False
    # surrogateescape: a key typed in a non-UTF-8 locale is the bytes the user typed
    return (key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")), True


class Pseudonyms:
    """Seeds of synthetic identities for embeddings, keyed."""

    def __init__(self, key: str | bytes | None = None, bits: int = BITS, dim: int = SFACE_DIM):
        self.key, self.keyed = _key_bytes(key)
        rng = np.random.default_rng(int.from_bytes(hmac.new(self.key, b"lsh-planes", hashlib.sha256).digest()[:8], "big"))
        self.planes = rng.standard_normal((bits, dim)).astype(np.float32)
        self.bits = bits

    def bucket(self, embedding: np.ndarray | None) -> int:
        if embedding is None:
            return -1
        b = (self.planes @ np.asarray(embedding, np.float32)) > 0
        return int(sum(int(v) << i for i, v in enumerate(b)))

    def seed(self, embedding: np.ndarray | None, salt: str = "") -> int:
        """The 64-bit identity seed of ``embedding`` (its bucket) under this key; ``salt`` varies it
        (the escalation's second identity)."""
        msg = f"deid-identity|{self.bucket(embedding)}|{salt}".encode()
        return int.from_bytes(hmac.new(self.key, msg, hashlib.sha256).digest()[:8], "big")


class PersonRegistry:
    """People seen in this run: an embedding -> a person number, by SFace similarity."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.people: list[np.ndarray] = []
        self.seeds: list[int] = []
        self.levels: list[int] = []  # which of the person's identities passed verification

    def find(self, emb: np.ndarray | None) -> int | None:
        if emb is None or not self.people:
            return None
        sims = np.stack(self.people) @ emb
        i = int(np.argmax(sims))
        return i if sims[i] >= self.threshold else None

    def add(self, emb: np.ndarray | None, seed: int) -> int:
        if emb is not None:
            self.people.append(np.asarray(emb, np.float32))
            self.seeds.append(seed)
            self.levels.append(0)
        return len(self.people) - 1

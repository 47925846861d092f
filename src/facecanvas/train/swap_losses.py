"""FaceShifter's losses (Li et al. 2020, sections 3.1.3 and 3.2).

AEI-Net: ``L_AEI = L_adv + λ_att L_att + λ_id L_id + λ_rec L_rec`` with the paper's λ_att = 10, λ_id = 5,
λ_rec = 10:

* ``L_adv``: multi-scale PatchGAN (pix2pixHD's discriminator, as the paper). The paper does not spell out
  the GAN objective; we use the **hinge** form (generator −D(Ŷ), discriminator relu(1 − D(x)) + relu(1 + D(Ŷ)),
  averaged over scales), as the public FaceShifter reimplementations do.
* ``L_id = 1 − cos(z_id(Ŷ), z_id(X_s))`` with SFace as z_id (deviation: ArcFace in the paper).
* ``L_att = ½ Σ_k ||z_att^k(Ŷ) − z_att^k(X_t)||²``. **Deviation in scale only**: each level's squared
  distance is the *mean* over its elements, not the sum (a sum over ~10^6 activations would dwarf the other
  terms at the paper's λ); the target's attributes are not detached, as in the paper.
* ``L_rec = ½ ||Ŷ − X_t||²`` on the samples with X_s = X_t only (per-pixel mean again, averaged over those
  samples).

HEAR-Net: ``L_HEAR = L_id + L_chg + L_rec`` (all weights 1, as the paper): ``L_chg = |Y − Ŷ_{s,t}|`` (L1,
mean), ``L_rec`` and ``L_id`` as above on the refined Y.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def g_hinge(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(-f.mean() for f in fake) / len(fake)


def identity_loss(z_out: torch.Tensor, z_src: torch.Tensor) -> torch.Tensor:
    """Mean 1 − cos; both N x 128 (any norm)."""
    return (1 - F.cosine_similarity(z_out, z_src.to(z_out), dim=1)).mean()


def attribute_loss(z_out: list[torch.Tensor], z_tgt: list[torch.Tensor]) -> torch.Tensor:
    return 0.5 * sum(F.mse_loss(a, b) for a, b in zip(z_out, z_tgt))


def reconstruction_loss(y: torch.Tensor, target: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """½ mean squared error averaged over the X_s = X_t samples (``same``: N of 0/1); 0 for a batch without
    any. Averaged over those samples, not the whole batch (as the public reimplementations): with 20 % of
    such samples a whole-batch mean would weigh L_rec 5x less than λ_rec says."""
    per = 0.5 * ((y - target) ** 2).flatten(1).mean(1)
    same = same.to(per)
    return (per * same).sum() / same.sum().clamp_min(1.0)


def change_loss(y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    return (y - y_hat).abs().mean()

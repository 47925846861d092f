"""Training of the refiner variant (``clone_unet_ca``): the clone fill plus a learned smooth correction.

One phase, no discriminator: the U-Net is trained with MSE and/or L1 inside the hole on cached
(truth, hole, clone fill) pairs (``refine_data``). Its correction is smooth by construction
(``networks.CloneRefineNet``), so a pixel loss can only fix the fill's shading, not blur its grain.
Adam with the config's betas and ``optim.lr_g`` (cosine decay to ``optim.lr_final`` when that is > 0);
``run.phase2_steps`` steps (``run.phase1_steps`` must be 0). MSE rather than L1: the clone's grain is
real but not the truth's, and L1's sign gradient drowns the small shading error in that grain (measured:
with L1 the correction stayed at zero for 300 steps).

The same files as ``trainer.Trainer`` under ``run.out_dir``: ``checkpoint.pt`` (resumable; batches depend only
on (seed, step)), ``weights/step_NNNNNN.pt``, ``metrics.jsonl``, ``samples/step_NNNNNN.png`` (truth | hole |
clone | refined | correction x4 + grey), ``config.json``. Validation in the log uses the cache's ``val.npz``
(other pairs of the training faces): it tracks the fit, it is not the held-out benchmark.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..eval.metrics import psnr, texture_ratio
from . import losses as L
from .config import TrainConfig, from_dict
from .networks import CloneRefineNet
from .refine_data import RefineCache, load_cache, make_refine_batch
from .trainer import CHECKPOINT, _adam, _atomic_save, read_checkpoint


def _u8(x: np.ndarray) -> np.ndarray:
    """CHW 0..1 float -> HWC uint8."""
    return np.clip(x.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)


def refine_with(net: CloneRefineNet, coarse: np.ndarray, hole: np.ndarray, image: np.ndarray | None = None,
                device="cpu") -> tuple[np.ndarray, np.ndarray]:
    """(refined uint8 BGR, correction HxWx3 float on the 0..255 scale) of one clone fill, as the ONNX path does."""
    img = np.where(hole[..., None], 0, coarse if image is None else image).astype(np.float32) / 255.0
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    with torch.no_grad():
        out = net(t(img.transpose(2, 0, 1)[None]), t(hole.astype(np.float32)[None, None]),
                  t(coarse.astype(np.float32).transpose(2, 0, 1)[None] / 255.0))
    return _u8(out["output"][0].cpu().numpy()), out["residual"][0].cpu().numpy().transpose(1, 2, 0) * 255


class RefineTrainer:
    """Owns the refiner, its optimiser and the cached pairs of one run (the interface of ``Trainer``)."""

    def __init__(self, cfg: TrainConfig, device: str = "cpu", vgg19_weights: str | None = None,
                 train: RefineCache | None = None, val: RefineCache | None = None,
                 log: Callable[[str], None] = print):
        if cfg.run.phase1_steps:
            raise InputError(f"model.variant {cfg.model.variant}: has no edge phase; set run.phase1_steps = 0")
        self.cfg = cfg
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch here")
        if cfg.run.threads > 0:
            torch.set_num_threads(cfg.run.threads)
        self.log = log
        torch.manual_seed(cfg.run.seed)
        self.net = CloneRefineNet(cfg.model).to(self.device)
        self.opt_g = _adam(self.net.parameters(), cfg.optim.lr_g, cfg)
        self.step = 0
        self.out = Path(cfg.run.out_dir)
        self._train, self._val = train, val

    @property
    def train_cache(self) -> RefineCache:
        if self._train is None:
            self._train = load_cache(self.cfg.data.coarse_cache, "train")
        return self._train

    @property
    def val_cache(self) -> RefineCache | None:
        if self._val is None:
            try:
                self._val = load_cache(self.cfg.data.coarse_cache, "val")
            except InputError:
                return None
        return self._val

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        b = make_refine_batch(self.train_cache, self.cfg.data.batch_size, self.cfg.run.seed, step, self.cfg.data.flip)
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in b.items()}

    def loss_terms(self, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.net(b["truth"], b["mask"], b["coarse"])
        mask = b["mask"]
        terms = {"l1": L.masked_l1(out["output"], b["truth"], mask)}
        if self.cfg.loss.l2 > 0:
            terms["l2"] = F.mse_loss(out["output"], b["truth"]) / mask.mean().clamp_min(1e-3)
        return terms

    def lr(self, step: int) -> float:
        """``optim.lr_g``, or with ``optim.lr_final`` > 0 a cosine decay to it over the run (a function of step)."""
        o = self.cfg.optim
        if o.lr_final <= 0:
            return o.lr_g
        t = min(1.0, step / max(1, self.cfg.total_steps))
        return o.lr_final + (o.lr_g - o.lr_final) * 0.5 * (1 + math.cos(math.pi * t))

    def train_step(self) -> dict[str, float]:
        c = self.cfg.loss
        for g in self.opt_g.param_groups:
            g["lr"] = self.lr(self.step)
        terms = self.loss_terms(self.batch(self.step))
        loss = sum(getattr(c, k) * v for k, v in terms.items())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.step += 1
        return {**{f"g_{k}": v.item() for k, v in terms.items()}, "g": loss.item()}

    def phase(self, step: int | None = None) -> int:
        return 2

    # ------------------------------------------------------------ checkpoints

    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "step": self.step, "net": self.net.state_dict(),
                "opt_g": self.opt_g.state_dict(), "torch_rng": torch.get_rng_state()}

    def save(self, path: Path | None = None) -> Path:
        path = path or self.out / CHECKPOINT
        _atomic_save(self.state(), path)
        _atomic_save({"config": self.cfg.to_dict(), "step": self.step, "net": self.net.state_dict()},
                     self.out / "weights" / f"step_{self.step:06d}.pt")
        return path

    def load(self, path: str | Path) -> None:
        state = read_checkpoint(path)
        saved = from_dict({k: v for k, v in state["config"].items() if k != "run"}, str(path))
        for section in ("model", "data", "loss", "optim"):
            if getattr(saved, section) != getattr(self.cfg, section):
                raise InputError(f"{path}: the checkpoint's [{section}] differs from the config; "
                                 "resume with the config it was trained with")
        try:
            self.net.load_state_dict(state["net"])
            self.opt_g.load_state_dict(state["opt_g"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise InputError(f"{path}: checkpoint does not fit this model ({str(e)[:160]})") from None
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------ validation and samples

    def validate(self, count: int | None = None) -> dict[str, float]:
        """Median hole PSNR and texture ratio of the clone fill and of the refined fill on the log's val pairs."""
        v = self.val_cache
        if v is None:
            return {}
        n = min(len(v), count or self.cfg.run.val_pairs)
        self.net.eval()
        scores = defaultdict(list)
        for i in range(n):
            truth, hole, coarse = v.truth[i], v.hole[i], v.coarse[i]
            pred, _ = refine_with(self.net, coarse, hole, device=self.device)
            scores["clone_hole_psnr"].append(psnr(coarse, truth, hole))
            scores["hole_psnr"].append(psnr(pred, truth, hole))
            scores["texture"].append(texture_ratio(pred, truth, hole))
        self.net.train()
        return {k: float(np.nanmedian(x)) for k, x in scores.items()}

    def write_samples(self, count: int = 4) -> Path | None:
        v = self.val_cache
        if v is None:
            return None
        self.net.eval()
        rows = []
        for i in range(min(count, len(v))):
            truth, hole, coarse = v.truth[i], v.hole[i], v.coarse[i]
            pred, res = refine_with(self.net, coarse, hole, device=self.device)
            shown = np.where(hole[..., None], np.uint8(255), truth).astype(np.uint8)
            corr = np.clip(128 + 4 * res, 0, 255).astype(np.uint8)
            rows.append(np.hstack([truth, shown, coarse, pred, corr]))
        self.net.train()
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.vstack(rows))
        return path

    # ------------------------------------------------------------ the loop

    def _record(self, entry: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    def fit(self, stop_at: int | None = None, max_minutes: float | None = None) -> int:
        """Train until ``stop_at`` (default: the config's total) or ``max_minutes``; checkpoint on the way out."""
        r = self.cfg.run
        end = min(stop_at if stop_at is not None else self.cfg.total_steps, self.cfg.total_steps)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        t0 = time.time()
        acc: dict[str, list[float]] = defaultdict(list)
        tick = time.time()
        self.net.train()
        while self.step < end:
            for k, v in self.train_step().items():
                acc[k].append(v)
            s = self.step
            if s % r.log_every == 0 or s == end:
                entry = {"step": s, "sec_per_step": (time.time() - tick) / len(next(iter(acc.values()))),
                         **{k: float(np.mean(v)) for k, v in acc.items()}}
                self._record(entry)
                self.log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
                acc.clear()
                tick = time.time()
            if s % r.val_every == 0 or s == end:
                v = self.validate()
                if v:
                    self._record({"step": s, "val": v})
                    self.log(f"step {s} val " + " ".join(f"{k} {x:.4g}" for k, x in v.items()))
            if s % r.sample_every == 0:
                self.write_samples()
            timed_out = max_minutes is not None and (time.time() - t0) / 60 >= max_minutes
            if s % r.checkpoint_every == 0 or s == end or timed_out:
                self.save()
            if timed_out:
                self.log(f"stopped after {max_minutes} min at step {s}; continue with --resume")
                break
        return self.step


def load_refiner(path: str | Path, device: str = "cpu") -> tuple[CloneRefineNet, TrainConfig, int]:
    """(refiner in eval mode, its config, training step) from a checkpoint or weights file."""
    state = read_checkpoint(path)
    cfg = from_dict(dict(state["config"]), str(path))
    if cfg.model.variant != "clone_unet_ca":
        raise InputError(f"{path}: not a refiner checkpoint (variant {cfg.model.variant})")
    net = CloneRefineNet(cfg.model)
    try:
        net.load_state_dict(state["net"])
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit the model in its config ({str(e)[:160]})") from None
    return net.to(device).eval(), cfg, int(state["step"])

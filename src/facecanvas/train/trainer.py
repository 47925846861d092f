"""Two-phase FaceEraser training (section 3.4) with resumable checkpoints, sample grids and a metrics log.

Phase 1 trains G_edge alone against the edge PatchGAN (adversarial 1 + feature matching 10). Phase 2 freezes
G_edge and trains G_pc and G_ref together against the image PatchGAN (adversarial 0.1, perceptual 1, L1 1,
style 500, pixel-clone L1 1 on Warp(I, F)). Adam with beta1 0, beta2 0.9; lr 1e-4 (G), 1e-5 (D).

Batch k is a pure function of (seed, k) and the checkpoint holds every weight, optimiser moment and
spectral-norm vector, so a run stopped and resumed any number of times ends where one long run ends.

Files under ``run.out_dir``: ``checkpoint.pt`` (latest, resumable), ``weights/step_NNNNNN.pt`` (generator
weights at each checkpoint, for exports and ablations at equal steps), ``metrics.jsonl`` (losses and validation
scores), ``samples/step_NNNNNN.png`` (held-out pairs: truth, input, edges, coarse, output), ``config.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..eval.metrics import mae, psnr, texture_ratio
from ..inpaint.neural import edge_map
from . import losses as L
from .config import TrainConfig, from_dict
from .data import Split, hole_depth, load_split, make_batch, to_tensors
from .features import make_features
from .networks import FaceEraserNet, PatchGAN, to_gray

CHECKPOINT = "checkpoint.pt"


def _adam(params, lr: float, cfg) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(cfg.optim.beta1, cfg.optim.beta2))


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fill_with(net: FaceEraserNet, image: np.ndarray, hole: np.ndarray, device="cpu") -> tuple[np.ndarray, dict]:
    """Fill one BGR uint8 image with a torch model, exactly as ``NeuralEraser.fill`` does with ONNX
    (size a multiple of the model's stride). Returns (uint8 image, dict of float intermediate maps)."""
    s = net.cfg.coarse_scale
    img = np.where(hole[..., None], 0, image).astype(np.uint8)
    edges = edge_map(img, hole, s, net.cfg.edge_sigma)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1)[None] / 255.0).to(device)
    m = torch.from_numpy(hole.astype(np.float32)[None, None]).to(device)
    e = torch.from_numpy(edges[None, None]).to(device)
    with torch.no_grad():
        out = net(x, m, e)
    pred = np.clip(out["output"][0].cpu().numpy().transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.where(hole[..., None], pred, image), {k: v[0].cpu().numpy() for k, v in out.items()}


class Trainer:
    """Owns the networks, optimisers and data of one run."""

    def __init__(self, cfg: TrainConfig, device: str = "cpu", vgg19_weights: str | None = None,
                 train: Split | None = None, val: Split | None = None, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch here")
        if cfg.run.threads > 0:
            torch.set_num_threads(cfg.run.threads)
        self.log = log
        torch.manual_seed(cfg.run.seed)
        self.net = FaceEraserNet(cfg.model).to(self.device)
        self.d_edge = PatchGAN(2, cfg.model.disc_width).to(self.device)
        self.d_img = PatchGAN(3, cfg.model.disc_width).to(self.device)
        self.features = make_features(cfg.loss.features, vgg19_weights)
        if self.features is not None:
            self.features = self.features.to(self.device).eval()
        gen = [p for m in (self.net.g_pc, self.net.g_ref) if m is not None for p in m.parameters()]
        self.opt_edge = _adam(self.net.g_edge.parameters(), cfg.optim.lr_g, cfg)
        self.opt_d_edge = _adam(self.d_edge.parameters(), cfg.optim.lr_d, cfg)
        self.opt_g = _adam(gen, cfg.optim.lr_g, cfg)
        self.opt_d_img = _adam(self.d_img.parameters(), cfg.optim.lr_d, cfg)
        self.step = 0
        self.out = Path(cfg.run.out_dir)
        self._train, self._val = train, val

    # ------------------------------------------------------------ data

    @property
    def train_split(self) -> Split:
        if self._train is None:
            self._train = load_split(self.cfg.data.dataset, "train")
        return self._train

    @property
    def val_split(self) -> Split:
        if self._val is None:
            self._val = load_split(self.cfg.data.dataset, "val")
        return self._val

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        b = make_batch(self.train_split, self.cfg.data, self.cfg.run.seed, step, self.cfg.model.coarse_scale,
                       self.cfg.model.edge_sigma)
        if self.cfg.loss.clone_hole > 0:  # made with the batch on the CPU, not from the device tensor per step
            b["hole_depth"] = hole_depth(b["mask"])
        return to_tensors(b, self.device)

    # ------------------------------------------------------------ steps

    def phase(self, step: int | None = None) -> int:
        return 1 if (self.step if step is None else step) < self.cfg.run.phase1_steps else 2

    def _coarse_gray(self, truth: torch.Tensor) -> torch.Tensor:
        s = self.cfg.model.coarse_scale
        g = to_gray(truth)
        return F.avg_pool2d(g, s) if s > 1 else g

    def edge_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Phase 1: G_edge against D_edge, whose input is (edge map, grayscale truth)."""
        c, net = self.cfg.loss, self.net
        image = b["truth"] * (1 - b["mask"])
        pred, _ = net.edges(image, b["mask"], b["edges"])
        gray = self._coarse_gray(b["truth"])
        real_in = torch.cat([b["edge_truth"], gray], 1)
        d_real, _ = self.d_edge(real_in)
        d_fake, _ = self.d_edge(torch.cat([pred.detach(), gray], 1))
        ld = L.d_loss(d_real, d_fake, c.gan)
        self.opt_d_edge.zero_grad(set_to_none=True)
        ld.backward()
        self.opt_d_edge.step()
        g_fake, fake_feats = self.d_edge(torch.cat([pred, gray], 1))
        with torch.no_grad():
            _, real_feats = self.d_edge(real_in)
        adv = L.g_adv_loss(g_fake, c.gan)
        fm = L.feature_matching(real_feats, fake_feats)
        lg = c.edge_adv * adv + c.edge_fm * fm
        self.opt_edge.zero_grad(set_to_none=True)
        lg.backward()
        self.opt_edge.step()
        return {"d_edge": ld.item(), "g_edge_adv": adv.item(), "g_edge_fm": fm.item(), "g_edge": lg.item()}

    def image_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """Phase 2: G_pc + G_ref (G_edge frozen) against D_img."""
        c = self.cfg.loss
        truth, mask = b["truth"], b["mask"]
        self.net.g_edge.requires_grad_(False)
        out = self.net(truth, mask, b["edges"])
        raw = out["raw"]
        d_real, _ = self.d_img(truth)
        d_fake, _ = self.d_img(raw.detach())
        ld = L.d_loss(d_real, d_fake, c.gan)
        self.opt_d_img.zero_grad(set_to_none=True)
        ld.backward()
        self.opt_d_img.step()
        g_fake, _ = self.d_img(raw)
        terms = {"adv": L.g_adv_loss(g_fake, c.gan), "l1": L.masked_l1(raw, truth, mask)}
        if "coarse" in out:
            terms["clone_l1"] = L.masked_l1(out["coarse"], truth, mask)
            if c.clone_hole > 0:
                terms["clone_hole"] = L.offsets_into_hole(b["hole_depth"], out["grid_offsets"], mask)
        if self.features is not None and (c.perceptual > 0 or c.style > 0):
            terms["perceptual"] = L.perceptual(self.features(raw), self.features(truth))
            terms["style"] = L.style(self.features(raw * mask), self.features(truth * mask))
        lg = sum(getattr(c, k) * v for k, v in terms.items())
        self.opt_g.zero_grad(set_to_none=True)
        lg.backward()
        self.opt_g.step()
        logs = {f"g_{k}": v.item() for k, v in terms.items()}
        logs.update(d_img=ld.item(), g=lg.item())
        return logs

    def train_step(self) -> dict[str, float]:
        b = self.batch(self.step)
        logs = self.edge_step(b) if self.phase() == 1 else self.image_step(b)
        self.step += 1
        return logs

    # ------------------------------------------------------------ checkpoints

    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "step": self.step, "net": self.net.state_dict(),
                "d_edge": self.d_edge.state_dict(), "d_img": self.d_img.state_dict(),
                "opt_edge": self.opt_edge.state_dict(), "opt_d_edge": self.opt_d_edge.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d_img": self.opt_d_img.state_dict(),
                "torch_rng": torch.get_rng_state()}

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
            self.d_edge.load_state_dict(state["d_edge"])
            self.d_img.load_state_dict(state["d_img"])
            for name in ("opt_edge", "opt_d_edge", "opt_g", "opt_d_img"):
                getattr(self, name).load_state_dict(state[name])
        except (KeyError, RuntimeError, ValueError) as e:
            raise InputError(f"{path}: checkpoint does not fit this model ({str(e)[:160]})") from None
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------ validation and samples

    def validate(self, count: int | None = None) -> dict[str, float]:
        """Median whole-image PSNR, MAE (0..255), hole PSNR and texture ratio on the first held-out pairs."""
        pairs = self.val_split.pairs[: count or self.cfg.run.val_pairs]
        if not pairs:
            return {}
        self.net.eval()
        scores = defaultdict(list)
        for _, truth, hole in pairs:
            pred, _ = fill_with(self.net, np.where(hole[..., None], 0, truth).astype(np.uint8), hole, self.device)
            scores["psnr"].append(psnr(pred, truth))
            scores["mae"].append(mae(pred, truth))
            scores["hole_psnr"].append(psnr(pred, truth, hole))
            scores["texture"].append(texture_ratio(pred, truth, hole))
        self.net.train()
        return {k: float(np.nanmedian(v)) for k, v in scores.items()}

    def write_samples(self, count: int = 4) -> Path | None:
        pairs = self.val_split.pairs[:count]
        if not pairs:
            return None
        self.net.eval()
        rows = []
        for _, truth, hole in pairs:
            masked = np.where(hole[..., None], 0, truth).astype(np.uint8)
            pred, maps = fill_with(self.net, masked, hole, self.device)
            h, w = hole.shape
            edges = cv2.resize((maps["edges"][0] * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            tiles = [truth, np.where(hole[..., None], np.uint8(255), truth).astype(np.uint8),
                     cv2.cvtColor(edges, cv2.COLOR_GRAY2BGR)]
            if "coarse" in maps:
                tiles.append(np.clip(maps["coarse"].transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8))
            tiles.append(pred)
            rows.append(np.hstack(tiles))
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
                entry = {"step": s, "phase": self.phase(s - 1), "sec_per_step": (time.time() - tick) / len(
                    next(iter(acc.values()))), **{k: float(np.mean(v)) for k, v in acc.items()}}
                self._record(entry)
                self.log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
                acc.clear()
                tick = time.time()
            if s % r.val_every == 0 and s > r.phase1_steps:
                v = self.validate()
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


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint or weights file as a dict; a missing or corrupt file is an InputError naming it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise InputError(f"{p}: cannot read checkpoint ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(state, dict) or "net" not in state or "config" not in state:
        raise InputError(f"{p}: not a facecanvas checkpoint (no 'net' and 'config')")
    return state


def load_generator(path: str | Path, device: str = "cpu") -> tuple[FaceEraserNet, TrainConfig, int]:
    """(generators in eval mode, their config, training step) from a checkpoint or weights file."""
    state = read_checkpoint(path)
    cfg = from_dict({k: v for k, v in state["config"].items()}, str(path))
    net = FaceEraserNet(cfg.model)
    try:
        net.load_state_dict(state["net"])
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit the model in its config ({str(e)[:160]})") from None
    return net.to(device).eval(), cfg, int(state["step"])

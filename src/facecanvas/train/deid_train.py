"""Training of the live de-identification network (Gafni, Wolf, Taigman, ICCV 2019).

``python -m facecanvas.train.deid_train --config compact|paper|PATH.toml --data DIR --out RUN [--steps N]
[--device cpu|cuda] [--resume]``

One step: the batch's undistorted targets ``x`` go through the frozen SFace once (no grad) for the
attractor features and the conditioning embedding; the generator sees the distorted inputs and that
embedding; the discriminator takes a least-squares step with mixup; then the generator takes a step on
the weighted sum of ``deid_losses``' terms plus ``lambda * cos(e(z), e(x))`` (the repeller), with lambda from
the config's step schedule. Adam, lr 1e-4, betas (0.5, 0.99), for both networks.

Batch ``k`` is a pure function of (seed, k) and the checkpoint holds both networks, both optimisers and the
torch RNG, so a stopped and resumed run continues the same sequence.

Files under the run folder: ``checkpoint.pt`` (latest, resumable), ``weights/step_NNNNNN.pt`` (generator
only), ``metrics.jsonl`` (losses every ``log_every`` steps; held-out scores every ``val_every``:
``sface_cos`` = mean SFace cosine similarity of output and input, lower = more de-identified),
``samples/step_NNNNNN.png`` (held-out rows: input | output | mask | raw), ``config.json``. The samples show
crops of the training data: keep run folders out of the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, get_type_hints

import cv2
import numpy as np
import torch

from ..errors import InputError
from . import deid_losses as L
from .config import _check
from .deid_data import CropSet, DeidDataConfig, build_cache, load_crops, make_batch
from .deid_losses import DeidLossConfig, lambda_at
from .deid_nets import DeidDiscriminator, DeidGenerator, DeidModelConfig, check_model_config, count_parameters
from .trainer import _atomic_save, read_checkpoint

CHECKPOINT = "checkpoint.pt"
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
NAMED = {"compact": CONFIG_DIR / "deid_compact.toml", "paper": CONFIG_DIR / "deid_paper.toml"}


@dataclass
class DeidOptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.99


@dataclass
class DeidRunConfig:
    steps: int = 3000
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    out_dir: str = "out/deid/run"
    checkpoint_every: int = 100
    sample_every: int = 250
    log_every: int = 10
    val_every: int = 250
    val_count: int = 32  # held-out crops scored at each validation


@dataclass
class DeidConfig:
    model: DeidModelConfig = field(default_factory=DeidModelConfig)
    data: DeidDataConfig = field(default_factory=DeidDataConfig)
    loss: DeidLossConfig = field(default_factory=DeidLossConfig)
    optim: DeidOptimConfig = field(default_factory=DeidOptimConfig)
    run: DeidRunConfig = field(default_factory=DeidRunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {"model": DeidModelConfig, "data": DeidDataConfig, "loss": DeidLossConfig, "optim": DeidOptimConfig,
            "run": DeidRunConfig}


def config_from_dict(data: dict[str, Any], source: str = "config") -> DeidConfig:
    """A checked ``DeidConfig`` from nested sections; unknown sections or fields and wrong types are
    InputErrors naming the field."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a table of sections")
    cfg = DeidConfig()
    for name, value in data.items():
        if name not in SECTIONS:
            raise InputError(f"{source}: unknown section [{name}]; expected one of {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise InputError(f"{source}: [{name}] must be a table")
        section = getattr(cfg, name)
        hints = get_type_hints(type(section))
        for key, v in value.items():
            if key not in hints:
                raise InputError(f"{source}: unknown field {name}.{key}; expected one of {', '.join(hints)}")
            setattr(section, key, _check(v, hints[key], f"{source}: {name}.{key}"))
    try:
        check_model_config(cfg.model, f"{source}: model")
    except ValueError as e:
        raise InputError(str(e)) from None
    if cfg.data.crop != cfg.model.size:
        raise InputError(f"{source}: data.crop ({cfg.data.crop}) must equal model.size ({cfg.model.size})")
    if any(len(p) != 2 for p in cfg.loss.lambda_schedule):
        raise InputError(f"{source}: loss.lambda_schedule: expected [[step, lambda], ...]")
    if cfg.data.batch_size < 1 or cfg.run.steps < 0:
        raise InputError(f"{source}: data.batch_size must be >= 1 and run.steps >= 0")
    return cfg


def load_config(path: str | Path | None) -> DeidConfig:
    """``compact``, ``paper``, a .toml / .json path, or None (defaults)."""
    if path is None:
        return DeidConfig()
    p = NAMED.get(str(path), Path(path))
    if not p.is_file():
        raise InputError(f"{p}: config file not found")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(p.read_text())
        else:
            import tomllib

            data = tomllib.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot parse config: {e}") from None
    return config_from_dict(data, str(p))


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """3 x H x W (or 1 x H x W) 0..1 -> H x W x 3 uint8."""
    a = t.detach().float().cpu().numpy()
    a = np.repeat(a, 3, 0) if a.shape[0] == 1 else a
    return np.clip(a.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)


class DeidTrainer:
    """Networks, optimisers, SFace and data of one run."""

    def __init__(self, cfg: DeidConfig, device: str | None = None, train: CropSet | None = None,
                 val: CropSet | None = None, sface=None, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.device = torch.device(device or cfg.run.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available to torch here")
        if cfg.run.threads > 0:
            torch.set_num_threads(cfg.run.threads)
        self.log = log
        torch.manual_seed(cfg.run.seed)
        self.g = DeidGenerator(cfg.model).to(self.device)
        self.d = DeidDiscriminator(cfg.model.disc_width, cfg.model.slope).to(self.device)
        if sface is None:
            from .sface_torch import SFaceTorch

            sface = SFaceTorch()
        self.sface = sface.to(self.device).eval()
        self.sface.requires_grad_(False)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
        self.step = 0
        self.out = Path(cfg.run.out_dir)
        self._train, self._val = train, val

    # ------------------------------------------------------------ data

    def _load(self) -> None:
        d = self.cfg.data
        self._train, self._val = load_crops(d.cache, d.crop, d.heldout_fraction)
        if len(self._train) == 0:
            raise InputError(f"{d.cache}: no training crops of size {d.crop}")

    @property
    def train_set(self) -> CropSet:
        if self._train is None:
            self._load()
        return self._train

    @property
    def val_set(self) -> CropSet:
        if self._val is None:
            self._load()
        return self._val

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        b = make_batch(self.train_set, self.cfg.data, self.cfg.run.seed, step)
        return {k: torch.from_numpy(v).to(self.device) for k, v in b.items()}

    # ------------------------------------------------------------ one step

    def target_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """SFace features (and the conditioning embedding) of the undistorted targets, no grad."""
        with torch.no_grad():
            return self.sface.features(L.to_sface(x, self.cfg.model.size))

    def loss_terms(self, out: dict[str, torch.Tensor], x: torch.Tensor, lam: float,
                   target_feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted generator loss, its terms) for the generator's outputs on targets ``x`` (source =
        target = ``x``, see deid_losses)."""
        c, size = self.cfg.loss, self.cfg.model.size
        raw, z, m = out["raw"], out["output"], out["mask"]
        terms = {"rec_raw": L.l1(raw, x), "rec_masked": L.l1(z, x),
                 "grad_raw": L.gradient_loss(raw, x), "grad_masked": L.gradient_loss(z, x),
                 "mask_l1": m.mean(), "mask_tv": L.total_variation(m)}
        if c.perc_low or c.perc_mid or c.perc_high or lam:  # SFace forward + backward: most of a step's cost
            terms.update(L.perceptual_terms(self.sface, z, target_feats, target_feats, size))
        if c.adv > 0:
            terms["adv"] = L.lsgan_g(self.d, z)
        total = sum(getattr(c, k) * v for k, v in terms.items() if k != "id_cos")
        if "id_cos" in terms:
            total = total + lam * terms["id_cos"]
        return total, terms

    def losses(self, x_in: torch.Tensor, x: torch.Tensor, lam: float,
               feats: dict[str, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(weighted loss, terms, outputs) of one generator forward on distorted ``x_in``, targets ``x``
        (``feats``: the targets' ``target_features``, computed when not given)."""
        feats = self.target_features(x) if feats is None else feats
        out = self.g(x_in, feats["embedding"])
        total, terms = self.loss_terms(out, x, lam, feats)
        return total, terms, out

    def train_step(self) -> dict[str, float]:
        c = self.cfg.loss
        b = self.batch(self.step)
        x_in, x = b["input"], b["target"]
        lam = lambda_at(c.lambda_schedule, self.step)
        feats = self.target_features(x)
        out = self.g(x_in, feats["embedding"])
        logs: dict[str, float] = {}
        if c.adv > 0:  # D first, on this step's (detached) output; G's adversarial term then sees the new D
            rng = np.random.default_rng([self.cfg.run.seed, self.step, 7])
            ld = L.lsgan_d(self.d, x, out["output"], c.mixup_alpha, rng)
            self.opt_d.zero_grad(set_to_none=True)
            ld.backward()
            self.opt_d.step()
            logs["d"] = ld.item()
        self.d.requires_grad_(False)
        total, terms = self.loss_terms(out, x, lam, feats)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        self.step += 1
        logs.update({k: v.item() for k, v in terms.items()})
        logs.update(g=total.item(), lam=lam)
        return logs

    # ------------------------------------------------------------ checkpoints

    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "step": self.step, "net": self.g.state_dict(),
                "disc": self.d.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "torch_rng": torch.get_rng_state(), "kind": "deid"}

    def save(self, path: Path | None = None) -> Path:
        path = path or self.out / CHECKPOINT
        _atomic_save(self.state(), path)
        _atomic_save({"config": self.cfg.to_dict(), "step": self.step, "net": self.g.state_dict(), "kind": "deid"},
                     self.out / "weights" / f"step_{self.step:06d}.pt")
        return path

    def load(self, path: str | Path) -> None:
        state = read_checkpoint(path)
        saved = config_from_dict({k: v for k, v in state["config"].items() if k != "run"}, str(path))
        for section in ("model", "data", "loss", "optim"):
            a, b = getattr(saved, section), getattr(self.cfg, section)
            if section == "data":  # where the data lives may change between machines
                a, b = dataclasses.replace(a, data="", cache=""), dataclasses.replace(b, data="", cache="")
            if a != b:
                raise InputError(f"{path}: the checkpoint's [{section}] differs from the config; "
                                 "resume with the config it was trained with")
        try:
            self.g.load_state_dict(state["net"])
            self.d.load_state_dict(state["disc"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise InputError(f"{path}: checkpoint does not fit this model ({str(e)[:160]})") from None
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])

    # ------------------------------------------------------------ validation and samples

    @torch.no_grad()
    def validate(self, count: int | None = None) -> dict[str, float]:
        """On the first held-out crops (undistorted, conditioned on their own embedding): mean SFace cosine
        of output vs input (``sface_cos``; lower = more de-identified), the same for the raw image, mean
        mask, and L1 output vs input (0..1)."""
        v = self.val_set
        n = min(count or self.cfg.run.val_count, len(v))
        if n == 0:
            return {}
        self.g.eval()
        size = self.cfg.model.size
        scores = defaultdict(list)
        for i in range(0, n, 8):
            x = torch.from_numpy(v.images[i:i + 8].astype(np.float32).transpose(0, 3, 1, 2) / 255).to(self.device)
            e = self.sface.embed(L.to_sface(x, size))
            out = self.g(x, e)
            for key, img in (("sface_cos", out["output"]), ("sface_cos_raw", out["raw"])):
                scores[key] += (self.sface.embed(L.to_sface(img, size)) * e).sum(1).tolist()
            scores["mask_mean"] += out["mask"].mean((1, 2, 3)).tolist()
            scores["l1"] += (out["output"] - x).abs().mean((1, 2, 3)).tolist()
        self.g.train()
        return {k: float(np.mean(s)) for k, s in scores.items()} | {"count": n}

    @torch.no_grad()
    def write_samples(self, count: int = 6) -> Path | None:
        v = self.val_set
        n = min(count, len(v))
        if n == 0:
            return None
        self.g.eval()
        x = torch.from_numpy(v.images[:n].astype(np.float32).transpose(0, 3, 1, 2) / 255).to(self.device)
        e = self.sface.embed(L.to_sface(x, self.cfg.model.size))
        out = self.g(x, e)
        self.g.train()
        rows = [np.hstack([_to_uint8(x[i]), _to_uint8(out["output"][i]), _to_uint8(out["mask"][i]),
                           _to_uint8(out["raw"][i])]) for i in range(n)]
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
        r = self.cfg.run
        end = stop_at if stop_at is not None else r.steps
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        t0 = tick = time.time()
        acc: dict[str, list[float]] = defaultdict(list)
        self.g.train()
        while self.step < end:
            for k, v in self.train_step().items():
                acc[k].append(v)
            s = self.step
            if s % r.log_every == 0 or s == end:
                k = len(next(iter(acc.values())))
                entry = {"step": s, "sec_per_step": (time.time() - tick) / k, "wall_min": (time.time() - t0) / 60,
                         **{key: float(np.mean(val)) for key, val in acc.items()}}
                self._record(entry)
                self.log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
                acc.clear()
                tick = time.time()
            if s % r.val_every == 0 or s == end:
                v = self.validate()
                self._record({"step": s, "val": v})
                self.log(f"step {s} val " + " ".join(f"{k} {x:.4g}" for k, x in v.items()))
            if s % r.sample_every == 0 or s == end:
                self.write_samples()
            timed_out = max_minutes is not None and (time.time() - t0) / 60 >= max_minutes
            if s % r.checkpoint_every == 0 or s == end or timed_out:
                self.save()
            if timed_out:
                self.log(f"stopped after {max_minutes} min at step {s}; continue with --resume")
                break
        return self.step


def load_generator(path: str | Path, device: str = "cpu") -> tuple[DeidGenerator, DeidConfig, int]:
    """(generator in eval mode, its config, step) from a checkpoint or weights file."""
    state = read_checkpoint(path)
    cfg = config_from_dict(state["config"], str(path))
    net = DeidGenerator(cfg.model)
    try:
        net.load_state_dict(state["net"])
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit the model in its config ({str(e)[:160]})") from None
    return net.to(device).eval(), cfg, int(state["step"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.train.deid_train",
                                 description="Train the live de-identification network (Gafni et al. 2019).")
    ap.add_argument("--config", default="compact", help="compact, paper, or a .toml/.json file")
    ap.add_argument("--data", default=None, help="folder of face photos (default: the config's data.data)")
    ap.add_argument("--cache", default=None, help="crop cache outside the repo (default: the config's)")
    ap.add_argument("--out", default=None, help="run folder (default: the config's run.out_dir)")
    ap.add_argument("--steps", type=int, default=None, help="train until this step (default: run.steps)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config)
        if a.data:
            cfg.data.data = a.data
        if a.cache:
            cfg.data.cache = a.cache
        if a.out:
            cfg.run.out_dir = a.out
        if a.device:
            cfg.run.device = a.device
        if a.threads is not None:
            cfg.run.threads = a.threads
        if a.steps is not None:
            cfg.run.steps = a.steps
        ckpt = Path(cfg.run.out_dir) / CHECKPOINT
        if ckpt.exists() and not a.resume:
            raise InputError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
        if not (Path(cfg.data.cache) / f"s{cfg.data.crop}").is_dir():
            build_cache(cfg.data.data, cfg.data.cache, cfg.data.crop)
        tr = DeidTrainer(cfg)
        if a.resume and ckpt.exists():
            tr.load(ckpt)
            print(f"resumed at step {tr.step}")
        print(f"generator {count_parameters(tr.g):,} parameters, discriminator {count_parameters(tr.d):,}; "
              f"{len(tr.train_set)} train / {len(tr.val_set)} held-out crops", flush=True)
        tr.fit(max_minutes=a.max_minutes)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

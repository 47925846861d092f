"""``facecanvas train``: train the neural eraser (needs the training extra: torch)."""

from __future__ import annotations

import argparse

HELP = "train the neural eraser (FaceEraser) from a prepared data set; needs the training extra"
DESCRIPTION = """\
Two-phase FaceEraser training (Hua et al. 2021, 3.4). Phase 1 trains the edge generator alone
(adversarial + feature matching); phase 2 freezes it and trains the pixel-clone offset network and
the refinement U-Net (adversarial 0.1, perceptual 1, L1 1, style 500, pixel-clone L1 1).

CONFIG is a .toml or .json file (see src/facecanvas/train/configs/); it names the data set made by
`facecanvas prepare`, the model variant and width, the losses and the schedule. Everything is written
under run.out_dir: checkpoint.pt (resumable), weights/, metrics.jsonl, samples/.

Training can be split over several runs: --max-minutes stops cleanly with a checkpoint, and --resume
continues from it; batches depend only on (seed, step), so the result is the same as one long run.

Perceptual and style losses use a fixed random-weight conv net by default (no download). With
--vgg19-weights PATH (a torchvision vgg19 state dict) they use VGG-19 relu1_1..relu5_1, as the paper.

Needs torch: pip install -e .[train]

examples:
  facecanvas train src/facecanvas/train/configs/compact.toml
  facecanvas train src/facecanvas/train/configs/compact.toml --resume --max-minutes 110
  facecanvas train my.toml --device cuda --vgg19-weights ~/weights/vgg19-dcbb9e9d.pth
  facecanvas train compact.toml --set model.variant=edge_ae --set run.out_dir=out/train/edge_ae
  facecanvas train src/facecanvas/train/configs/refine_compact.toml --max-minutes 40   # the refiner variant
"""


def add_parser(sub) -> None:
    p = sub.add_parser("train", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="training config (.toml or .json)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the config's run.device)")
    p.add_argument("--resume", action="store_true", help="continue from run.out_dir/checkpoint.pt")
    p.add_argument("--vgg19-weights", metavar="PATH", help="VGG-19 state dict for the perceptual/style losses")
    p.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="stop (with a checkpoint) after M minutes; continue later with --resume")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP", help="stop (with a checkpoint) at STEP")
    p.add_argument("--out-dir", default=None, help="override run.out_dir")
    p.add_argument("--dataset", default=None, help="override data.dataset")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config field, e.g. --set model.variant=edge_ae (repeatable)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .torch_check import require_torch

    require_torch()
    import json
    from pathlib import Path

    from ..errors import InputError
    from ..train.config import REFINE_VARIANTS, load_config
    from ..train.trainer import CHECKPOINT, Trainer

    overrides: dict = {}
    if args.device:
        overrides.setdefault("run", {})["device"] = args.device
    if args.out_dir:
        overrides.setdefault("run", {})["out_dir"] = args.out_dir
    if args.dataset:
        overrides.setdefault("data", {})["dataset"] = args.dataset
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot:
            raise InputError(f"--set {item}: expected SECTION.KEY=VALUE, e.g. model.width=16")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value  # a bare string, e.g. edge_ae
        overrides.setdefault(section, {})[field] = parsed
    cfg = load_config(args.config, overrides)
    if cfg.run.device not in ("cpu", "cuda") and not cfg.run.device.startswith("cuda:"):
        raise InputError(f"--device: expected cpu or cuda, got {cfg.run.device!r}")
    if cfg.model.variant in REFINE_VARIANTS:  # the clone fill + U-Net refiner: its own one-phase loop
        from ..train.refine_train import RefineTrainer as Trainer  # noqa: N814
    trainer = Trainer(cfg, cfg.run.device, args.vgg19_weights, log=lambda m: print(m, flush=True))
    ckpt = Path(cfg.run.out_dir) / CHECKPOINT
    if args.resume:
        trainer.load(ckpt)
        print(f"resumed from {ckpt} at step {trainer.step}", flush=True)
    elif ckpt.exists():
        raise InputError(f"{ckpt}: a run already exists there; use --resume, or another run.out_dir")
    step = trainer.fit(args.stop_at, args.max_minutes)
    print(f"step {step} of {cfg.total_steps}; checkpoint {ckpt}", flush=True)
    return 0

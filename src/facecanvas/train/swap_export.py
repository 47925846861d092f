"""Export a FaceShifter checkpoint to ONNX (AEI-Net and HEAR-Net) and check each graph against PyTorch.

    python -m facecanvas.train.swap_export CHECKPOINT OUT_DIR [--overwrite]

Writes ``OUT_DIR/swap_aei.onnx`` and, when the checkpoint has trained HEAR-Net (step > aei_steps),
``OUT_DIR/swap_hear.onnx``; read by ``facecanvas.swapnet.AEISwapper`` (onnxruntime only).

Graph conventions (all float32, batch 1, S = the model's crop size, canonical crop ``align_face(p, S)``):

* AEI: inputs ``target`` 1 x 3 x S x S **RGB in -1..1** (``bgr[..., ::-1] / 127.5 - 1``) and
  ``source_embedding`` 1 x 128 (SFace of the source's ArcFace 112 crop; any norm, normalised inside);
  output ``swapped`` 1 x 3 x S x S RGB -1..1.
* HEAR: inputs ``aei_output`` (AEI's output for the source) and ``delta`` = target − AEI(target,
  embedding of the target itself), both 1 x 3 x S x S; output ``refined`` 1 x 3 x S x S RGB -1..1.

Each file is exported to a temporary name, compared with PyTorch on a few random inputs (largest absolute
difference ≤ ``TOLERANCE``) and only then renamed into place; on failure nothing is left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, OutputError
from .networks import count_parameters
from .swap_nets import AEIExport, AEINet, HEARExport, HEARNet

OPSET = 17
TOLERANCE = 1e-4
AEI_FILE, HEAR_FILE = "swap_aei.onnx", "swap_hear.onnx"


def _inputs(kind: str, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 3, size, size, generator=g) * 2 - 1
    if kind == "aei":
        return img, torch.randn(1, 128, generator=g)
    return img, (torch.rand(1, 3, size, size, generator=g) * 2 - 1) * 0.3


NAMES = {"aei": (["target", "source_embedding"], ["swapped"]), "hear": (["aei_output", "delta"], ["refined"])}


def export_graph(module: torch.nn.Module, kind: str, size: int, path: str | Path, info: dict | None = None,
                 tolerance: float = TOLERANCE) -> tuple[Path, float]:
    """Export ``module`` (an ``AEIExport`` or ``HEARExport``), check parity, then move into ``path``.
    Returns (path, largest |ONNX − torch|)."""
    import onnx
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.unchecked.onnx")
    module = module.cpu().eval()
    ins, outs = NAMES[kind]
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, _inputs(kind, size, 0), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=ins, output_names=outs)
        model = onnx.load(str(tmp))
        onnx.helper.set_model_props(model, {"kind": kind, "size": str(size), "color": "rgb", "range": "-1..1",
                                            "info": json.dumps({**(info or {}),
                                                                "parameters": count_parameters(module)})})
        model.producer_name = "facecanvas"
        onnx.save(model, str(tmp))
        sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        worst = 0.0
        for seed in (0, 1, 2):
            a, b = _inputs(kind, size, seed)
            with torch.no_grad():
                ref = module(a, b).numpy()
            got = sess.run(None, {ins[0]: a.numpy(), ins[1]: b.numpy()})[0]
            worst = max(worst, float(np.abs(got - ref).max()))
        if not worst <= tolerance:
            raise OutputError(f"{path}: not written: ONNX differs from PyTorch by {worst:.2e} (> {tolerance:g})")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, worst


def export_nets(aei: AEINet, hear: HEARNet | None, out_dir: str | Path, info: dict | None = None,
                overwrite: bool = False) -> dict[str, dict]:
    out_dir = Path(out_dir)
    size = aei.cfg.size
    jobs = [("aei", AEIExport(aei), AEI_FILE)] + ([("hear", HEARExport(hear), HEAR_FILE)] if hear is not None else [])
    for _, _, name in jobs:
        if (out_dir / name).exists() and not overwrite:
            raise OutputError(f"cannot write {out_dir / name}: file already exists (use --overwrite)")
    report = {}
    for kind, module, name in jobs:
        path, err = export_graph(module, kind, size, out_dir / name, info)
        report[kind] = {"path": str(path), "parity": err, "bytes": path.stat().st_size,
                        "parameters": count_parameters(module)}
    return report


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, overwrite: bool = False) -> dict[str, dict]:
    from .swap_train import load_swap_nets

    aei, hear, cfg, step = load_swap_nets(checkpoint)
    info = {"step": step, "aei_steps": cfg.run.aei_steps, "checkpoint": Path(checkpoint).name,
            "model": cfg.to_dict()["model"]}
    return export_nets(aei, hear if step > cfg.run.aei_steps else None, out_dir, info, overwrite)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m facecanvas.train.swap_export", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    try:
        print(json.dumps(export_checkpoint(a.checkpoint, a.out_dir, a.overwrite), indent=2))
    except (InputError, OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the face parser on canonical-aligned CelebAMask-HQ crops.

    python -m facecanvas.train.parser_train --data DIR --out RUN_DIR [--steps N] [--resume]

DIR holds images/*.jpg and masks/*.png. The canonical crops are cached once under --cache (outside the repo;
default /tmp/parser_cache). The held-out split is fixed by the md5 of each file name (150 test faces of 1000).
RUN_DIR gets: last.pt / best.pt checkpoints (resumable: model, optimiser, step, elapsed seconds),
metrics.jsonl (loss, lr, held-out IoU per class), samples_XXXXXX.png grids (image | truth | prediction) and,
at the end, parser.onnx with a torch/onnxruntime parity check.

``--minutes`` caps wall time: the cosine learning-rate schedule then runs on whichever of steps or time is
further along, so a time-limited run still anneals to the end.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from . import parser_data as pdata
from .parser_net import build, count_params, export_onnx


class CropDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels, cfg: pdata.AugConfig, seed: int = 0, length: int = 10 ** 8):
        self.images, self.labels, self.cfg, self.seed, self.length = images, labels, cfg, seed, length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, i))
        k = int(rng.integers(len(self.images)))
        img, lab = pdata.augment(self.images[k], self.labels[k], rng, self.cfg, self.images, self.labels)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float() / 255.0
        return x, torch.from_numpy(lab.astype(np.int64))


def dice_loss(logits, target, n):
    valid = (target != pdata.IGNORE).unsqueeze(1).float()
    prob = logits.softmax(1) * valid
    oh = F.one_hot(target.clamp(max=n - 1), n).permute(0, 3, 1, 2).float() * valid
    inter = (prob * oh).sum((0, 2, 3))
    denom = prob.sum((0, 2, 3)) + oh.sum((0, 2, 3))
    present = oh.sum((0, 2, 3)) > 0
    d = 1 - (2 * inter + 1) / (denom + 1)
    return d[present].mean() if present.any() else logits.sum() * 0


@torch.no_grad()
def predict(net, crops_256: np.ndarray, size: int, device, batch: int = 16) -> np.ndarray:
    """Labels at 256 for uint8 BGR 256 crops, the net run at ``size`` and its logits upsampled."""
    net.eval()
    out = []
    for i in range(0, len(crops_256), batch):
        b = crops_256[i:i + batch]
        if size != b.shape[1]:
            b = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in b])
        x = torch.from_numpy(b.transpose(0, 3, 1, 2).copy()).float().div(255).to(device)
        lg = net(x)
        if size != crops_256.shape[1]:
            lg = F.interpolate(lg, size=crops_256.shape[1:3], mode="bilinear", align_corners=False)
        out.append(lg.argmax(1).byte().cpu().numpy())
    return np.concatenate(out)


def evaluate(net, images, labels, size, device) -> dict:
    pred = predict(net, images, size, device)
    cm = sum(pdata.confusion(p, g) for p, g in zip(pred, labels))
    iou = pdata.iou_from_confusion(cm)
    res = {"iou": {c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(pdata.CLASSES, iou)}}
    res["miou"] = round(pdata.miou_present(cm), 4)  # classes present in the truth, background excluded
    res["other_false_positive_pct"] = round(float(100 * cm[:, pdata.OTHER].sum() / cm.sum()), 3)
    res["pixel_acc"] = round(float(np.diag(cm).sum() / cm.sum()), 4)
    return res, pred


def sample_grid(images, labels, pred, n=6) -> np.ndarray:
    rows = [np.hstack([images[i], pdata.overlay(images[i], labels[i]), pdata.overlay(images[i], pred[i])])
            for i in range(min(n, len(images)))]
    return np.vstack(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/parser_cache"))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=None, help="wall-time cap (the schedule follows it)")
    ap.add_argument("--size", type=int, default=192, help="training / inference resolution")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dice", type=float, default=0.5)
    ap.add_argument("--widths", type=str, default="24,48,64,128,160")
    ap.add_argument("--depth", type=str, default="1,2,3,3")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--n-test", type=int, default=150)
    ap.add_argument("--export-only", action="store_true", help="export a checkpoint to RUN_DIR/parser.onnx and stop")
    ap.add_argument("--export-from", default="last.pt", help="the checkpoint --export-only exports (last.pt, best.pt)")
    ap.add_argument("--eval-onnx", type=Path, default=None,
                    help="score an ONNX model through FaceParser on the held-out crops (256 px, as at inference), "
                         "also with synthetic occluders; writes RUN_DIR/heldout_onnx.json and a contact sheet")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    a.out.mkdir(parents=True, exist_ok=True)
    log_path = a.out / "metrics.jsonl"

    def log(rec):
        rec = {"time": time.strftime("%H:%M:%S"), **rec}
        print(json.dumps(rec), flush=True)
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    if a.eval_onnx is not None:
        evaluate_onnx(a.eval_onnx, a, log)
        return

    cfg = {"widths": [int(v) for v in a.widths.split(",")], "depth": [int(v) for v in a.depth.split(",")]}
    state = {"step": 0, "elapsed": 0.0, "best": -1.0}
    ckpt = a.out / "last.pt"
    src = a.out / a.export_from if a.export_only else ckpt
    sd = None
    if (a.resume or a.export_only) and src.exists():
        sd = torch.load(src, map_location=device, weights_only=False)
        cfg, state, a.size = sd.get("cfg", cfg), sd["state"], sd.get("size", a.size)
    elif a.export_only:
        raise SystemExit(f"{src}: no checkpoint to export")
    net = build(cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, weight_decay=1e-5)
    if sd is not None:
        net.load_state_dict(sd["model"])
        opt.load_state_dict(sd["opt"])
        print(f"loaded {src.name} at step {state['step']} ({state['elapsed'] / 60:.1f} min)")

    if a.export_only:
        finish(net, a, cfg, device, log, state)
        return

    index = pdata.build_cache(a.data, a.cache)
    stems = [s for s in pdata.list_stems(a.data) if index.get(s, {}).get("ok")]
    train_stems, test_stems = pdata.split_stems(pdata.list_stems(a.data), a.n_test)
    train_stems = [s for s in train_stems if s in stems]
    test_stems = [s for s in test_stems if s in stems]
    tr_img, tr_lab, _ = pdata.load_cached(a.cache, train_stems)
    te_img, te_lab, _ = pdata.load_cached(a.cache, test_stems)
    (a.out / "split.json").write_text(json.dumps({"train": train_stems, "test": test_stems}, indent=0))
    log({"event": "start", "train": len(tr_img), "test": len(te_img), "params": count_params(net), "cfg": cfg,
         "size": a.size, "batch": a.batch, "device": str(device), "step": state["step"]})

    aug = pdata.AugConfig(out_size=a.size)
    ds = CropDataset(tr_img, tr_lab, aug, seed=a.seed * 1000 + state["step"])
    dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=False, num_workers=a.workers,
                                     persistent_workers=a.workers > 0, prefetch_factor=4 if a.workers else None)
    budget = a.minutes * 60 if a.minutes else None
    t0 = time.time() - state["elapsed"]
    run_loss, n_loss = 0.0, 0
    net.train()

    def progress():
        p = state["step"] / a.steps
        if budget:
            p = max(p, (time.time() - t0) / budget)
        return p

    def save(path):
        state["elapsed"] = time.time() - t0
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "state": state, "cfg": cfg,
                    "size": a.size}, path)

    warm = 300
    for x, y in dl:
        p = progress()
        if p >= 1:
            break
        lr = a.lr * min(1.0, (state["step"] + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = net(x)
        loss = F.cross_entropy(logits, y, ignore_index=pdata.IGNORE)
        if a.dice:
            loss = loss + a.dice * dice_loss(logits, y, net.num_classes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        run_loss += loss.item()
        n_loss += 1
        if state["step"] % 50 == 0:
            log({"step": state["step"], "loss": round(run_loss / n_loss, 4), "lr": round(lr, 6),
                 "min": round((time.time() - t0) / 60, 2)})
            run_loss, n_loss = 0.0, 0
        if state["step"] % a.ckpt_every == 0:
            save(ckpt)
        if state["step"] % a.eval_every == 0:
            res, pred = evaluate(net, te_img, te_lab, a.size, device)
            net.train()
            log({"step": state["step"], "eval": res})
            cv2.imwrite(str(a.out / f"samples_{state['step']:06d}.png"), sample_grid(te_img, te_lab, pred))
            if res["miou"] > state["best"]:
                state["best"] = res["miou"]
                save(a.out / "best.pt")
            save(ckpt)
    save(ckpt)
    res, pred = evaluate(net, te_img, te_lab, a.size, device)
    log({"step": state["step"], "eval": res, "final": True, "min": round(state["elapsed"] / 60, 2)})
    cv2.imwrite(str(a.out / f"samples_{state['step']:06d}.png"), sample_grid(te_img, te_lab, pred))
    if res["miou"] >= state["best"]:
        state["best"] = res["miou"]
        save(a.out / "best.pt")
    finish(net, a, cfg, device, log, state)


def evaluate_onnx(model: Path, a, log) -> dict:
    """Held-out IoU of an exported model run as the library runs it (FaceParser.parse on the 256 crop)."""
    from facecanvas.masks.face_parser import FaceParser

    parser = FaceParser(model, threads=a.threads)
    index = pdata.build_cache(a.data, a.cache)
    _, test = pdata.split_stems(pdata.list_stems(a.data), a.n_test)
    test = [s for s in test if index.get(s, {}).get("ok")]
    imgs, labs, _ = pdata.load_cached(a.cache, test)
    n = pdata.NUM_CLASSES
    out = {}
    preds = {}
    for mode in ("clean", "occluded"):
        cm = np.zeros((n, n), np.int64)
        rng = np.random.default_rng(12345)  # the same occluders every time
        shown = []
        for img, lab in zip(imgs, labs):
            if mode == "occluded":
                img, lab = pdata._occlude(img, lab, rng, imgs, labs)
            p = parser.parse(img)
            cm += pdata.confusion(p, lab)
            shown.append((img, lab, p))
        iou = pdata.iou_from_confusion(cm)
        out[mode] = {"iou": {c: (None if np.isnan(v) else round(float(v), 4)) for c, v in zip(pdata.CLASSES, iou)},
                     "miou": round(pdata.miou_present(cm), 4), "faces": len(imgs),
                     "other_predicted_pct": round(float(100 * cm[:, pdata.OTHER].sum() / cm.sum()), 3),
                     "pixel_acc": round(float(np.diag(cm).sum() / cm.sum()), 4)}
        preds[mode] = shown
    # per-face mIoU, to pick the worst faces for the contact sheet
    per_face = []
    for img, lab, p in preds["clean"]:
        per_face.append(pdata.miou_present(pdata.confusion(p, lab)))
    order = np.argsort(per_face)
    out["per_face_miou"] = {"median": round(float(np.median(per_face)), 4), "min": round(float(np.min(per_face)), 4)}
    (a.out / "heldout_onnx.json").write_text(json.dumps(out, indent=1))
    log({"event": "eval_onnx", "model": str(model), **{k: out[k]["miou"] for k in ("clean", "occluded")}})

    def tile(img, lab, p, score=None):
        t = np.hstack([img, pdata.overlay(img, lab), pdata.overlay(img, p)])
        if score is not None:
            cv2.putText(t, f"{score:.2f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        return t

    first = [tile(*preds["clean"][i], per_face[i]) for i in range(8)]
    worst = [tile(*preds["clean"][i], per_face[i]) for i in order[:4]]
    occ = [tile(*preds["occluded"][i]) for i in range(4)]
    rows = first + worst + occ
    sheet = np.vstack([np.hstack(rows[i:i + 2]) for i in range(0, len(rows), 2)])
    cv2.imwrite(str(a.out / "heldout_sheet.png"), sheet)
    return out


def finish(net, a, cfg, device, log, state):
    """Export the final weights to RUN_DIR/parser.onnx and check parity with torch (1e-4 on logits)."""
    import onnxruntime as ort

    net = net.cpu().eval()
    path = a.out / "parser.onnx"
    info = {"step": state["step"], "train_minutes": round(state["elapsed"] / 60, 1), "cfg": cfg, "size": a.size,
            "best_heldout_miou": state.get("best")}
    export_onnx(net, path, a.size, info=info)
    x = torch.rand(2, 3, a.size, a.size)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = []
    with torch.no_grad():
        for i in range(2):
            ref = net(x[i:i + 1]).numpy()
            got = sess.run(None, {"image": x[i:i + 1].numpy()})[0]
            diffs.append(float(np.abs(ref - got).max()))
    log({"event": "export", "onnx": str(path), "bytes": path.stat().st_size, "parity_max_abs": max(diffs),
         "size": a.size})
    net.to(device)


if __name__ == "__main__":
    main()

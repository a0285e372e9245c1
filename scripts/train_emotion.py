#!/usr/bin/env python3
"""Train the emotion CNN on FER2013 (Training split; PublicTest for model selection).

CPU (channels_last; bf16 autocast where the CPU has native bf16) or CUDA, chosen automatically. Augmentation runs
batched on the device (fer_overlay.training.augment). Weights are averaged (EMA) and the
EMA model is the one evaluated and kept. Optional distillation from teacher checkpoints.

    python scripts/train_emotion.py --out runs/student            # ~60 epochs on a 2-core CPU
    python scripts/train_emotion.py --out runs/student --resume   # continue after a stop
    python scripts/train_emotion.py --arch teacher --out runs/t1 --epochs 100
    python scripts/train_emotion.py --out runs/kd --teacher runs/t1/best.pt
    python scripts/train_emotion.py --out runs/soft --soft-labels 0.5 --extra runs/data/faces_extra_48.npz
    python scripts/train_emotion.py --out runs/cm --init models/emotion.pt --epochs 24 --lr 0.02 --cutmix 1.0

Every epoch's checkpoint (last.pt) holds the weights, EMA, optimiser, schedule and every
random generator's state, so a run stopped anywhere (`--stop-after N`, Ctrl+C, the end of
a session) continues with `--resume` exactly as if it had not stopped. Each epoch is
scored on PublicTest twice: FER2013's labels (which choose best.pt) and FER+'s plurality.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_overlay.training.augment import AugmentConfig, augment, random_crop, ten_crops
from fer_overlay.training.data import LABELS, Split, concat, load_extra, load_split, normalise, to_unit
from fer_overlay.training.device import Amp, autocast, autocast_dtype, describe, pick_device
from fer_overlay.training.net import ARCHS, EmotionNet, build
from fer_overlay.training.targets import blend_targets, cutmix, mixup, soft_cross_entropy

log = logging.getLogger("train_emotion")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints and metrics.jsonl")
    p.add_argument("--arch", choices=sorted(ARCHS), default="student")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak SGD learning rate (one-cycle)")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--teacher", type=Path, action="append", default=[], help="best.pt of a teacher (repeatable)")
    p.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation term")
    p.add_argument("--kd-temperature", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--amp", choices=[a.value for a in Amp], default=Amp.AUTO.value,
                   help="auto: bf16 autocast on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX), else fp32")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", type=Path, help="start from this checkpoint's weights (best.pt), e.g. to fine-tune")
    p.add_argument("--aug-strength", type=float, default=1.0, help="scale the augmentation (0.5 = milder)")
    p.add_argument("--pct-start", type=float, default=0.15, help="share of the schedule spent warming up")
    p.add_argument(
        "--soft-labels", type=float, default=0.0, metavar="W",
        help="weight of the FER+ vote distribution in the target (0: FER2013 labels only, 1: FER+ votes only)",
    )
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA", help="mixup with Beta(ALPHA, ALPHA); 0 = off")
    p.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                   help="cutmix with a Beta(ALPHA, ALPHA) box; 0 = off; with --mixup too, a mixed batch takes either")
    p.add_argument("--mixup-p", type=float, default=0.5, help="share of batches that are mixed (mixup or cutmix)")
    p.add_argument("--crop", type=int, default=0, metavar="PX",
                   help="train on random PX x PX crops of the augmented 48-px faces (e.g. 44); the summary adds"
                   " ten-crop test-time averaging; 0 = whole faces")
    p.add_argument("--extra", type=Path, help="npz of extra 48x48 faces (scripts/prepare_faces_extra.py)")
    p.add_argument("--extra-per-epoch", type=int, default=2000, help="extra faces drawn into each epoch")
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop after this epoch (to --resume later); 0 = run to the end")
    p.add_argument(
        "--compile", action="store_true",
        help="torch.compile the training step's networks (fuses batch norm and activations: 10-25%% faster"
        " on the 2-core CPU after a one-minute compile; the last partial batch of each epoch is dropped)",
    )
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if not 0 <= args.soft_labels <= 1:
        p.error("--soft-labels must be in [0, 1]")
    if not 0 <= args.mixup <= 1 or not 0 <= args.cutmix <= 1 or not 0 <= args.mixup_p <= 1:
        p.error("--mixup and --cutmix must be in [0, 1] (0 = off) and --mixup-p in [0, 1]")
    if args.crop and not 16 <= args.crop <= 48:
        p.error("--crop must be 0 (off) or in [16, 48]")
    if args.extra_per_epoch < 0 or args.stop_after < 0:
        p.error("--extra-per-epoch and --stop-after must be >= 0")
    return args


class Ema:
    """Exponential moving average of parameters; buffers (BN statistics) are copied."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        # Warm-up so early epochs are not dominated by the random init.
        d = min(self.decay, (1 + step) / (10 + step))
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1 - d)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


def load_teachers(paths: list[Path], device: torch.device) -> list[EmotionNet]:
    teachers = []
    for path in paths:
        ckpt = torch.load(path, map_location=device, weights_only=False)
        net = build(ckpt["arch"]).to(device).to(memory_format=torch.channels_last)
        net.load_state_dict(ckpt["model"])
        teachers.append(net.eval())
        log.info("teacher %s (%s), PublicTest %.4f", path, ckpt["arch"], ckpt.get("acc", float("nan")))
    return teachers


def flip_views(x: torch.Tensor) -> list[torch.Tensor]:
    return [x, torch.flip(x, dims=[3])]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, split: Split, device: torch.device, flip_tta: bool = False,
    dtype: torch.dtype | None = None, views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
) -> tuple[float, torch.Tensor]:
    """Accuracy and probabilities, averaged over `views` of each face (flip_tta: the face and its mirror)."""
    if views is None:
        views = flip_views if flip_tta else lambda x: [x]
    model.eval()
    probs = []
    for i in range(0, len(split), 512):
        x = normalise(to_unit(split.images[i : i + 512]))
        with autocast(device, dtype):
            p = [model(v.contiguous(memory_format=torch.channels_last)).float().softmax(-1) for v in views(x)]
        probs.append(torch.stack(p).mean(0))
    allp = torch.cat(probs)
    acc = (allp.argmax(1) == split.labels).float().mean().item()
    return acc, allp


def ferplus_accuracy(probs: torch.Tensor, split: Split) -> float:
    """Accuracy against FER+'s plurality, on the faces whose plurality is one of our classes."""
    if split.plurality is None or not bool((split.plurality >= 0).any()):
        return float("nan")
    has = split.plurality >= 0
    return (probs[has].argmax(1) == split.plurality[has]).float().mean().item()


def epoch_order(n_main: int, n_extra: int, extra_per_epoch: int, gen: torch.Generator,
                device: torch.device) -> torch.Tensor:
    """Every main face once plus a fresh draw of extra faces (indices after the main ones), shuffled."""
    picked = torch.arange(n_main, device=device)
    if extra_per_epoch:
        drawn = torch.randperm(n_extra, generator=gen, device=device)[:extra_per_epoch] + n_main
        picked = torch.cat([picked, drawn])
    return picked[torch.randperm(len(picked), generator=gen, device=device)]


def mix_batch(
    x: torch.Tensor, target: torch.Tensor, mixup_alpha: float, cutmix_alpha: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or cutmix for one batch; with both on, a coin from `gen` picks (as timm switches)."""
    use_cutmix = cutmix_alpha > 0 and (
        mixup_alpha <= 0 or torch.rand((), generator=gen, device=gen.device).item() < 0.5
    )
    if use_cutmix:
        return cutmix(x, target, cutmix_alpha, gen)
    return mixup(x, target, mixup_alpha, gen)


def train(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    dtype = autocast_dtype(device, Amp(args.amp))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    train_split = load_split(args.data_dir / "fer2013_Training.npz", device, drop_not_faces=True)
    if args.limit:
        train_split = train_split.subset(slice(0, args.limit))
    n_fer = len(train_split)
    n_extra_epoch = 0
    if args.extra:
        extra = load_extra(args.extra, device)
        n_extra_epoch = min(args.extra_per_epoch, len(extra))
        train_split = concat(train_split, extra)
        log.info("extra faces: %d from %s, %d drawn per epoch", len(extra), args.extra, n_extra_epoch)
    val_split = load_split(args.data_dir / "fer2013_PublicTest.npz", device)
    log.info("device %s, arch %s, %d train / %d val images", describe(device, dtype), args.arch, n_fer, len(val_split))

    model = build(args.arch).to(device).to(memory_format=torch.channels_last)
    if args.init:
        init = torch.load(args.init, map_location=device, weights_only=False)
        # Archs that differ only in strides share weight shapes (student -> student-s1),
        # so the weights decide, not the arch name.
        try:
            model.load_state_dict(init["model"])
        except RuntimeError as e:
            raise SystemExit(f"--init {args.init} ({init.get('arch')}) does not fit --arch {args.arch}: {e}") from None
        log.info(
            "initialised from %s (%s, PublicTest %.4f)", args.init, init.get("arch"), init.get("acc", float("nan"))
        )
    ema = Ema(model, args.ema_decay)
    # One list of batch starts drives both the loop and the schedule, so they cannot
    # disagree. A batch of one breaks batch norm; --compile keeps one batch shape (one
    # compilation) by also dropping the last partial batch.
    min_batch = args.batch_size if args.compile else 2
    epoch_size = n_fer + n_extra_epoch
    starts = [i for i in range(0, epoch_size, args.batch_size) if epoch_size - i >= min_batch]
    steps_per_epoch = len(starts)
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, momentum=0.9, nesterov=True,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch, pct_start=args.pct_start
    )
    teachers = load_teachers(args.teacher, device)
    # The compiled wrappers share the modules' parameters: checkpoints, EMA and evaluation
    # keep using the plain modules. One batch shape means one compilation.
    step_model = torch.compile(model) if args.compile else model
    step_teachers = [torch.compile(t) for t in teachers] if args.compile else teachers
    gen = torch.Generator(device=device).manual_seed(args.seed)
    aug_cfg = AugmentConfig().scaled(args.aug_strength)
    start_epoch, best_acc = 0, 0.0
    last_path, best_path = args.out / "last.pt", args.out / "best.pt"
    if args.resume and last_path.is_file():
        state = torch.load(last_path, map_location=device, weights_only=False)
        if state.get("epochs", args.epochs) != args.epochs or state.get("arch", args.arch) != args.arch:
            raise SystemExit(
                f"--resume: {last_path} was started with --arch {state.get('arch')} --epochs {state.get('epochs')};"
                " pass the same values (the learning-rate schedule depends on them)"
            )
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"].cpu())
        # Dropout draws from torch's global generator: without it a resume is not exact.
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
        start_epoch, best_acc = state["epoch"] + 1, state["best_acc"]
        log.info("resumed at epoch %d (best %.4f)", start_epoch + 1, best_acc)
    elif args.resume:
        log.warning("--resume: %s not found, starting fresh", last_path)

    metrics_file = (args.out / "metrics.jsonl").open("a")
    for epoch in range(start_epoch, args.epochs):
        model.train()
        t0 = time.perf_counter()
        order = epoch_order(n_fer, len(train_split) - n_fer, n_extra_epoch, gen, device)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in starts:
            idx = order[i : i + args.batch_size]
            y = train_split.labels[idx]
            target = blend_targets(y, train_split.soft[idx], args.soft_labels, args.label_smoothing)
            x = augment(to_unit(train_split.images[idx]), aug_cfg, gen)
            if args.crop:
                x = random_crop(x, args.crop, gen)
            if (args.mixup or args.cutmix) and torch.rand((), generator=gen, device=device).item() < args.mixup_p:
                x, target = mix_batch(x, target, args.mixup, args.cutmix, gen)
            x = normalise(x).contiguous(memory_format=torch.channels_last)
            with autocast(device, dtype):
                logits = step_model(x)
                loss = soft_cross_entropy(logits, target)
                if teachers:
                    with torch.no_grad():
                        t = args.kd_temperature
                        soft = torch.stack([tm(x).float().div(t).softmax(-1) for tm in step_teachers]).mean(0)
                    kd = F.kl_div(F.log_softmax(logits.float() / t, -1), soft, reduction="batchmean") * t * t
                    loss = (1 - args.kd_alpha) * loss + args.kd_alpha * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema.update(model, epoch * steps_per_epoch + i // args.batch_size)
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        val_acc, val_probs = evaluate(ema.model, val_split, device, dtype=dtype)
        elapsed = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1, "loss": loss_sum / seen, "train_acc": correct / seen,
            "val_acc": val_acc, "val_ferplus_acc": ferplus_accuracy(val_probs, val_split),
            "lr": sched.get_last_lr()[0], "seconds": elapsed,
        }
        metrics_file.write(json.dumps(row) + "\n")
        metrics_file.flush()
        log.info(
            "epoch %3d/%d  loss %.4f  train %.4f  val(ema) %.4f  FER+ %.4f  %.1fs",
            epoch + 1, args.epochs, row["loss"], row["train_acc"], val_acc, row["val_ferplus_acc"], elapsed,
        )
        if val_acc > best_acc:
            best_acc = val_acc
            snapshot = {"arch": args.arch, "model": ema.model.state_dict(), "acc": val_acc, "epoch": epoch + 1}
            torch.save(snapshot, best_path)
        torch.save(
            {
                "model": model.state_dict(), "ema": ema.model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "gen": gen.get_state(), "torch_rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state()} if device.type == "cuda" else {}),
                "epoch": epoch, "best_acc": best_acc, "epochs": args.epochs, "arch": args.arch,
            },
            last_path.with_suffix(".tmp"),
        )
        # A stop mid-write must not leave a truncated last.pt that --resume cannot read.
        last_path.with_suffix(".tmp").replace(last_path)
        if args.stop_after and epoch + 1 >= args.stop_after and epoch + 1 < args.epochs:
            log.info("stopping after epoch %d as asked; continue with --resume", epoch + 1)
            metrics_file.close()
            return {"arch": args.arch, "stopped_after": epoch + 1, "best_val_acc": best_acc}
    metrics_file.close()

    best = build(args.arch).to(device).to(memory_format=torch.channels_last)
    best.load_state_dict(torch.load(best_path, map_location=device, weights_only=False)["model"])
    acc, probs = evaluate(best, val_split, device, dtype=dtype)
    acc_tta, _ = evaluate(best, val_split, device, flip_tta=True, dtype=dtype)
    summary = {
        "arch": args.arch, "best_val_acc": acc, "best_val_acc_flip_tta": acc_tta,
        "best_val_ferplus_acc": ferplus_accuracy(probs, val_split), "labels": LABELS,
        "precision": "bf16" if dtype is torch.bfloat16 else "fp32",
    }
    if args.crop:
        summary["crop"] = args.crop
        summary["best_val_acc_ten_crop"], _ = evaluate(
            best, val_split, device, dtype=dtype, views=lambda x: ten_crops(x, args.crop)
        )
        log.info("ten-crop (%d px) PublicTest %.4f", args.crop, summary["best_val_acc_ten_crop"])
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("best PublicTest %.4f (flip TTA %.4f) -> %s", acc, acc_tta, best_path)
    return summary


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

r"""Train the DeepHAR pose network on MPII (or generated data) with the paper's recipe.

Recipe (deephar_spec.md §2): every prediction block is supervised with the same loss, weight 1:
elastic net (|e| + e^2) plus 0.01 x BCE on the [0, 1] coordinates, averaged over the valid
coordinate entries (target > 0; invalid joints are masked before any arithmetic), plus 0.01 x
BCE on the joint probability against "inside the crop". RMSprop (alpha 0.9, eps 1e-7, lr 1e-3),
lr x 0.2 at epochs 80 and 100, 120 epochs, batch 24, augmentation of §3.2.

Checkpoints (``last.pt`` every epoch, ``best.pt`` on the best PCKh) are dicts with ``kind``
"pose", ``model_name``, ``model_kwargs``, ``state_dict``, ``config`` (the resolved
``PoseTrainConfig``), optimizer/scheduler state, ``epoch`` and ``metrics``; ``--resume``
continues from ``last.pt``. Logs: ``metrics.jsonl`` always, TensorBoard events too when the
``tensorboard`` package is importable.

Multi-GPU / multi-node: launch with ``torchrun --nproc_per_node N -m training.train_pose ...``
(DistributedDataParallel; NCCL on CUDA, gloo on CPU). AMP (bfloat16 autocast) only on CUDA.

Every field of ``PoseTrainConfig`` can be set with ``--set key=value`` (``--help`` lists them);
the other flags are shorthands for it (``training.config``). The loop is
``training.engine.train_one_epoch``; the model's initialization comes from a generator seeded
with ``seed`` (identical on every DDP rank).

Examples:
    Overfit the five real MPII samples of mmpose's test data (CPU, a few minutes)::

        python -m training.train_pose --model deephar_small \
            --annotations /work/shared/data/mmpose_testdata/mpii/test_mpii.json \
            --images /work/shared/data/mmpose_testdata/mpii --no-augment --batch-size 5 \
            --epochs 40 --lr-drops 30 --eval-every 10 --bn-recalibration 5 --threads 1 \
            --out runs/overfit_mpii5

    Full MPII (authors' annotations.mat, images folder)::

        torchrun --nproc_per_node 8 -m training.train_pose --model deephar_mpii \
            --annotations datasets/MPII/annotations.mat --images datasets/MPII/images
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from engine.checkpoint import Checkpoint, load, save
from training.config import add_set_argument, add_shorthand, from_args
from training.engine import (
    MetricsLog,
    Step,
    build_model,
    collect,
    pick_device,
    torch_settings,
    train_one_epoch,
)
from training.metrics import pckh
from training.transforms import predictions_to_image

BCE_CLIP = 1e-7


@dataclass
class PoseTrainConfig:
    """Everything a pose training run depends on; saved into every checkpoint.

    Attributes:
        model_name: registered DeepHAR pose variant.
        model_kwargs: keyword overrides of the variant.
        annotations: MPII ``annotations.mat`` or a JSON annotation file.
        images: folder of the MPII images.
        val_annotations: separate validation annotations ("": the ``.mat``'s validation split,
            or the training file itself for JSON).
        synthetic_samples: train on this many generated blob images instead (0: MPII).
        epochs: training epochs.
        batch_size: global batch, split across DDP ranks.
        steps_per_epoch: optimizer steps per epoch (0: training samples // batch size).
        lr: RMSprop learning rate.
        lr_drop_epochs: epochs after which the learning rate is multiplied by
            ``lr_drop_factor``.
        lr_drop_factor: the factor.
        rmsprop_alpha: RMSprop smoothing (Keras rho).
        rmsprop_eps: RMSprop epsilon.
        coord_bce_weight: weight of the BCE term on the coordinates.
        visibility_weight: weight of the joint-visibility BCE.
        augment: training augmentation of deephar_spec.md §3.2.
        seed: seed of the initialization, the batch order and the augmentation.
        num_workers: DataLoader workers.
        eval_every: epochs between PCKh evaluations (0: never; the last epoch always).
        bn_recalibration_batches: batches re-estimating the BatchNorm statistics before each
            evaluation.
        amp: bfloat16 autocast on CUDA.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        threads: torch CPU threads (0: torch's default).
        out_dir: run folder (checkpoints and logs).
        resume: continue from ``out_dir/last.pt``.
    """

    model_name: str = "deephar_mpii"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    annotations: str = ""
    images: str = ""
    val_annotations: str = ""
    synthetic_samples: int = 0
    epochs: int = 120
    batch_size: int = 24
    steps_per_epoch: int = 0
    lr: float = 1e-3
    lr_drop_epochs: tuple[int, ...] = (80, 100)
    lr_drop_factor: float = 0.2
    rmsprop_alpha: float = 0.9
    rmsprop_eps: float = 1e-7
    coord_bce_weight: float = 0.01
    visibility_weight: float = 0.01
    augment: bool = True
    seed: int = 0
    num_workers: int = 0
    eval_every: int = 1
    bn_recalibration_batches: int = 20
    amp: bool = True
    device: str = "auto"
    threads: int = 0
    out_dir: str = "runs/pose"
    resume: bool = False


def _bce(target: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """Element-wise binary cross-entropy with Keras' clipping of the probability."""
    prob = prob.clamp(BCE_CLIP, 1.0 - BCE_CLIP)
    return -(target * torch.log(prob) + (1.0 - target) * torch.log(1.0 - prob))


def pose_loss(
    poses: torch.Tensor,
    target_coords: torch.Tensor,
    target_visible: torch.Tensor,
    *,
    coord_bce_weight: float = 0.01,
    visibility_weight: float = 0.01,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The paper's loss summed over blocks (each block weight 1).

    Args:
        poses: (B, K, J, 3) per-block x, y in [0, 1] and joint probability.
        target_coords: (B, J, 2) targets in [0, 1]; invalid entries hold -1e9 (or anything
            <= 0) and are masked before any arithmetic.
        target_visible: (B, J) 1 where the joint is inside the crop.
        coord_bce_weight: weight of the BCE term on coordinates.
        visibility_weight: weight of the visibility BCE.

    Returns:
        (loss scalar, {"coord": ..., "visibility": ...} floats for logging).
    """
    poses = poses.float()
    mask = (target_coords > 0).unsqueeze(1).expand_as(poses[..., :2])
    # Invalid targets are -1e9: replace before subtracting so nothing overflows or turns NaN.
    safe_target = torch.where(target_coords > 0, target_coords, torch.zeros_like(target_coords))
    pred = poses[..., :2]
    error = pred - safe_target.unsqueeze(1)
    per_entry = error.abs() + error.square() + coord_bce_weight * _bce(
        safe_target.unsqueeze(1).expand_as(pred), pred
    )
    per_entry = torch.where(mask, per_entry, torch.zeros_like(per_entry))
    valid_per_block = mask[:, 0].sum().clamp(min=1)
    coord = per_entry.sum() / valid_per_block  # sum over blocks of per-block means
    visible = target_visible.unsqueeze(1).expand_as(poses[..., 2])
    vis = visibility_weight * _bce(visible, poses[..., 2]).mean(dim=(0, 2)).sum()
    return coord + vis, {"coord": float(coord.detach()), "visibility": float(vis.detach())}


def build_datasets(config: PoseTrainConfig, input_size: int) -> tuple[Dataset, Dataset]:
    """Training and evaluation datasets from the config (MPII files or generated blobs)."""
    if config.synthetic_samples:
        from training.datasets.blobs import BlobPoseDataset

        data = BlobPoseDataset(config.synthetic_samples, input_size=input_size, seed=config.seed)
        return data, data
    from training.datasets.mpii import MPIIDataset, load_mpii

    if not config.annotations or not config.images:
        raise SystemExit("error: give --annotations and --images (or --synthetic N)")
    train_records = load_mpii(config.annotations, "train")
    if config.val_annotations:
        val_records = load_mpii(config.val_annotations, "val")
    elif Path(config.annotations).suffix.lower() == ".mat":
        val_records = load_mpii(config.annotations, "val")
    else:
        val_records = train_records  # a JSON file has one split: evaluate on it (overfit runs)
    cache = len(train_records) <= 64
    train = MPIIDataset(
        train_records, config.images, input_size=input_size, augment=config.augment,
        seed=config.seed, cache_images=cache,
    )
    val = MPIIDataset(val_records, config.images, input_size=input_size, cache_images=cache)
    return train, val


def _image_predictions(
    model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, input_size: int
) -> dict[str, np.ndarray]:
    """Per-block predictions in image pixels, targets, validity and head sizes of a batch."""
    poses = model(batch["image"].to(device)).float().cpu().numpy()
    matrices, flips = batch["matrix"].numpy(), batch["flip"].numpy()
    if bool(flips.any()):
        raise ValueError("evaluation crops must not be flipped")
    keypoints = batch["keypoints"].numpy()
    # Valid = annotated and inside the evaluation crop (deephar_spec.md §3.5).
    inside = batch["visible"].numpy() > 0
    return {
        "predictions": np.stack([
            predictions_to_image(poses[i, :, :, :2], matrices[i], input_size, bool(flips[i]))
            for i in range(len(poses))
        ]),  # (B, K, J, 2)
        "targets": keypoints[..., :2],
        "valid": (keypoints[..., 2] > 0) & inside,
        "head_size": batch["head_size"].numpy(),
    }


def evaluate(
    model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 16
) -> dict[str, float]:
    """Standard PCKh@0.5 (pooled, image pixels) of the last block and of the best block."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    forward = functools.partial(
        _image_predictions, device=device, input_size=dataset_input_size(dataset)
    )
    out = collect(model, loader, forward)
    predictions, gt, ok, hs = out["predictions"], out["targets"], out["valid"], out["head_size"]
    scores = [pckh(predictions[:, k], gt, ok, hs) for k in range(predictions.shape[1])]
    return {
        "pckh": scores[-1],
        "pckh_best_block": float(np.nanmax(scores)),
        "best_block": int(np.nanargmax(scores)) + 1,
    }


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, loader: DataLoader, num_batches: int, device: torch.device
) -> None:
    """Re-estimates BatchNorm running statistics as plain averages over ``num_batches``.

    Keras' BN momentum 0.99 needs thousands of steps before the running statistics match the
    weights; evaluating earlier (short or overfit runs) would score a network that does not
    exist. This "precise BN" pass leaves the weights alone and only refreshes the statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or num_batches <= 0:
        return
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average
    model.train()
    for _, batch in zip(range(num_batches), _batches_forever(loader), strict=False):
        model(batch["image"].to(device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def dataset_input_size(dataset: Dataset) -> int:
    """The crop side a dataset produces."""
    return int(dataset.input_size)  # type: ignore[attr-defined]




def _batches_forever(loader: DataLoader) -> Iterator[dict[str, torch.Tensor]]:
    while True:
        yield from loader


def _pose_step(
    net: nn.Module, batch: dict[str, torch.Tensor], config: PoseTrainConfig,
    device: torch.device, use_amp: bool,
) -> Step:
    images = batch["image"].to(device, non_blocking=True)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()
    )
    with autocast:
        poses = net(images)
    loss, parts = pose_loss(
        poses,
        batch["coords"].to(device),
        batch["visible"].to(device),
        coord_bce_weight=config.coord_bce_weight,
        visibility_weight=config.visibility_weight,
    )
    return Step(loss, parts=parts)


def _setup_distributed(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size()


def train(
    config: PoseTrainConfig,
    train_dataset: Dataset | None = None,
    eval_dataset: Dataset | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) a training run and returns the final metrics.

    Datasets default to those described by ``config``; pass them to train on anything with
    ``MPIIDataset``-style items. Runs with ``config.threads`` torch threads (restored after).
    """
    with torch_settings(threads=config.threads):
        return _train(config, train_dataset, eval_dataset)


def _train(
    config: PoseTrainConfig, train_dataset: Dataset | None, eval_dataset: Dataset | None
) -> dict[str, Any]:
    device = pick_device(config.device)
    rank, world = _setup_distributed(device)
    model = build_model(config.model_name, config.model_kwargs,
                        torch.Generator().manual_seed(config.seed)).to(device)
    if train_dataset is None or eval_dataset is None:
        built = build_datasets(config, model.input_size)
        train_dataset = train_dataset or built[0]
        eval_dataset = eval_dataset or built[1]
    out_dir = Path(config.out_dir)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.lr, alpha=config.rmsprop_alpha, eps=config.rmsprop_eps
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(config.lr_drop_epochs), gamma=config.lr_drop_factor
    )
    start_epoch, best = 0, -1.0
    last_path = out_dir / "last.pt"
    if config.resume and last_path.is_file():
        state = load(last_path, "pose", map_location=device)
        model.load_state_dict(state.state_dict)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        start_epoch, best = state.epoch or 0, state.best_pckh or -1.0
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    sampler = (
        DistributedSampler(train_dataset, world, rank, shuffle=True, seed=config.seed)
        if world > 1 else None
    )
    generator = torch.Generator().manual_seed(config.seed)
    per_rank_batch = max(1, config.batch_size // world)
    loader = DataLoader(
        train_dataset,
        batch_size=per_rank_batch,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator if sampler is None else None,
        num_workers=config.num_workers,
        drop_last=len(train_dataset) >= per_rank_batch * world,
        persistent_workers=config.num_workers > 0,
    )
    steps = config.steps_per_epoch or max(1, len(train_dataset) // config.batch_size)
    use_amp = config.amp and device.type == "cuda"
    loss_fn = functools.partial(_pose_step, config=config, device=device, use_amp=use_amp)
    if rank == 0 and start_epoch == 0:
        (out_dir / "metrics.jsonl").unlink(missing_ok=True)  # a fresh run starts a fresh log
    log = MetricsLog(out_dir) if rank == 0 else None
    if rank == 0:
        print(
            f"training {config.model_name} on {device} with {world} process(es), "
            f"{len(train_dataset)} training samples, epochs {start_epoch + 1}..{config.epochs}",
            flush=True,
        )
    metrics: dict[str, Any] = {}
    for epoch in range(start_epoch, config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(epoch)
        started = time.perf_counter()
        batches = itertools.islice(_batches_forever(loader), steps)
        metrics = train_one_epoch(net, batches, loss_fn, optimizer)
        scheduler.step()
        metrics.update(epoch=epoch + 1, lr=optimizer.param_groups[0]["lr"],
                       seconds=time.perf_counter() - started)
        last_epoch = epoch + 1 == config.epochs
        evaluate_now = config.eval_every and ((epoch + 1) % config.eval_every == 0 or last_epoch)
        if evaluate_now:
            # Every rank refreshes its (identical, DDP-synchronised) model's statistics.
            recalibrate_batchnorm(model, loader, config.bn_recalibration_batches, device)
        if rank == 0 and evaluate_now:
            metrics.update(evaluate(model, eval_dataset, device))
        if rank == 0:
            assert log is not None
            log.log(epoch + 1, metrics)
            shown = ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
            )
            print(f"epoch {epoch + 1}/{config.epochs}: {shown}", flush=True)
            improved = metrics.get("pckh", -1.0) > best
            best = max(best, float(metrics.get("pckh", -1.0)))
            checkpoint = Checkpoint(
                kind="pose",
                model_name=config.model_name,
                model_kwargs=config.model_kwargs,
                state_dict=model.state_dict(),
                config=dataclasses.asdict(config),
                metrics=metrics,
                input_size=model.input_size,
                epoch=epoch + 1,
                best_pckh=best,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
            )
            save(checkpoint, last_path)
            if improved:
                save(checkpoint, out_dir / "best.pt")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return metrics


def parse_args(argv: list[str] | None = None) -> PoseTrainConfig:
    """Command line -> ``PoseTrainConfig``."""
    parser = argparse.ArgumentParser(
        prog="python -m training.train_pose",
        description="Train the DeepHAR pose network (paper recipe). Use torchrun for DDP.",
    )
    shorthand = functools.partial(add_shorthand, parser, config_class=PoseTrainConfig)
    shorthand("--model", key="model_name", metavar="NAME", help="registered variant")
    shorthand("--model-kwargs", key="model_kwargs", metavar="JSON",
              help="JSON overrides of the variant")
    shorthand("--annotations", key="annotations", metavar="FILE",
              help="MPII annotations.mat or JSON")
    shorthand("--images", key="images", metavar="DIR", help="folder of the MPII images")
    shorthand("--val-annotations", key="val_annotations", metavar="FILE",
              help="separate validation file")
    shorthand("--synthetic", key="synthetic_samples", metavar="N",
              help="train on N generated images")
    shorthand("--epochs", key="epochs", metavar="N", help="training epochs")
    shorthand("--batch-size", key="batch_size", metavar="N",
              help="global batch (split across DDP ranks)")
    shorthand("--steps-per-epoch", key="steps_per_epoch", metavar="N",
              help="0: N_train // batch")
    shorthand("--lr", key="lr", metavar="LR", help="RMSprop learning rate")
    shorthand("--lr-drops", key="lr_drop_epochs", nargs="*", metavar="EPOCH",
              help="epochs where lr is multiplied by --lr-drop-factor")
    shorthand("--lr-drop-factor", key="lr_drop_factor", metavar="F", help="lr drop factor")
    shorthand("--no-augment", key="augment", switch=False, help="no augmentation")
    shorthand("--seed", key="seed", metavar="N", help="seed")
    shorthand("--workers", key="num_workers", metavar="N", help="DataLoader workers")
    shorthand("--eval-every", key="eval_every", metavar="N", help="epochs between PCKh runs")
    shorthand("--bn-recalibration", key="bn_recalibration_batches", metavar="N",
              help="batches to re-estimate BN statistics before each evaluation")
    shorthand("--no-amp", key="amp", switch=False, help="disable bf16 autocast on CUDA")
    shorthand("--device", key="device", metavar="DEVICE", help="auto, cpu, cuda, cuda:1, ...")
    shorthand("--threads", key="threads", metavar="N", help="torch CPU threads (0: default)")
    shorthand("--out", key="out_dir", metavar="DIR", help="run folder")
    shorthand("--resume", key="resume", switch=True, help="continue from OUT/last.pt")
    add_set_argument(parser, PoseTrainConfig)
    return from_args(PoseTrainConfig(), parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; errors are one line and a non-zero exit."""
    config = parse_args(argv)
    from training.datasets.mpii import MPIIFormatError

    try:
        metrics = train(config)
    except (MPIIFormatError, KeyError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch is in last.pt (use --resume)", file=sys.stderr)
        return 130
    print(json.dumps({k: v for k, v in metrics.items()}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

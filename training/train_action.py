r"""Train DeepHAR action recognition on Penn Action, on top of the pose network.

The model is ``engine.models.deephar.DeepHARAction``: the DeepHAR pose network per frame
(initialized from a ``train_pose`` checkpoint with ``--pose-weights``, frozen unless
``--finetune-pose``), then the pose and appearance streams. Every output (each action block of
both streams and the aggregated one) gets categorical cross-entropy with weight 1; the optimizer
is the authors' ``action.compile()`` default, SGD with Nesterov momentum 0.95 and lr 1e-3.

Each epoch prints the validation accuracy: per clip, and per video by multiplying the clip
probabilities over all evaluation clips of a video (deephar_spec.md §4.1; without the flipped
copies and with ground-truth boxes, so it is the "single-crop, GT box" figure, not the paper's
98.6 % protocol).

Every field of ``ActionTrainConfig`` can be set with ``--set key=value`` (``--help`` lists
them); the other flags are shorthands for it (``training.config``). The loop is
``training.engine.train_one_epoch``.

Example::

    python -m training.train_action --penn datasets/PennAction \
        --pose-weights runs/pose_penn/best.pt --epochs 30 --out runs/action_penn
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import DataLoader

from engine.checkpoint import Checkpoint, load, save
from training.config import add_set_argument, add_shorthand, from_args
from training.datasets.penn import PennClipDataset, PennFormatError, load_penn_split
from training.engine import (
    MetricsLog,
    Step,
    build_model,
    collect,
    pick_device,
    torch_settings,
    train_one_epoch,
)


@dataclass
class ActionTrainConfig:
    """Everything an action training run depends on; saved into every checkpoint.

    Attributes:
        model_name: registered action variant.
        model_kwargs: keyword overrides of the variant.
        penn_root: Penn Action root (``labels/``, ``frames/``).
        pose_weights: ``train_pose`` checkpoint to initialize the pose network from.
        finetune_pose: train the pose network too (else it stays frozen).
        clip_length: frames per clip.
        epochs: training epochs.
        batch_size: clips per step.
        lr: SGD learning rate.
        momentum: SGD Nesterov momentum.
        seed: seed of the initialization, the clip sampling and the batch order.
        num_workers: DataLoader workers.
        device: "auto", "cpu", "cuda", ...
        threads: torch CPU threads (0: torch's default).
        out_dir: run folder (checkpoints and logs).
    """

    model_name: str = "deephar_action_penn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    penn_root: str = ""
    pose_weights: str = ""
    finetune_pose: bool = False
    clip_length: int = 16
    epochs: int = 30
    batch_size: int = 2
    lr: float = 1e-3
    momentum: float = 0.95
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    threads: int = 0
    out_dir: str = "runs/action"


def _load_pose_weights(model: torch.nn.Module, path: str) -> None:
    # A CheckpointError is a ValueError: main reports it as one line.
    model.pose.load_state_dict(load(path, "pose").state_dict)  # type: ignore[union-attr]


def _clip_log_probs(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device
) -> dict[str, torch.Tensor]:
    logits, _ = model(batch["images"].to(device))
    return {"log_probs": F.log_softmax(logits.float(), dim=-1).cpu(), "label": batch["label"],
            "video": batch["video"]}


def _action_step(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device
) -> Step:
    """Categorical cross-entropy, weight 1, on every block's output and the aggregated one."""
    labels = batch["label"].to(device)
    logits, block_logits = model(batch["images"].to(device))
    outputs = torch.cat([block_logits, logits.unsqueeze(1)], dim=1)
    loss = F.cross_entropy(
        outputs.flatten(0, 1), labels.repeat_interleave(outputs.shape[1])
    ) * outputs.shape[1]
    return Step(loss)


def evaluate_action(
    model: torch.nn.Module, dataset: PennClipDataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Clip accuracy and video accuracy (product of clip probabilities per video)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    out = collect(model, loader, functools.partial(_clip_log_probs, device=device))
    lp, y, v = out["log_probs"], out["label"], out["video"]
    clip_accuracy = float((lp.argmax(-1) == y).float().mean())
    correct = []
    for video in torch.unique(v):
        rows = v == video
        correct.append(int(lp[rows].sum(0).argmax()) == int(y[rows][0]))
    return {"clip_accuracy": clip_accuracy, "video_accuracy": float(np.mean(correct))}


def train_action(config: ActionTrainConfig) -> dict[str, Any]:
    """Runs a training; returns the last epoch's metrics.

    Runs with ``config.threads`` torch threads (restored after).
    """
    with torch_settings(threads=config.threads):
        return _train_action(config)


def _train_action(config: ActionTrainConfig) -> dict[str, Any]:
    device = pick_device(config.device)
    kwargs = {"freeze_pose": not config.finetune_pose, **config.model_kwargs}
    model = build_model(config.model_name, kwargs,
                        torch.Generator().manual_seed(config.seed)).to(device)
    if config.pose_weights:
        _load_pose_weights(model, config.pose_weights)
    train_videos = load_penn_split(config.penn_root, "train")
    test_videos = load_penn_split(config.penn_root, "test")
    if not train_videos or not test_videos:
        raise PennFormatError(f"{config.penn_root}: need videos in both the train and test split")
    frames = Path(config.penn_root) / "frames"
    size = int(model.input_size)
    train_set = PennClipDataset(train_videos, frames_root=frames, train=True, input_size=size,
                                clip_length=config.clip_length, seed=config.seed)
    test_set = PennClipDataset(test_videos, frames_root=frames, input_size=size,
                               clip_length=config.clip_length)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed),
                        num_workers=config.num_workers)
    params = [p for p in model.parameters() if p.requires_grad]
    if not config.finetune_pose:
        params = list(model.head.parameters())  # type: ignore[union-attr]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    log = MetricsLog(out_dir)
    metrics: dict[str, Any] = {}
    best = -1.0
    loss_fn = functools.partial(_action_step, device=device)
    for epoch in range(config.epochs):
        train_set.set_epoch(epoch)
        started = time.perf_counter()
        epoch_metrics = train_one_epoch(model, loader, loss_fn, optimizer)
        metrics = {"epoch": epoch + 1, "loss": epoch_metrics["loss"],
                   "seconds": time.perf_counter() - started}
        metrics.update(evaluate_action(model, test_set, device, config.batch_size))
        log.log(epoch + 1, metrics)
        print(
            f"epoch {epoch + 1}/{config.epochs}: loss {metrics['loss']:.4f}, validation "
            f"clip accuracy {metrics['clip_accuracy']:.3f}, video accuracy "
            f"{metrics['video_accuracy']:.3f}",
            flush=True,
        )
        checkpoint = Checkpoint(
            kind="action",
            model_name=config.model_name,
            model_kwargs=kwargs,
            state_dict=model.state_dict(),
            config=dataclasses.asdict(config),
            metrics=metrics,
            epoch=epoch + 1,
        )
        save(checkpoint, out_dir / "last.pt")
        if metrics["video_accuracy"] > best:
            best = metrics["video_accuracy"]
            save(checkpoint, out_dir / "best.pt")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; errors are one line and a non-zero exit."""
    parser = argparse.ArgumentParser(
        prog="python -m training.train_action",
        description="Train DeepHAR action recognition on Penn Action (labels/*.mat, frames/).",
    )
    shorthand = functools.partial(add_shorthand, parser, config_class=ActionTrainConfig)
    shorthand("--penn", key="penn_root", metavar="DIR",
              help="Penn Action root (labels/, frames/); required")
    shorthand("--model", key="model_name", metavar="NAME", help="registered variant")
    shorthand("--model-kwargs", key="model_kwargs", metavar="JSON",
              help="JSON overrides of the variant")
    shorthand("--pose-weights", key="pose_weights", metavar="FILE",
              help="train_pose checkpoint to start from")
    shorthand("--finetune-pose", key="finetune_pose", switch=True, help="train the pose net too")
    shorthand("--clip-length", key="clip_length", metavar="N", help="frames per clip")
    shorthand("--epochs", key="epochs", metavar="N", help="training epochs")
    shorthand("--batch-size", key="batch_size", metavar="N", help="clips per step")
    shorthand("--lr", key="lr", metavar="LR", help="SGD learning rate")
    shorthand("--seed", key="seed", metavar="N", help="seed")
    shorthand("--workers", key="num_workers", metavar="N", help="DataLoader workers")
    shorthand("--device", key="device", metavar="DEVICE", help="auto, cpu, cuda, ...")
    shorthand("--threads", key="threads", metavar="N", help="torch CPU threads (0: default)")
    shorthand("--out", key="out_dir", metavar="DIR", help="run folder")
    add_set_argument(parser, ActionTrainConfig)
    config = from_args(ActionTrainConfig(), parser.parse_args(argv))
    if not config.penn_root:
        parser.error("the following arguments are required: --penn")
    try:
        metrics = train_action(config)
    except (PennFormatError, ValueError, KeyError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())

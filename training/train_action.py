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

Example::

    python -m training.train_action --penn datasets/PennAction \
        --pose-weights runs/pose_penn/best.pt --epochs 30 --out runs/action_penn
"""

from __future__ import annotations

import argparse
import dataclasses
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
from engine.models import create_model
from training.datasets.penn import PennClipDataset, PennFormatError, load_penn_split
from training.train_pose import MetricsLog, pick_device


@dataclass
class ActionTrainConfig:
    """Everything an action training run depends on; saved into every checkpoint."""

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


@torch.no_grad()
def evaluate_action(
    model: torch.nn.Module, dataset: PennClipDataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Clip accuracy and video accuracy (product of clip probabilities per video)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    log_probs, labels, videos = [], [], []
    for batch in loader:
        logits, _ = model(batch["images"].to(device))
        log_probs.append(F.log_softmax(logits.float(), dim=-1).cpu())
        labels.append(batch["label"])
        videos.append(batch["video"])
    lp, y, v = torch.cat(log_probs), torch.cat(labels), torch.cat(videos)
    clip_accuracy = float((lp.argmax(-1) == y).float().mean())
    correct = []
    for video in torch.unique(v):
        rows = v == video
        correct.append(int(lp[rows].sum(0).argmax()) == int(y[rows][0]))
    return {"clip_accuracy": clip_accuracy, "video_accuracy": float(np.mean(correct))}


def train_action(config: ActionTrainConfig) -> dict[str, Any]:
    """Runs a training; returns the last epoch's metrics."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    kwargs = {"freeze_pose": not config.finetune_pose, **config.model_kwargs}
    model = create_model(config.model_name, **kwargs).to(device)
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
    for epoch in range(config.epochs):
        train_set.set_epoch(epoch)
        model.train()
        started, total, count = time.perf_counter(), 0.0, 0
        for batch in loader:
            labels = batch["label"].to(device)
            logits, block_logits = model(batch["images"].to(device))
            outputs = torch.cat([block_logits, logits.unsqueeze(1)], dim=1)
            loss = F.cross_entropy(
                outputs.flatten(0, 1), labels.repeat_interleave(outputs.shape[1])
            ) * outputs.shape[1]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()), count + 1
        metrics = {"epoch": epoch + 1, "loss": total / max(count, 1),
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
    defaults = ActionTrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m training.train_action",
        description="Train DeepHAR action recognition on Penn Action (labels/*.mat, frames/).",
    )
    parser.add_argument("--penn", required=True, help="Penn Action root (labels/, frames/)")
    parser.add_argument("--model", default=defaults.model_name)
    parser.add_argument("--model-kwargs", default="{}", help="JSON overrides of the variant")
    parser.add_argument("--pose-weights", default="", help="train_pose checkpoint to start from")
    parser.add_argument("--finetune-pose", action="store_true", help="train the pose net too")
    parser.add_argument("--clip-length", type=int, default=defaults.clip_length)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", default=defaults.out_dir)
    args = parser.parse_args(argv)
    try:
        config = ActionTrainConfig(
            model_name=args.model, model_kwargs=json.loads(args.model_kwargs),
            penn_root=args.penn, pose_weights=args.pose_weights,
            finetune_pose=args.finetune_pose, clip_length=args.clip_length, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, num_workers=args.workers,
            device=args.device, threads=args.threads, out_dir=args.out,
        )
        metrics = train_action(config)
    except (PennFormatError, ValueError, KeyError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())

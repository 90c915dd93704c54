"""The training loop shared by ``train_form``, ``train_pose`` and ``train_action``.

In the manner of torchvision's ``references/*/engine.py``: the applications build the model,
the data and the optimizer from their config and call ``train_one_epoch`` and ``evaluate``;
what differs between them (how a batch becomes a loss, how outputs become metrics) is a
function they pass in. Also here: building a model with its initialization drawn from a
passed generator, the torch settings of a run (threads, deterministic algorithms) as a
context that restores them, the device choice and the metrics log.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from engine.models import create_model

Batch = TypeVar("Batch")


@dataclass
class Step:
    """What the loss function of a training step returns.

    Attributes:
        loss: the scalar to minimize.
        weight: the step's weight in the epoch's mean (e.g. its number of samples; 1 averages
            over steps).
        parts: further scalars to average the same way (loss terms, for the log).
    """

    loss: torch.Tensor
    weight: float = 1.0
    parts: dict[str, float] = field(default_factory=dict)


def build_model(name: str, kwargs: Mapping[str, Any], generator: torch.Generator) -> nn.Module:
    """Builds a registered model whose random initialization is drawn from ``generator``.

    Every module keeps its own initialization scheme; the draws come from ``generator``
    (a CPU generator, advanced by them) instead of the global generator, which is left as it
    was. A generator seeded with ``s`` gives the weights ``torch.manual_seed(s)`` would.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.set_state(generator.get_state())
        model = create_model(name, **kwargs)
        generator.set_state(torch.default_generator.get_state())
    return model


@contextlib.contextmanager
def torch_settings(*, threads: int = 0, deterministic: bool = False) -> Iterator[None]:
    """Sets torch's CPU threads and deterministic-algorithms mode for a block, then restores them.

    Args:
        threads: torch CPU threads inside the block (0: leave as is).
        deterministic: ``torch.use_deterministic_algorithms(True)`` inside the block.
    """
    previous_threads = torch.get_num_threads()
    previous_mode = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_mode, warn_only=previous_warn)
        if torch.get_num_threads() != previous_threads:
            torch.set_num_threads(previous_threads)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    loss_fn: Callable[[nn.Module, Batch], Step],
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> dict[str, float]:
    """One pass over ``batches`` in training mode: loss, backward, optimizer step.

    Args:
        model: the network (put in training mode here); passed to ``loss_fn``.
        batches: the epoch's batches, drawn lazily (a generator may augment as it goes).
        loss_fn: ``(model, batch) -> Step``: runs the model and computes the loss.
        optimizer: stepped after every batch.
        scheduler: stepped after every batch too (per-epoch schedules: step them yourself).

    Returns:
        ``{"loss": ..., **parts}``: the ``Step.weight``-weighted means over the epoch.
    """
    model.train()
    totals: dict[str, float] = defaultdict(float)
    weight = 0.0
    for batch in batches:
        step = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        step.loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        totals["loss"] += float(step.loss.detach()) * step.weight
        for key, value in step.parts.items():
            totals[key] += value * step.weight
        weight += step.weight
    if not weight:
        return {"loss": 0.0}
    return {key: value / weight for key, value in totals.items()}


Outputs = dict[str, torch.Tensor | np.ndarray]


def collect(
    model: nn.Module,
    batches: Iterable[Batch],
    forward: Callable[[nn.Module, Batch], Mapping[str, torch.Tensor | np.ndarray]],
) -> Outputs:
    """Runs ``forward`` on every batch in eval mode without gradients; concatenates its outputs.

    Args:
        model: the network (put in eval mode here).
        batches: evaluation batches.
        forward: ``(model, batch) -> {name: (B, ...) tensor or array}``.

    Returns:
        ``{name: (N, ...)}``, each output concatenated along its first axis.
    """
    model.eval()
    parts: dict[str, list] = defaultdict(list)
    with torch.inference_mode():
        for batch in batches:
            for key, value in forward(model, batch).items():
                parts[key].append(value)
    return {
        key: torch.cat(values) if isinstance(values[0], torch.Tensor) else np.concatenate(values)
        for key, values in parts.items()
    }


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    forward: Callable[[nn.Module, Batch], Mapping[str, torch.Tensor | np.ndarray]],
    metrics: Callable[[Outputs], dict[str, float]],
) -> dict[str, float]:
    """``metrics`` of the outputs that ``collect`` gathers over ``batches``."""
    return metrics(collect(model, batches, forward))


def pick_device(name: str) -> torch.device:
    """"auto" -> this rank's CUDA device when available, else CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


class MetricsLog:
    """Appends JSON lines and, where ``tensorboard`` is installed, TensorBoard scalars."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / "metrics.jsonl"
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tensorboard"))
        except ImportError:
            pass

    def log(self, step: int, values: dict[str, float]) -> None:
        """Writes one record of scalars at ``step``."""
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

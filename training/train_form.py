"""Trains the handstand form model (DeepHAR action stream) on synthetic clips.

Usage:
    python -m training.train_form [--out runs/<time>/form_handstand.pt] [--dev-cache NPZ]
    python -m training.train_form --store labels.db [--labeled-only]
    python -m training.train_form --set epochs=4 --set batch_size=64 ...

Every field of ``FormTrainConfig`` can be set with ``--set key=value`` (``--help`` lists them
with their defaults); ``--epochs``, ``--train-clips``, ``--seed``, ``--threads``, ``--store``,
``--labeled-only`` and ``--real`` are shorthands for it (``training.config``).

Data: ``training.synth.generate_clips`` (synthetic 3D handstands and other poses seen by
random cameras, BlazePose-like noise), split into train / validation (temperature scaling,
thresholds) / test (held-out synthetic metrics) with disjoint seeds. With ``--store``, the
user-labeled photos and video frames of a label store are added (group-aware split: one
video's or person's frames never straddle train and test); ``--labeled-only`` trains on them
alone. Real dev photos (``--dev-cache``) are only evaluated, never trained on.

Each clip is augmented every epoch: random length (a share of single-frame "photos", a share
of shorter clips), horizontal flip with left/right joint swap, extra jitter, outlier joints,
left/right limb swaps and dropped joints. Training is deterministic for a seed (the model's
initialization and every draw come from generators seeded by it; deterministic algorithms
inside the run, restored after it) and runs on the CPU. The loop is
``training.engine.train_one_epoch``; this module says how a batch is drawn and scored.

Writes the checkpoint, its model card (``.json``: data, config, metrics, sha256, command) and
a report folder (``<name>_report/``: confusion matrix, calibration plot, per-class metrics,
HTML) next to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.checkpoint import Checkpoint, InputChecks, card_path_for, load, save
from engine.checksum import file_sha256
from engine.features import (
    MIN_JOINT_CONFIDENCE,
    flip_features,
    last_observed_frame,
    leg_to_torso_ratio,
    prepare_clip,
)
from engine.form import DEFAULT_FORM_WEIGHTS, FORM_LABELS, FormClassifier
from engine.models.ensemble import ModelAverage
from engine.skeleton import FLIP_PAIRS, flip_horizontal, rotate_in_plane
from engine.verdict import BANANA_INDEX, STRAIGHT_INDEX
from training.config import add_set_argument, add_shorthand, from_args
from training.engine import (
    Step,
    build_model,
    collect,
    evaluate,
    torch_settings,
    train_one_epoch,
)
from training.label_gain import report_label_gain
from training.model_output import default_run_weights, staged_model, usage_hint


@dataclass
class FormTrainConfig:
    """Everything that decides a training run (saved into the checkpoint).

    Attributes:
        model_name: registered FormNet variant.
        model_kwargs: keyword overrides for the variant.
        clip_length: frames per clip T.
        train_clips: synthetic training clips.
        val_clips: synthetic validation clips (temperature, thresholds, model selection).
        test_clips: held-out synthetic test clips (reported only).
        epochs: passes over the training clips.
        batch_size: clips per step.
        learning_rate: AdamW peak learning rate (one-cycle schedule).
        weight_decay: AdamW weight decay.
        block_loss_weight: weight of the mean cross-entropy of the intermediate block outputs
            (DeepHAR supervises every block).
        view_loss_weight: weight of the view head's BCE (straight/banana clips only).
        photo_fraction: share of clips cut to one frame (a photo).
        short_clip_fraction: share of clips cut to 2..T-1 frames.
        flip_probability: chance of a horizontal flip with left/right swap.
        jitter_std: extra Gaussian jitter, in units of the clip's body size.
        outlier_probability: per joint and frame, chance of a wild outlier.
        swap_probability: per frame, chance that one left/right limb pair is swapped.
        drop_probability: per joint and frame, chance of dropping the joint (confidence 0).
        labeled_repeat: how many times each user-labeled example is repeated per epoch.
        labeled_test_fraction: share of labeled examples (by group) held out for testing.
        ratio_quantile: quantile (each side) of the training handstands' leg/torso ratio used
            for the plausibility range.
        ratio_margin: factor widening that range on each side.
        view_threshold: the view head's probability below which a straight or banana verdict
            becomes "turn sideways to the camera" (saved in the checkpoint's checks). The head
            gives most front/back views under 0.1 while oblique side views spread over
            0.1-0.5, so 0.2 keeps the first out and lets the second be judged (chosen on the
            grouped real-data evaluation, see README "Which views it judges").
        seed: master seed.
        num_threads: torch CPU threads.
        store: label store to add user-labeled examples from (None: synthetic only).
        labeled_only: train on the store's examples only.
        roll_degrees: camera roll augmentation, uniform in +-this many degrees per clip
            (0: none; the generator already rolls its cameras, real photos need it).
        real_caches: BlazePose caches (``training.pose_cache``) of real labeled photos to
            fine-tune on after synthetic pretraining (empty: synthetic only).
        finetune_epochs: passes over the fine-tuning mix.
        finetune_learning_rate: its one-cycle peak learning rate.
        finetune_synthetic_clips: synthetic training clips kept in the mix (co-training, so
            the real rows do not make the model forget the generator's poses).
        real_repeat: how many times each real row is repeated per fine-tuning epoch.
        real_group_exponent: e > 0 evens out the sources: a row of a group (person/source)
            with n rows is repeated in proportion to n ** -e (at least once; the total stays
            about ``real_repeat`` per row); 0: every row ``real_repeat`` times.
        video_repeat: the same for real video rows (``pose_cache --videos-only`` frames or
            ``--video-clips`` clips in ``real_caches``); 0: never trained on (a grouped
            evaluation still scores them).
        real_roll_degrees: ``roll_degrees`` while fine-tuning.
        confidence_as_target: a straight or banana row's label confidence c becomes its soft
            target (c on its label, 1 - c on the other of the two; loss weight 1) instead of
            its loss weight (other classes keep c as their weight).
        ensemble_members: models averaged in the checkpoint (a seed ensemble): member k is
            pretrained from seed ``seed + k`` on its own synthetic sets and fine-tuned alike,
            always on one torch thread; ``num_threads`` > 1 trains members in that many
            processes.
        finetune_seed_offset: added to the fine-tuning seed alone (its batch order and
            augmentation; pretraining, synthetic sets and folds stay): grouped evaluations
            over several offsets tell a setting's effect from fine-tuning luck.
    """

    model_name: str = "form_handstand"
    model_kwargs: dict = field(default_factory=dict)
    clip_length: int = 16
    train_clips: int = 8000
    val_clips: int = 2000
    test_clips: int = 2000
    epochs: int = 16
    batch_size: int = 128
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    block_loss_weight: float = 0.5
    view_loss_weight: float = 0.5
    photo_fraction: float = 0.35
    short_clip_fraction: float = 0.2
    flip_probability: float = 0.5
    jitter_std: float = 0.02
    outlier_probability: float = 0.01
    swap_probability: float = 0.03
    drop_probability: float = 0.02
    labeled_repeat: int = 5
    labeled_test_fraction: float = 0.25
    ratio_quantile: float = 0.01
    ratio_margin: float = 1.0
    view_threshold: float = 0.2
    seed: int = 0
    num_threads: int = 1
    store: str | None = None
    labeled_only: bool = False
    roll_degrees: float = 0.0
    real_caches: list[str] = field(default_factory=list)
    finetune_epochs: int = 3
    finetune_learning_rate: float = 1e-4
    finetune_synthetic_clips: int = 2000
    real_repeat: int = 8
    real_group_exponent: float = 0.0
    video_repeat: int = 8
    real_roll_degrees: float = 8.0
    confidence_as_target: bool = True
    ensemble_members: int = 1
    finetune_seed_offset: int = 0


@dataclass
class ClipSet:
    """Clips ready for training or evaluation.

    Attributes:
        keypoints: (N, T, 16, 3) float32 pixels.
        image_sizes: (N, 2) (w, h).
        labels: (N,) int64 indices into ``FORM_LABELS``.
        view: (N,) float32 1 when the view can show an arch, 0 when not, NaN when unknown.
        groups: (N,) str.
        source: (N,) str, "synthetic", "labeled" or "real".
        weight: (N,) float32 loss weight (the labeler's confidence for real rows; default 1).
    """

    keypoints: np.ndarray
    image_sizes: np.ndarray
    labels: np.ndarray
    view: np.ndarray
    groups: np.ndarray
    source: np.ndarray
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weight is None:
            self.weight = np.ones(len(self.labels), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> ClipSet:
        """The clips at ``index``."""
        return ClipSet(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def concatenate(parts: list[ClipSet]) -> ClipSet:
        """All clips of ``parts`` (same T) in order."""
        parts = [p for p in parts if len(p)]
        return ClipSet(**{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(ClipSet)
        })


# ``(count, *, clip_length, rng) -> clips``, the signature of ``training.synth.generate_clips``.
ClipGenerator = Callable[..., object]


def default_generator() -> ClipGenerator:
    """``training.synth.generate_clips`` (imported late: it is a large module)."""
    from training.synth import generate_clips

    return generate_clips


def synthetic_set(generate: ClipGenerator, count: int, clip_length: int, seed: int) -> ClipSet:
    """Generates ``count`` synthetic clips with their own seed."""
    clips = generate(count, clip_length=clip_length, rng=np.random.default_rng(seed))
    groups = getattr(clips, "groups", np.zeros(count))
    return ClipSet(
        keypoints=np.asarray(clips.keypoints, dtype=np.float32),
        image_sizes=np.asarray(clips.image_sizes, dtype=np.float32),
        labels=np.asarray(clips.labels, dtype=np.int64),
        view=np.asarray(clips.arch_visible, dtype=np.float32),
        groups=np.asarray([f"synthetic:{g}" for g in groups]),
        source=np.full(count, "synthetic"),
    )


def labeled_sets(
    db_path: str, clip_length: int, test_fraction: float, seed: int,
    log: Callable[[str], None] = print,
) -> tuple[ClipSet, ClipSet]:
    """User-labeled examples of a label store as one-frame clips, split by group.

    When all of them form one group (one video or folder), they are split by segment of the
    video or by photo instead, and ``log`` says so (``training.splits.single_group_fallback``).

    Returns:
        (train, test) clip sets; frames of one group are on one side only.
    """
    from training.labeled_set import load_labeled_set
    from training.splits import group_split, single_group_fallback

    labeled = load_labeled_set(db_path)
    count = len(labeled)
    keypoints = np.repeat(labeled.keypoints[:, None], clip_length, axis=1).astype(np.float32)
    every = ClipSet(
        keypoints=keypoints,
        image_sizes=np.asarray(labeled.image_sizes, dtype=np.float32).reshape(count, 2),
        labels=np.array([FORM_LABELS.index(str(x)) for x in labeled.labels], dtype=np.int64),
        view=np.full(count, np.nan, dtype=np.float32),
        groups=np.asarray(labeled.groups, dtype=str),
        source=np.full(count, "labeled"),
    )
    every.groups, note = single_group_fallback(every.groups, labeled.files)
    if note:
        log(note)
    train_idx, test_idx = group_split(every.groups, test_fraction, np.random.default_rng(seed))
    return every.subset(train_idx), every.subset(test_idx)


def augment(clips: np.ndarray, image_sizes: np.ndarray, config: FormTrainConfig,
            rng: np.random.Generator) -> list[np.ndarray]:
    """Random per-clip augmentation; returns clips of varying length.

    Args:
        clips: (B, T, 16, 3) pixel keypoints.
        image_sizes: (B, 2).
        config: augmentation settings.
        rng: randomness.

    Returns:
        B arrays of shape (T_i, 16, 3), 1 <= T_i <= T.
    """
    clips = np.array(clips, dtype=np.float32)
    batch, frames, joints, _ = clips.shape
    flip = rng.random(batch) < config.flip_probability
    clips[flip] = flip_horizontal(clips[flip], image_sizes[flip, None, None, 0])
    valid = np.isfinite(clips[..., 0]) & (np.nan_to_num(clips[..., 2]) > MIN_JOINT_CONFIDENCE)
    xy = np.where(valid[..., None], clips[..., :2], np.nan)
    with np.errstate(all="ignore"):
        center = np.nanmedian(xy.reshape(batch, -1, 2), axis=1)
        spread = np.sqrt(np.nanmean(np.sum((xy - center[:, None, None]) ** 2, -1), axis=(1, 2)))
    size = np.nan_to_num(spread, nan=1.0)[:, None, None, None]
    clips[..., :2] += rng.normal(0.0, 1.0, (batch, frames, joints, 2)) * config.jitter_std * size
    outlier = rng.random((batch, frames, joints)) < config.outlier_probability
    clips[..., :2] += outlier[..., None] * rng.normal(0.0, 0.6, (batch, frames, joints, 2)) * size
    swap = rng.random((batch, frames)) < config.swap_probability
    for b, t in zip(*np.nonzero(swap), strict=True):
        right, left = FLIP_PAIRS[rng.integers(len(FLIP_PAIRS))]
        clips[b, t, [right, left]] = clips[b, t, [left, right]]
    drop = rng.random((batch, frames, joints)) < config.drop_probability
    clips[..., 2] = np.where(drop, 0.0, clips[..., 2])
    if config.roll_degrees > 0:
        with np.errstate(all="ignore"):
            roll = rng.uniform(-config.roll_degrees, config.roll_degrees, batch)
            clips = rotate_in_plane(clips, roll[:, None, None], np.nan_to_num(center)[:, None])
    kind = rng.random(batch)
    out = []
    for b in range(batch):
        if kind[b] < config.photo_fraction:
            length = 1
        elif kind[b] < config.photo_fraction + config.short_clip_fraction and frames > 2:
            length = int(rng.integers(2, frames))
        else:
            length = frames
        out.append(clips[b, frames - length :])
    return out


def prepare_batch(clips: list[np.ndarray] | np.ndarray, clip_length: int) -> torch.Tensor:
    """Model inputs for clips of any lengths: (B, clip_length, 16, 3)."""
    return torch.from_numpy(np.stack([prepare_clip(c, clip_length) for c in clips]))


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse-frequency class weights normalized to mean 1 (classes absent get 0)."""
    counts = np.bincount(labels, minlength=len(FORM_LABELS)).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(FORM_LABELS), 0.0)
    return torch.tensor(weights / max(weights[weights > 0].mean(), 1e-9), dtype=torch.float32)


def confidence_targets(targets: np.ndarray, labels: np.ndarray, confidence: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Straight/banana label confidence as a soft target between the two classes.

    A labeler 60 % sure of "straight" saw a slight arch: the row teaches 0.6 straight and
    0.4 banana at full weight rather than a hard "straight" at weight 0.6.

    Args:
        targets: (N, A) target distributions (``soft_targets``).
        labels: (N,) class indices.
        confidence: (N,) label confidence in [0, 1].

    Returns:
        (targets, sample weights): new (N, A) targets and (N,) weights.
    """
    targets = targets.copy()
    weight = confidence.astype(np.float32).copy()
    for label, other in ((STRAIGHT_INDEX, BANANA_INDEX), (BANANA_INDEX, STRAIGHT_INDEX)):
        rows = (labels == label) & (targets[:, label] == 1.0)
        targets[rows, label] = confidence[rows]
        targets[rows, other] = 1.0 - confidence[rows]
        weight[rows] = 1.0
    return targets, weight


def soft_targets(labels: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Class targets; straight and banana become 50/50 where the view cannot show an arch.

    A front or back view cannot tell a straight body from an arched one, so a hard label there
    would teach the class head noise; the view head (trained on the same flag) is what turns
    such clips into "turn sideways to the camera".

    Args:
        labels: (N,) class indices.
        view: (N,) 1 visible, 0 not visible, NaN unknown (treated as visible).

    Returns:
        (N, A) float32 target distributions.
    """
    targets = np.eye(len(FORM_LABELS), dtype=np.float32)[labels]
    hidden = (view == 0) & np.isin(labels, (STRAIGHT_INDEX, BANANA_INDEX))
    targets[hidden] = 0.0
    targets[np.ix_(hidden, [STRAIGHT_INDEX, BANANA_INDEX])] = 0.5
    return targets


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                       sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Class-weighted cross-entropy against target distributions (weighted mean).

    ``sample_weight`` (N,) multiplies each sample's class weight (e.g. label confidence).
    """
    sample_weight = targets @ weights * (1.0 if sample_weight is None else sample_weight)
    losses = -(targets * torch.log_softmax(logits, dim=-1)).sum(-1)
    return (losses * sample_weight).sum() / sample_weight.sum().clamp_min(1e-9)


EVAL_BATCH = 512  # clips per forward pass when scoring (memory only; same results)


def predict_logits(model: nn.Module, features: torch.Tensor, batch_size: int = EVAL_BATCH
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager logits and view logits for prepared features, in eval mode.

    Averaged over each clip and its mirror image, as ``FormClassifier.scores`` does.
    """
    outputs = collect(model, _chunks(features, batch_size), _flip_averaged)
    return outputs["logits"], outputs["view"]


def _chunks(features: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    return (features[start : start + batch_size] for start in range(0, len(features), batch_size))


def _flip_averaged(model: nn.Module, chunk: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, T, 16, 3) features -> logits (B, A) and view logits (B,), mean of clip and mirror."""
    out = model(torch.cat([chunk, flip_features(chunk)]))
    count = len(chunk)
    return {"logits": (out[0][:count] + out[0][count:]) / 2,
            "view": (out[1][:count] + out[1][count:]) / 2}


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature minimizing the NLL of ``softmax(logits / T)`` on held-out data.

    A log-spaced grid search, then a finer grid around the best value: deterministic and
    free of optimizer settings.
    """
    def nll(temperature: float) -> float:
        return float(nn.functional.cross_entropy(logits / temperature, labels))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=nll)
    fine = np.exp(np.linspace(np.log(best) - 0.06, np.log(best) + 0.06, 61))
    return float(min(fine, key=nll))


def ratio_range(clips: ClipSet, quantile: float, margin: float) -> tuple[float, float]:
    """Plausible leg/torso image ratio range of straight and banana training clips."""
    ratios = []
    for clip, label in zip(clips.keypoints, clips.labels, strict=True):
        if label not in (STRAIGHT_INDEX, BANANA_INDEX):
            continue
        last = last_observed_frame(clip)
        if last >= 0:
            ratios.append(leg_to_torso_ratio(clip[last]))
    ratios = np.asarray(ratios, dtype=np.float64)
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size < 10:
        return 0.0, float("inf")
    low, high = np.quantile(ratios, [quantile, 1 - quantile])
    return float(low * margin), float(high / margin)


@dataclass
class FormBatch:
    """One training batch: model inputs and what the loss needs of its clips.

    Attributes:
        inputs: (B, T, 16, 3) prepared features of the augmented clips.
        labels: (B,) class indices.
        view: (B,) view flags (1 arch visible, 0 not, NaN unknown).
        weight: (B,) float32 loss weights.
    """

    inputs: torch.Tensor
    labels: np.ndarray
    view: np.ndarray
    weight: np.ndarray


def epoch_batches(train: ClipSet, config: FormTrainConfig, rng: np.random.Generator
                  ) -> Iterator[FormBatch]:
    """One epoch of shuffled, augmented batches, drawn lazily from ``rng``."""
    order = rng.permutation(len(train))
    for start in range(0, len(order), config.batch_size):
        index = order[start : start + config.batch_size]
        clips = augment(train.keypoints[index], train.image_sizes[index], config, rng)
        yield FormBatch(
            inputs=prepare_batch(clips, config.clip_length),
            labels=train.labels[index],
            view=train.view[index],
            weight=train.weight[index].astype(np.float32),
        )


def form_loss(model: nn.Module, batch: FormBatch, class_weight: torch.Tensor,
              config: FormTrainConfig) -> Step:
    """The form model's training loss on one batch (weighted by its size in the epoch mean).

    Class-weighted soft cross-entropy of the aggregated scores, plus ``block_loss_weight``
    times that of every block's scores (deep supervision), plus ``view_loss_weight`` times the
    view head's BCE on straight and banana clips of known view.
    """
    targets = torch.from_numpy(batch.labels)
    logits, view_logit, block_logits = model(batch.inputs)
    soft = soft_targets(batch.labels, batch.view)
    weight = batch.weight
    if config.confidence_as_target:
        soft, weight = confidence_targets(soft, batch.labels, weight)
    soft, sample_weight = torch.from_numpy(soft), torch.from_numpy(weight)
    loss = soft_cross_entropy(logits, soft, class_weight, sample_weight)
    blocks = block_logits.shape[1]
    block_loss = soft_cross_entropy(
        block_logits.reshape(-1, block_logits.shape[-1]),
        soft.repeat_interleave(blocks, dim=0),
        class_weight,
        sample_weight.repeat_interleave(blocks),
    )
    loss = loss + config.block_loss_weight * block_loss
    view = torch.from_numpy(batch.view)
    mask = torch.isfinite(view) & ((targets == STRAIGHT_INDEX) | (targets == BANANA_INDEX))
    if mask.any():
        view_loss = nn.functional.binary_cross_entropy_with_logits(view_logit[mask], view[mask])
        loss = loss + config.view_loss_weight * view_loss
    return Step(loss, weight=len(batch.labels))


def train_model(
    config: FormTrainConfig,
    train: ClipSet,
    val: ClipSet,
    log: Callable[[str], None] = print,
    init: nn.Module | None = None,
) -> tuple[nn.Module, float, dict]:
    """Trains a FormNet and fits its temperature.

    Args:
        config: settings.
        train: training clips.
        val: validation clips (accuracy per epoch, temperature).
        log: printer.
        init: a trained model to continue from (fine-tuning; left unchanged), else a fresh one.

    Returns:
        (model in eval mode, temperature, calibration figures on the validation set).
    """
    rng = np.random.default_rng(config.seed + 1)
    model = build_model(config.model_name, config.model_kwargs,
                        torch.Generator().manual_seed(config.seed))
    if init is not None:
        model.load_state_dict(init.state_dict())
    loss_fn = functools.partial(form_loss, class_weight=class_weights(train.labels),
                                config=config)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, -(-len(train) // config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    val_features = prepare_batch(val.keypoints, config.clip_length)
    val_labels = torch.from_numpy(val.labels)

    def accuracy(outputs: dict) -> dict[str, float]:
        return {"accuracy": float((outputs["logits"].argmax(-1) == val_labels).float().mean())}

    for epoch in range(config.epochs):
        batches = epoch_batches(train, config, rng)
        metrics = train_one_epoch(model, batches, loss_fn, optimizer, scheduler=schedule)
        val_metrics = evaluate(model, _chunks(val_features, EVAL_BATCH), _flip_averaged, accuracy)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {metrics['loss']:.4f}, "
            f"val accuracy {val_metrics['accuracy']:.4f}")
    return _calibrated(model, val_features, val_labels, log)


def group_repeats(groups: np.ndarray, repeat: int, exponent: float) -> np.ndarray:
    """Per-row repeat counts that even out groups of different sizes.

    Args:
        groups: (N,) group of each row.
        repeat: mean repeats per row.
        exponent: a row of a group with n rows weighs n ** -exponent (0: all alike).

    Returns:
        (N,) int64 counts >= 1, summing to about ``repeat * N``.
    """
    if len(groups) == 0:
        return np.zeros(0, np.int64)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weight = sizes[inverse].astype(np.float64) ** -exponent
    return np.maximum(1, np.round(repeat * weight * len(weight) / weight.sum())).astype(np.int64)


def finetune_on_real(
    config: FormTrainConfig,
    pretrained: nn.Module,
    synthetic_train: ClipSet,
    real_train: ClipSet,
    val: ClipSet,
    log: Callable[[str], None] = print,
) -> tuple[nn.Module, float, dict]:
    """Fine-tunes a synthetically pretrained model on real rows co-trained with synthetic clips.

    The mix is the first ``finetune_synthetic_clips`` synthetic training clips plus every real
    row repeated ``real_repeat`` times (video rows ``video_repeat`` times; weighted by the
    label confidence), trained for
    ``finetune_epochs`` with camera roll ``real_roll_degrees`` on top of the usual
    augmentation (mirror included).

    Returns:
        As ``train_model``.
    """
    synthetic = synthetic_train.subset(np.arange(min(config.finetune_synthetic_clips,
                                                     len(synthetic_train))))
    video = real_train.source == "real video"
    photos = np.flatnonzero(~video)
    if config.real_group_exponent == 0:  # tile: the row order (and weights) of earlier runs
        photo_rows = np.tile(photos, config.real_repeat)
    else:
        photo_rows = np.repeat(photos, group_repeats(real_train.groups[photos],
                                                     config.real_repeat,
                                                     config.real_group_exponent))
    repeated = real_train.subset(np.concatenate([
        photo_rows, np.tile(np.flatnonzero(video), config.video_repeat)]))
    mix = ClipSet.concatenate([synthetic, repeated])
    tuned = dataclasses.replace(
        config, epochs=config.finetune_epochs, learning_rate=config.finetune_learning_rate,
        roll_degrees=config.real_roll_degrees,
        seed=config.seed + 500 + config.finetune_seed_offset,
    )
    videos = f" (video rows x {config.video_repeat})" if video.any() else ""
    log(f"fine-tuning on {len(real_train)} real rows x {config.real_repeat}{videos} + "
        f"{len(synthetic)} synthetic clips")
    return train_model(tuned, mix, val, log, init=pretrained)


def finetune_members(
    config: FormTrainConfig,
    pretrained: nn.Module,
    synthetic_trains: Sequence[ClipSet],
    real_train: ClipSet,
    val: ClipSet,
    log: Callable[[str], None] = print,
) -> tuple[nn.Module, float, dict]:
    """``finetune_on_real`` for a single model or for each member of a ``ModelAverage``.

    Member k is fine-tuned as in training: seed ``config.seed + k``, co-trained with its own
    synthetic training clips ``synthetic_trains[k]``; an ensemble's temperature is then
    fitted to its averaged logits on ``val``.

    Returns:
        As ``train_model``.
    """
    if not isinstance(pretrained, ModelAverage):
        return finetune_on_real(config, pretrained, synthetic_trains[0], real_train, val, log)
    with torch_settings(threads=1, deterministic=True):  # as members train (see run)
        tuned = [
            finetune_on_real(dataclasses.replace(config, seed=config.seed + k), member,
                             synthetic_trains[k], real_train, val, log)[0]
            for k, member in enumerate(pretrained.members)
        ]
    return calibrated(ModelAverage(tuned), val, config.clip_length, log)


def calibrated(model: nn.Module, val: ClipSet, clip_length: int,
               log: Callable[[str], None] = print) -> tuple[nn.Module, float, dict]:
    """Fits the temperature of a trained model on validation clips.

    Returns:
        (model in eval mode, temperature, NLL before and after on ``val``).
    """
    return _calibrated(model, prepare_batch(val.keypoints, clip_length),
                       torch.from_numpy(val.labels), log)


def _calibrated(model: nn.Module, val_features: torch.Tensor, val_labels: torch.Tensor,
                log: Callable[[str], None]) -> tuple[nn.Module, float, dict]:
    """``calibrated`` on validation features already prepared (``prepare_batch``)."""
    logits, _ = predict_logits(model.eval(), val_features)
    temperature = fit_temperature(logits, val_labels)
    calibration = {
        "val_nll_before": float(nn.functional.cross_entropy(logits, val_labels)),
        "val_nll_after": float(nn.functional.cross_entropy(logits / temperature, val_labels)),
    }
    log(f"temperature {temperature:.3f}: val NLL {calibration['val_nll_before']:.4f} -> "
        f"{calibration['val_nll_after']:.4f}")
    return model, temperature, calibration


def save_checkpoint(
    path: Path,
    model: nn.Module,
    config: FormTrainConfig,
    temperature: float,
    checks: InputChecks,
) -> None:
    """Writes the form checkpoint of a trained model (``engine.checkpoint.save``)."""
    model_kwargs = {
        "num_classes": model.num_classes,
        "num_joints": model.num_joints,
        "in_channels": model.in_channels,
        **config.model_kwargs,
    }
    save(Checkpoint(
        kind="form",
        model_name=config.model_name,
        model_kwargs=model_kwargs,
        state_dict=model.state_dict(),
        members=len(model.members) if isinstance(model, ModelAverage) else 1,
        config=dataclasses.asdict(config),
        labels=FORM_LABELS,
        temperature=temperature,
        clip_length=config.clip_length,
        checks=checks,
    ), path)


def write_card(weights: Path, card: dict) -> Path:
    """Writes the model card next to ``weights`` with the file's sha256.

    The JSON card is what the loader verifies; a Markdown rendering of it
    (``<name>.card.md``) is written beside it for people.
    """
    card = {**card, "weights": weights.name, "sha256": file_sha256(weights)}
    path = card_path_for(weights)
    path.write_text(json.dumps(card, indent=2, default=_json_default) + "\n")
    weights.with_suffix(".card.md").write_text(card_markdown(card))
    return path


def card_markdown(card: dict) -> str:
    """Renders a form model card (the JSON written by :func:`write_card`) as Markdown."""
    data = card.get("training_data", {})
    lines = [
        f"# Model card: {card.get('weights', 'form model')}",
        "",
        f"- Model: {card.get('model', '?')} ({card.get('parameters', '?')} parameters), "
        f"clip length {card.get('clip_length', '?')}, labels {', '.join(card.get('labels', []))}",
        f"- sha256: `{card.get('sha256', '?')}`",
        f"- Reproduce: `{card.get('command', '?')}`",
        f"- Training data: {json.dumps(data.get('synthetic_clips', {}))} synthetic clips from "
        f"`{data.get('generator', '?')}`; labeled store: {data.get('labeled_store')}; "
        f"real dev photos in training: {data.get('real_dev_photos_in_training')}",
        f"- Calibration: temperature {card.get('temperature', float('nan')):.3f}",
        f"- Training: {card.get('training_wall_seconds', float('nan')):.0f} s wall, "
        f"{card.get('torch_threads', '?')} torch thread(s)",
        "",
        "| set | method | balanced acc. straight/banana | macro-F1 | accuracy |",
        "|---|---|---|---|---|",
    ]
    for set_name, methods in card.get("metrics", {}).items():
        if not isinstance(methods, dict):
            continue
        for method, scores in methods.items():
            if isinstance(scores, dict) and "macro_f1" in scores:
                lines.append(
                    f"| {set_name} | {method} | "
                    f"{scores['straight_banana_balanced_accuracy']:.3f} | "
                    f"{scores['macro_f1']:.3f} | {scores['accuracy']:.3f} |"
                )
    grouped = card.get("metrics", {}).get("grouped_real")
    if grouped:
        lines += ["", f"Grouped real-data evaluation ({grouped['folds']}-fold by person/source, "
                  f"{grouped['rows']} real rows, {grouped['groups']} groups; out of fold, "
                  "[bootstrap 95 % interval]):", "",
                  "| method | balanced acc. straight/banana | macro-F1 | ROC-AUC P(banana) |",
                  "|---|---|---|---|"]
        from training.evaluate import OURS

        sure = grouped.get("sure_labels") or {}
        for suffix, methods in (
            ("", grouped["methods"]),
            (", as the app answers (cannot judge = wrong)", grouped.get("as_answered") or {}),
            (f", rows labeled with confidence > {sure.get('min_confidence')} "
             f"({sure.get('rows')} rows)", sure.get("methods") or {}),
        ):
            for method, entry in methods.items():
                if suffix and method != OURS:
                    continue
                cells = [f"{entry['metrics'][k]:.3f} [{entry['ci95'][k][0]:.2f}, "
                         f"{entry['ci95'][k][1]:.2f}]"
                         for k in ("straight_banana_balanced_accuracy", "macro_f1",
                                   "banana_auc")]
                lines.append(f"| {method}{suffix} | " + " | ".join(cells) + " |")
        videos = grouped.get("videos") or {}
        if videos.get("methods"):
            from training.evaluate import video_rows_use

            lines += ["", f"Real video clips out of fold ({videos['rows']} clips, "
                      f"{videos['groups']} sources, {video_rows_use(videos)}; too few sources "
                      "for intervals):", "",
                      "| method | balanced acc. straight/banana | macro-F1 | recall other "
                      "handstand |", "|---|---|---|---|"]
            for method, metrics in videos["methods"].items():
                lines.append(f"| {method} | {metrics['straight_banana_balanced_accuracy']:.3f} | "
                             f"{metrics['macro_f1']:.3f} | "
                             f"{metrics['recall_other_handstand']:.3f} |")
    lines += ["", "Full configuration and confusion matrices: the JSON card beside this file.", ""]
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def run(
    config: FormTrainConfig,
    out: Path,
    *,
    generate: ClipGenerator | None = None,
    dev_cache: Path | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
    report: bool = True,
    pretrained: Sequence[Path] = (),
) -> dict:
    """Generates data, trains, calibrates, evaluates, and writes weights, card and report.

    Runs with ``config.num_threads`` torch threads and deterministic algorithms; both are
    restored afterwards.

    Args:
        config: the run's settings.
        out: checkpoint path (``.pt``).
        generate: synthetic clip generator (default ``training.synth.generate_clips``).
        dev_cache: optional BlazePose cache of real labeled photos, evaluated only.
        command: the command line recorded in the card.
        log: progress printer.
        report: write the report folder (PNG + HTML).
        pretrained: synthetic-only checkpoints of this configuration's pretraining, one per
            ensemble member (``--seed seed + k`` runs): fine-tuned instead of pretraining
            again (the same weights, minutes sooner).

    Returns:
        The model card dict.
    """
    with torch_settings(threads=config.num_threads, deterministic=True):
        return _run(config, out, generate=generate, dev_cache=dev_cache, command=command,
                    log=log, report=report, pretrained=pretrained)


def _run(
    config: FormTrainConfig,
    out: Path,
    *,
    generate: ClipGenerator | None,
    dev_cache: Path | None,
    command: str,
    log: Callable[[str], None],
    report: bool,
    pretrained: Sequence[Path],
) -> dict:
    from training.evaluate import evaluate_run

    started = time.perf_counter()
    cpu_started = time.process_time()
    empty = ClipSet(
        np.zeros((0, config.clip_length, 16, 3), np.float32), np.zeros((0, 2), np.float32),
        np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, str), np.zeros(0, str),
    )
    labeled_train, labeled_test = empty, empty
    if config.store:
        labeled_train, labeled_test = labeled_sets(
            config.store, config.clip_length, config.labeled_test_fraction, config.seed, log
        )
        log(f"labeled examples: {len(labeled_train)} train, {len(labeled_test)} test")
    real_train = empty
    if config.real_caches:
        from training.evaluate import load_real_rows

        real_train, _, _ = load_real_rows([Path(p) for p in config.real_caches],
                                          config.clip_length)
    generate = generate or default_generator()
    labeled = (labeled_train, labeled_test, empty)
    first_data = _member_data(config, generate, *labeled, log, started)
    synthetic_train, synthetic_val, train, val = first_data
    synthetic_test = empty
    if not config.labeled_only:
        synthetic_test = synthetic_set(
            generate, config.test_clips, config.clip_length, config.seed * 1000 + 33
        )
    members = _train_members(config, generate, first_data, labeled, real_train, log,
                             pretrained)
    if len(members) == 1:
        model, temperature, calibration = members[0]
    else:
        model, temperature, calibration = calibrated(
            ModelAverage([m for m, _, _ in members]), val, config.clip_length, log)
    low, high = ratio_range(synthetic_train if len(synthetic_train) else train,
                            config.ratio_quantile, config.ratio_margin)
    checks = InputChecks(MIN_JOINT_CONFIDENCE, config.view_threshold, (low, high))
    save_checkpoint(out, model, config, temperature, checks)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started
    classifier = FormClassifier(
        model, temperature=temperature, clip_length=config.clip_length, checks=checks
    )
    evaluation = evaluate_run(
        classifier,
        baseline_train=train,
        synthetic_test=synthetic_test if len(synthetic_test) else None,
        labeled_test=labeled_test if len(labeled_test) else None,
        dev_cache=dev_cache,
        report_dir=out.with_name(out.stem + "_report") if report else None,
        seed=config.seed,
        log=log,
    )
    card = {
        "model": "DeepHAR pose-based action stream (Luvizon et al. CVPR 2018, section 1.7), "
                 f"variant {config.model_name}",
        "labels": list(FORM_LABELS),
        "clip_length": config.clip_length,
        "parameters": sum(p.numel() for p in model.parameters()),
        "training_data": {
            "synthetic_clips": {"train": len(synthetic_train), "val": len(synthetic_val),
                                "test": len(synthetic_test)},
            "generator": "training.synth.generate_clips" if len(synthetic_train) else None,
            "labeled_store": config.store,
            "labeled_examples": {"train": len(labeled_train), "test": len(labeled_test)},
            "real_dev_photos_in_training": bool(config.real_caches),
            "real_caches": list(config.real_caches),
            "real_rows": len(real_train),
            "real_class_counts": np.bincount(real_train.labels,
                                             minlength=len(FORM_LABELS)).tolist(),
            "class_counts_train": np.bincount(train.labels, minlength=len(FORM_LABELS)).tolist(),
        },
        "config": dataclasses.asdict(config),
        "temperature": temperature,
        "calibration": calibration,
        "input_checks": dataclasses.asdict(checks),
        "metrics": evaluation,
        "training_wall_seconds": round(train_seconds, 1),
        "training_cpu_seconds": round(train_cpu_seconds, 1),
        "torch_threads": config.num_threads,
        "command": command,
    }
    write_card(out, card)
    log(f"wrote {out} and {card_path_for(out)} in {time.perf_counter() - started:.1f} s")
    return card


# Fields that only act after the synthetic pretraining (or not on the weights at all).
_AFTER_PRETRAINING = frozenset({
    "num_threads", "test_clips", "real_caches", "finetune_epochs", "finetune_learning_rate",
    "finetune_synthetic_clips", "real_repeat", "real_roll_degrees", "confidence_as_target",
    "ensemble_members", "real_group_exponent", "video_repeat", "finetune_seed_offset",
    "view_threshold",
})


def pretrained_member(path: Path | str, config: FormTrainConfig) -> Checkpoint:
    """Loads the synthetic-only checkpoint of ``config``'s pretraining (a ``--seed`` run).

    Raises:
        engine.checkpoint.CheckpointError: the file cannot be loaded.
        ValueError: it was trained on real rows, or its pretraining settings differ from
            ``config``'s (it would not be the model this run pretrains).
    """
    checkpoint = load(path, "form")
    stored = checkpoint.config
    if stored.get("real_caches"):
        raise ValueError(f"{path} was trained on real rows; give a synthetic-only checkpoint")
    wanted = dataclasses.asdict(config)
    differing = sorted(key for key in wanted.keys() & stored.keys()
                       if key not in _AFTER_PRETRAINING and stored[key] != wanted[key])
    if differing:
        raise ValueError(f"{path} was pretrained with other settings: "
                         + ", ".join(f"{k}={stored[k]!r} (this run {wanted[k]!r})"
                                     for k in differing[:3]))
    return checkpoint


def _member_data(
    config: FormTrainConfig, generate: ClipGenerator, labeled_train: ClipSet,
    labeled_test: ClipSet, empty: ClipSet, log: Callable[[str], None], started: float,
) -> tuple[ClipSet, ClipSet, ClipSet, ClipSet]:
    """(synthetic train, synthetic val, training mix, validation set) of ``config.seed``."""
    synthetic_train = synthetic_val = empty
    if not config.labeled_only:
        synthetic_train = synthetic_set(
            generate, config.train_clips, config.clip_length, config.seed * 1000 + 11
        )
        synthetic_val = synthetic_set(
            generate, config.val_clips, config.clip_length, config.seed * 1000 + 22
        )
        log(f"synthetic clips (seed {config.seed}): {len(synthetic_train)} train, "
            f"{len(synthetic_val)} val ({time.perf_counter() - started:.1f} s)")
    repeated = labeled_train.subset(np.tile(np.arange(len(labeled_train)), config.labeled_repeat))
    train = ClipSet.concatenate([synthetic_train, repeated]) if len(repeated) else synthetic_train
    if config.labeled_only:
        train = repeated
    val = synthetic_val if len(synthetic_val) else labeled_test
    if len(train) == 0 or len(val) == 0:
        raise ValueError("no training data: the store holds no usable labeled examples")
    return synthetic_train, synthetic_val, train, val


def _train_member(
    config: FormTrainConfig, data: tuple[ClipSet, ClipSet, ClipSet, ClipSet],
    real_train: ClipSet, log: Callable[[str], None], pretrained: Checkpoint | None = None,
) -> tuple[nn.Module, float, dict]:
    """Pretrains one model on ``data`` (``_member_data`` of ``config``) and fine-tunes it.

    Fine-tuning runs only when there are real rows. ``pretrained``, the synthetic-only
    checkpoint of this very pretraining, replaces it.
    """
    synthetic_train, _, train, val = data
    if pretrained is None:
        model, temperature, calibration = train_model(config, train, val, log)
    else:
        model, temperature, calibration = pretrained.build_model(), pretrained.temperature, {}
    if len(real_train):
        model, temperature, calibration = finetune_on_real(
            config, model, synthetic_train, real_train, val, log)
    return model, temperature, calibration


def _member_process(config: FormTrainConfig, labeled: tuple[ClipSet, ClipSet, ClipSet],
                    real_train: ClipSet) -> dict:
    """``_train_member`` in a worker process (one torch thread); returns the state dict."""
    log = functools.partial(print, f"seed {config.seed}:", flush=True)
    with torch_settings(threads=1, deterministic=True):
        data = _member_data(config, default_generator(), *labeled, log, time.perf_counter())
        model, _, _ = _train_member(config, data, real_train, log)
    return model.state_dict()


def _train_members(
    config: FormTrainConfig, generate: ClipGenerator,
    first_data: tuple[ClipSet, ClipSet, ClipSet, ClipSet], labeled: tuple[ClipSet, ClipSet,
                                                                          ClipSet],
    real_train: ClipSet, log: Callable[[str], None], pretrained: Sequence[Path] = (),
) -> list[tuple[nn.Module, float, dict]]:
    """Every ensemble member: member k trains with seed ``config.seed + k`` on its own data.

    Members train one after the other in this process, or in ``num_threads`` processes;
    ``pretrained`` (one synthetic-only checkpoint per member) replaces their pretraining.
    """
    configs = [dataclasses.replace(config, seed=config.seed + k)
               for k in range(config.ensemble_members)]
    processes = min(len(configs), config.num_threads)
    if pretrained:
        checkpoints = [pretrained_member(path, c) for path, c in zip(pretrained, configs,
                                                                      strict=True)]
        processes = 1
    else:
        checkpoints = [None] * len(configs)
    if len(configs) == 1:
        return [_train_member(configs[0], first_data, real_train, log, checkpoints[0])]
    if processes == 1:
        # Members always train on one torch thread, in this process or in their own: float
        # sums depend on the thread count, and every way of training must give the same
        # members (member 0 is then the single model of the same seed at one thread).
        with torch_settings(threads=1, deterministic=True):
            return [_train_member(c, first_data if k == 0 else _member_data(
                c, generate, *labeled, log, time.perf_counter()), real_train, log,
                checkpoints[k]) for k, c in enumerate(configs)]
    import concurrent.futures
    import multiprocessing

    log(f"training {len(configs)} ensemble members in {processes} processes")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        states = list(pool.map(_member_process, configs, [labeled] * len(configs),
                               [real_train] * len(configs)))
    members = []
    for state in states:
        model = build_model(config.model_name, config.model_kwargs, torch.Generator())
        model.load_state_dict(state)
        members.append((model.eval(), 1.0, {}))
    return members


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train_form",
        description="Train the handstand form model on synthetic clips (and optionally your "
                    "own labeled examples) and write weights, a model card and a report.",
    )
    shorthand = functools.partial(add_shorthand, parser, config_class=FormTrainConfig)
    parser.add_argument("--out", type=Path,
                        help="checkpoint path (default: a new runs/<time>/form_handstand.pt; "
                             "an existing model there is first copied to runs/replaced_<time>/)")
    shorthand("--store", key="store", metavar="STORE",
              help="label store (SQLite) whose labeled examples are added")
    shorthand("--labeled-only", key="labeled_only", switch=True,
              help="train on the label store's examples only (needs --store)")
    parser.add_argument("--dev-cache", help="BlazePose cache (.npz) of real labeled photos to "
                        "evaluate on (never trained on)")
    shorthand("--real", key="real_caches", nargs="+", metavar="NPZ",
              help="BlazePose caches (training.pose_cache) of real labeled rows to fine-tune on "
                   "after the synthetic pretraining")
    shorthand("--epochs", key="epochs", metavar="N", help="passes over the training clips")
    shorthand("--train-clips", key="train_clips", metavar="N", help="synthetic training clips")
    shorthand("--seed", key="seed", metavar="N", help="master seed")
    shorthand("--threads", key="num_threads", metavar="N", help="torch CPU threads")
    parser.add_argument("--no-report", action="store_true", help="skip the PNG/HTML report")
    parser.add_argument("--pretrained", nargs="+", type=Path, default=[], metavar="PT",
                        help="synthetic-only checkpoints of this configuration's pretraining, "
                             "one per ensemble member (earlier --seed SEED+k runs): fine-tuned "
                             "instead of pretraining again (same weights, minutes sooner)")
    add_set_argument(parser, FormTrainConfig)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = _parse_args(argv)
    config = from_args(FormTrainConfig(), args)
    if config.labeled_only and not config.store:
        print("error: --labeled-only needs --store", file=sys.stderr)
        return 2
    missing = [p for p in config.real_caches if not Path(p).is_file()]
    if missing:
        print(f"error: real cache {missing[0]} does not exist", file=sys.stderr)
        return 2
    if args.pretrained and len(args.pretrained) != config.ensemble_members:
        print(f"error: --pretrained names {len(args.pretrained)} checkpoints for "
              f"{config.ensemble_members} ensemble members", file=sys.stderr)
        return 2
    dev_cache = Path(args.dev_cache) if args.dev_cache else None
    if dev_cache is not None and not dev_cache.is_file():
        print(f"error: dev cache {dev_cache} does not exist", file=sys.stderr)
        return 2
    command = "python -m training.train_form " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = args.out or default_run_weights()
    log = functools.partial(print, flush=True)
    try:
        with staged_model(out, log=log) as staged:
            run(config, staged, dev_cache=dev_cache, command=command.strip(),
                report=not args.no_report, log=log, pretrained=args.pretrained)
        log(f"published {out} with its card {card_path_for(out)}")
        if config.store:  # the same held-out examples as in training (same seed)
            _, labeled_test = labeled_sets(config.store, config.clip_length,
                                           config.labeled_test_fraction, config.seed,
                                           log=lambda _note: None)
            before = None if out.resolve() == DEFAULT_FORM_WEIGHTS.resolve() \
                else DEFAULT_FORM_WEIGHTS
            with torch_settings(threads=config.num_threads, deterministic=True):
                report_label_gain(before, out, labeled_test, config.seed, log)
        log(usage_hint(out))
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    except (OSError, ValueError) as error:
        print(f"error: {str(error).splitlines()[0] if str(error) else error!r}", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - store errors and the like: one line
        text = str(error).strip().splitlines()
        print(f"error: {text[0] if text else type(error).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

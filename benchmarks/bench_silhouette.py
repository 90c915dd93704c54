"""Silhouette stream (issue 17 item 3): grouped real figures with vs without it, and its cost.

Usage:
    python benchmarks/bench_silhouette.py --pretrained PRETRAINED.pt \
        --real cache/handstand_dev_silhouettes.npz cache/handstand_more_silhouettes.npz \
        [--folds 5] [--encoder-epochs 8] [--stream-lr LR] [--skip-without] [--json OUT.json]
    python benchmarks/bench_silhouette.py --latency VIDEO [--frames 120]

The silhouette is BlazePose's person mask in the upright body-axis crop of
``training.silhouette`` (64 x 32); real caches with it come from
``python -m training.pose_cache --data DIR --out NPZ --silhouettes``. Synthetic clips get the
renderer's exact mask of the same body (``training.synth.render.render_silhouette``), cropped
with the clip's noisy keypoints as a real crop is placed with BlazePose's.

WITH vs WITHOUT share everything but the stream: the synthetic-only checkpoint's pose model
(``--pretrained``, its config and seed; synthetic clips regenerated from them), the grouped
folds of ``training.evaluate.grouped_evaluation`` (same seed), and per fold the same
fine-tuning as ``training.train_form.finetune_on_real`` (same mix, schedule and
augmentation). WITH adds a small CNN on the silhouette whose class scores are summed with the
pose stream's (DeepHAR sums its streams' scores): it is first trained alone on the synthetic
silhouettes, then fine-tuned jointly with the pose stream. Printed: straight-vs-banana
balanced accuracy, macro-F1 and ROC-AUC of P(banana) with bootstrap 95 % intervals over
groups, and the paired WITH - WITHOUT difference on the same bootstrap draws.

Result (README, "A silhouette stream"): every variant scored below the pose stream alone
(0.800 / 0.725 / 0.847; with the synthetic-trained stream 0.616 / 0.685 / 0.726), so the form
model has no silhouette input.

``--latency`` times BlazePose on a video with and without segmentation (stream mode, as the
app runs it, both tracking the same frames in turn; median wall and process CPU ms per
640x480 frame), the crop (``training.silhouette.align_silhouette``) and the stream's forward
pass (batch 2: the frame and its mirror).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.features import flip_features, prepare_clip  # noqa: E402
from training.silhouette import SILHOUETTE_SIZE, body_axis_transform  # noqa: E402

HEADLINE = ("straight_banana_balanced_accuracy", "macro_f1", "banana_auc")


class SilhouetteStream(nn.Module):
    """Class scores from one (rows, columns) silhouette: three conv/pool stages, max+mean pool.

    Args:
        num_classes: form classes A.
        width: channels of the first stage (doubled at each following one).
    """

    def __init__(self, *, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels, num_classes)

    def forward(self, silhouette: torch.Tensor) -> torch.Tensor:
        """(B, rows, columns) masks in [0, 1] -> (B, A) logits."""
        x = self.features(silhouette[:, None])
        return self.head(torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1))


class _Zero(nn.Module):
    """A pose stream that scores nothing (to read the silhouette stream alone)."""

    def forward(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zeros = pose.new_zeros(len(pose), 4)
        return zeros, zeros[:, 0], zeros[:, None]


class TwoStream(nn.Module):
    """A FormNet's pose stream plus an optional silhouette stream; class scores summed."""

    def __init__(self, pose: nn.Module, silhouette: SilhouetteStream | None) -> None:
        super().__init__()
        self.pose = pose
        self.silhouette = silhouette

    def forward(self, pose: torch.Tensor, silhouette: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As ``FormNet.forward``; the silhouette stream's scores are one more block output."""
        logits, view, blocks = self.pose(pose)
        if self.silhouette is None:
            return logits, view, blocks
        extra = self.silhouette(silhouette)
        return logits + extra, view, torch.cat([blocks, extra[:, None]], dim=1)


def synthetic_silhouettes(clips, seed: int) -> np.ndarray:
    """The exact silhouette of each synthetic clip's last frame, cropped by its noisy keypoints.

    Args:
        clips: ``training.synth.SynthClips``.
        seed: seeds the people's build (limb thickness).

    Returns:
        (N, rows, columns) uint8 (zeros where the keypoints place no crop).
    """
    from training.synth.render import render_silhouette, sample_appearance

    rng = np.random.default_rng(seed)
    cameras = clips.cameras
    out = np.zeros((len(clips.labels), *SILHOUETTE_SIZE), np.uint8)
    for i in range(len(out)):
        appearance = sample_appearance(rng)
        transform = body_axis_transform(clips.keypoints[i, -1])
        if transform is None:
            continue
        rotation = cameras.rotation[i]
        rotation = rotation[-1] if rotation.ndim == 3 else rotation
        mask = render_silhouette(clips.points_3d[i, -1], rotation, cameras.position[i],
                                 float(cameras.focal[i]),
                                 tuple(int(v) for v in cameras.image_sizes[i]), transform,
                                 appearance, height=float(clips.dims[i, 0]))
        out[i] = np.round(255 * mask).astype(np.uint8)
    return out


def augment_silhouettes(masks: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """Mirror (half of them) and soften (BlazePose's masks have soft edges) a batch of masks."""
    out = masks.astype(np.float32) / 255.0
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, ::-1]
    sigma = rng.uniform(0.0, 1.2, len(out))
    for i in np.flatnonzero(sigma > 0.3):
        out[i] = cv2.GaussianBlur(out[i], (0, 0), sigma[i])
    return torch.from_numpy(np.ascontiguousarray(out))


def train_silhouette_stream(stream: SilhouetteStream, masks: np.ndarray, train, epochs: int,
                            seed: int, batch_size: int = 128, learning_rate: float = 3e-3
                            ) -> SilhouetteStream:
    """Trains the silhouette stream alone on synthetic masks (the pose stream's targets)."""
    from training.train_form import class_weights, soft_cross_entropy, soft_targets

    rng = np.random.default_rng(seed)
    weights = class_weights(train.labels)
    optimizer = torch.optim.AdamW(stream.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps = epochs * -(-len(masks) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps)
    stream.train()
    for _ in range(epochs):
        order = rng.permutation(len(masks))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            targets = torch.from_numpy(soft_targets(train.labels[index], train.view[index]))
            loss = soft_cross_entropy(stream(augment_silhouettes(masks[index], rng)), targets,
                                      weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return stream.eval()


def finetune(config, pretrained: TwoStream, synthetic, synthetic_masks, real, real_masks,
             stream_learning_rate: float | None = None) -> TwoStream:
    """``training.train_form.finetune_on_real`` for a ``TwoStream`` (same mix and schedule).

    The same batches (``epoch_batches``, same random draws), loss (``form_loss``) and loop
    (``training.engine.train_one_epoch``); each batch's silhouettes are mirrored and softened
    on their own, which summed scores allow. The silhouette stream may learn at its own peak
    rate (``stream_learning_rate``; default the pose stream's).
    """
    from training.engine import train_one_epoch
    from training.train_form import ClipSet, class_weights, epoch_batches, form_loss

    keep = np.arange(min(config.finetune_synthetic_clips, len(synthetic)))
    repeat = np.tile(np.arange(len(real)), config.real_repeat)
    mix = ClipSet.concatenate([synthetic.subset(keep), real.subset(repeat)])
    masks = np.concatenate([synthetic_masks[keep], real_masks[repeat]])
    tuned = dataclasses.replace(
        config, epochs=config.finetune_epochs, learning_rate=config.finetune_learning_rate,
        roll_degrees=config.real_roll_degrees, seed=config.seed + 500,
    )
    rng = np.random.default_rng(tuned.seed + 1)
    mask_rng = np.random.default_rng(tuned.seed + 2)
    model = copy.deepcopy(pretrained)
    groups = [{"params": list(model.pose.parameters()), "lr": tuned.learning_rate}]
    if model.silhouette is not None:
        groups.append({"params": list(model.silhouette.parameters()),
                       "lr": stream_learning_rate or tuned.learning_rate})
    optimizer = torch.optim.AdamW(groups, lr=tuned.learning_rate,
                                  weight_decay=tuned.weight_decay)
    steps_per_epoch = max(1, -(-len(mix) // tuned.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in groups],
        total_steps=tuned.epochs * steps_per_epoch)
    class_weight = class_weights(mix.labels)

    def loss_fn(model: TwoStream, batch) -> object:
        clips, silhouettes = batch
        return form_loss(functools.partial(model, silhouette=silhouettes), clips,
                         class_weight, tuned)

    for _ in range(tuned.epochs):
        # epoch_batches draws its shuffle first: a copy of the generator tells the order.
        order = copy.deepcopy(rng).permutation(len(mix))
        starts = range(0, len(order), tuned.batch_size)
        silhouettes = (augment_silhouettes(masks[order[i : i + tuned.batch_size]], mask_rng)
                       if model.silhouette is not None else None for i in starts)
        train_one_epoch(model, zip(epoch_batches(mix, tuned, rng), silhouettes, strict=True),
                        loss_fn, optimizer, scheduler=schedule)
    return model.eval()


def mirrored_logits(model: TwoStream, features: torch.Tensor, masks: np.ndarray,
                    batch_size: int = 512) -> torch.Tensor:
    """Logits averaged over each input and its mirror image (as ``FormClassifier.scores``)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(features), batch_size):
            chunk = features[start : start + batch_size]
            both = torch.cat([chunk, flip_features(chunk)])
            sil = None
            if model.silhouette is not None:
                m = torch.from_numpy(masks[start : start + batch_size].astype(np.float32) / 255)
                sil = torch.cat([m, m.flip(-1)])
            logits = model(both, sil)[0]
            out.append((logits[: len(chunk)] + logits[len(chunk) :]) / 2)
    return torch.cat(out)


def real_silhouettes(paths: list[Path]) -> np.ndarray:
    """The silhouettes of the rows ``training.evaluate.load_real_rows`` keeps, in its order."""
    from training.evaluate import _cache_rows

    parts = []
    for path in paths:
        data, keep, _ = _cache_rows(path)
        if "silhouettes" not in data:
            raise ValueError(f"{path} has no silhouettes (training.pose_cache --silhouettes)")
        parts.append(np.asarray(data["silhouettes"])[keep])
    return np.concatenate(parts)


def paired_difference(truth, pred_a, score_a, pred_b, score_b, groups, rng, resamples=1000):
    """95 % interval of (b - a) for the headline figures over the same group bootstrap draws."""
    from training.evaluate import real_metrics

    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(names))]
    draws: dict[str, list[float]] = {k: [] for k in HEADLINE}
    for _ in range(resamples):
        index = np.concatenate([members[g] for g in rng.integers(len(names), size=len(names))])
        a = real_metrics(truth[index], pred_a[index], score_a[index])
        b = real_metrics(truth[index], pred_b[index], score_b[index])
        for key in HEADLINE:
            draws[key].append(b[key] - a[key])
    out = {}
    for key, values in draws.items():
        finite = np.asarray(values)[np.isfinite(values)]
        out[key] = [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)),
                    float(np.mean(finite > 0))]
    return out


def grouped_with_without(pretrained_path: Path, caches: list[Path], folds: int,
                         encoder_epochs: int, *, stream_learning_rate: float | None = None,
                         without: bool = True, log=print) -> dict:
    """Grouped k-fold figures of the pose stream alone and with the silhouette stream.

    Args:
        pretrained_path: synthetic-only form checkpoint (pose stream, config, seed).
        caches: real BlazePose caches with silhouettes.
        folds: grouped folds.
        encoder_epochs: synthetic epochs of the silhouette stream alone; 0: none, its class
            head starts at zero (the sum starts as the pose stream) and only real fine-tuning
            teaches it.
        stream_learning_rate: the silhouette stream's fine-tuning peak rate (None: the pose's).
        without: also run the pose stream alone (the comparison; skip to save time).
        log: printer.
    """
    from engine.checkpoint import load
    from engine.form import FormClassifier
    from training.engine import torch_settings
    from training.evaluate import train_config

    checkpoint = load(pretrained_path, "form")
    config = train_config(checkpoint)
    if config.real_caches:
        raise ValueError(f"{pretrained_path} was trained on real rows: give a synthetic-only one")
    with torch_settings(threads=config.num_threads, deterministic=True):
        result = _grouped_with_without(FormClassifier.from_checkpoint(checkpoint), config,
                                       caches, folds, encoder_epochs, stream_learning_rate,
                                       without, log)
    return {**result, "pretrained": str(pretrained_path)}


def _grouped_with_without(classifier, config, caches, folds, encoder_epochs,
                          stream_learning_rate, without, log) -> dict:
    from engine.verdict import BANANA_INDEX
    from training.evaluate import (
        EVAL_MIN_CONFIDENCE,
        bootstrap_intervals,
        load_real_rows,
        real_metrics,
    )
    from training.splits import group_kfold
    from training.synth import generate_clips
    from training.train_form import fit_temperature, prepare_batch, synthetic_set

    started = time.perf_counter()
    captured = []

    def generate(*args, **kwargs):
        captured.append(generate_clips(*args, **kwargs))
        return captured[-1]

    train = synthetic_set(generate, config.train_clips, config.clip_length,
                          config.seed * 1000 + 11)
    val = synthetic_set(generate, config.val_clips, config.clip_length, config.seed * 1000 + 22)
    train_masks = synthetic_silhouettes(captured[0], config.seed + 900)
    val_masks = synthetic_silhouettes(captured[1], config.seed + 901)
    log(f"synthetic clips and silhouettes: {len(train)} + {len(val)} "
        f"({time.perf_counter() - started:.0f} s)")
    pose = classifier.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 902)
        stream = SilhouetteStream()
    if encoder_epochs > 0:
        stream = train_silhouette_stream(stream, train_masks, train, encoder_epochs,
                                         config.seed + 903)
        log(f"silhouette stream trained on synthetic masks "
            f"({time.perf_counter() - started:.0f} s)")
    else:
        nn.init.zeros_(stream.head.weight)
        nn.init.zeros_(stream.head.bias)
    variants = {"with silhouette": TwoStream(pose, stream)}
    if without:
        variants = {"without silhouette": TwoStream(pose, None), **variants}

    real, confidences, _ = load_real_rows(caches, config.clip_length)
    masks = real_silhouettes(caches)
    min_confidence = classifier.checks.min_confidence
    features = torch.from_numpy(np.stack([
        prepare_clip(k[-1:], config.clip_length, min_confidence) for k in real.keypoints]))
    val_features = prepare_batch(val.keypoints, config.clip_length)
    val_labels = torch.from_numpy(val.labels)

    def probabilities(model: TwoStream, index: np.ndarray) -> np.ndarray:
        temperature = fit_temperature(mirrored_logits(model, val_features, val_masks), val_labels)
        logits = mirrored_logits(model, features[index], masks[index])
        return torch.softmax(logits / temperature, dim=-1).numpy()

    splits = group_kfold(real.groups, folds, np.random.default_rng(config.seed + 77))
    count = len(real)
    results: dict[str, np.ndarray] = {}
    for name, model in variants.items():
        results[f"{name}, synthetic only"] = probabilities(model, np.arange(count))
        tuned = np.zeros((count, 4))
        for k, (train_idx, test_idx) in enumerate(splits):
            fold = finetune(config, model, train, train_masks, real.subset(train_idx),
                            masks[train_idx], stream_learning_rate)
            tuned[test_idx] = probabilities(fold, test_idx)
            log(f"{name}: fold {k + 1}/{folds} ({time.perf_counter() - started:.0f} s)")
        results[f"{name}, fine-tuned"] = tuned
    if encoder_epochs > 0:  # why the sum moves: the synthetic-trained stream on its own
        alone = mirrored_logits(TwoStream(_Zero(), stream), features, masks)
        results["silhouette stream alone, synthetic only"] = torch.softmax(alone, -1).numpy()
    scored = (confidences >= EVAL_MIN_CONFIDENCE) & (real.source == "real")
    truth, groups = real.labels[scored], real.groups[scored]
    methods = {}
    for name, p in results.items():
        args = (truth, p[scored].argmax(-1), p[scored, BANANA_INDEX])
        methods[name] = {"metrics": real_metrics(*args),
                         "ci95": bootstrap_intervals(*args, groups,
                                                     np.random.default_rng(config.seed + 78))}
    pairs = {}
    for stage in ("synthetic only", "fine-tuned") if without else ():
        a, b = results[f"without silhouette, {stage}"], results[f"with silhouette, {stage}"]
        pairs[stage] = paired_difference(
            truth, a[scored].argmax(-1), a[scored, BANANA_INDEX], b[scored].argmax(-1),
            b[scored, BANANA_INDEX], groups, np.random.default_rng(config.seed + 79))
    return {"methods": methods, "with_minus_without": pairs, "folds": folds,
            "rows": int(scored.sum()), "groups": int(len(np.unique(groups))),
            "encoder_epochs": encoder_epochs, "stream_learning_rate": stream_learning_rate,
            "caches": [str(c) for c in caches],
            "seconds": round(time.perf_counter() - started, 1)}


def format_result(result: dict) -> str:
    """The with/without table and the paired differences."""
    lines = [f"grouped {result['folds']}-fold, {result['rows']} real rows, "
             f"{result['groups']} people/sources",
             f"{'method':<36}{'balacc S/B':>20}{'macro-F1':>20}{'AUC P(banana)':>20}"]
    for name, m in result["methods"].items():
        cells = [f"{m['metrics'][k]:.3f} [{m['ci95'][k][0]:.2f},{m['ci95'][k][1]:.2f}]"
                 for k in HEADLINE]
        lines.append(f"{name:<36}" + "".join(f"{c:>20}" for c in cells))
    for stage, diff in result["with_minus_without"].items():
        cells = [f"[{diff[k][0]:+.3f},{diff[k][1]:+.3f}] P>0 {diff[k][2]:.2f}" for k in HEADLINE]
        lines.append(f"{'with - without, ' + stage:<36}" + "".join(f"{c:>20}" for c in cells))
    return "\n".join(lines)


def latency(video: Path, frames: int, rounds: int = 3) -> dict:
    """ms per frame: BlazePose without / with segmentation, the crop, the stream's forward.

    Both BlazePose back-ends track the same frames in turn (frame by frame, ``rounds`` passes
    over the video), so a busy machine slows both alike; medians of wall and process CPU
    time (all threads) per frame.
    """
    from engine.pose.blazepose import BlazePoseBackend
    from training.engine import torch_settings
    from training.silhouette import align_silhouette

    capture = cv2.VideoCapture(str(video))
    images = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            break
        images.append(cv2.resize(image, (640, 480)))  # bench_loop.py's default frame size
    capture.release()
    if not images:
        raise ValueError(f"cannot read frames from {video}")
    backends = {"blazepose": BlazePoseBackend(stream=True),
                "blazepose_with_segmentation": BlazePoseBackend(stream=True, segmentation=True)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in [*backends, "crop"]}
    masks = []

    def timed(function, *args):
        wall, cpu = time.perf_counter(), time.process_time()
        out = function(*args)
        return out, (time.perf_counter() - wall, time.process_time() - cpu)

    for _ in range(rounds):
        for image in images:
            for name, backend in backends.items():
                result, spent = timed(backend.estimate, image)
                times[name].append(spent)
            mask = backends["blazepose_with_segmentation"].last_mask
            if result.found and mask is not None:
                crop, spent = timed(align_silhouette, mask, result.keypoints)
                times["crop"].append(spent)
                masks.append(crop)
    for backend in backends.values():
        backend.close()
    stream = SilhouetteStream().eval()
    batch = torch.from_numpy(np.stack(masks[:1] * 2)) if masks else torch.zeros(2, *SILHOUETTE_SIZE)
    times["stream_forward"] = []
    with torch_settings(threads=1), torch.inference_mode():
        for repeat in range(220):
            _, spent = timed(stream, batch)
            if repeat >= 20:
                times["stream_forward"].append(spent)
    out: dict[str, float] = {"frames": len(images), "rounds": rounds}
    for name, spent in times.items():
        if spent:
            wall, cpu = np.median(np.asarray(spent), axis=0) * 1000
            out[f"{name}_ms"], out[f"{name}_cpu_ms"] = float(wall), float(cpu)
    for kind in ("ms", "cpu_ms"):
        out[f"segmentation_extra_{kind}"] = (out[f"blazepose_with_segmentation_{kind}"]
                                             - out[f"blazepose_{kind}"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", type=Path, help="synthetic-only form checkpoint")
    parser.add_argument("--real", type=Path, nargs="+", default=[],
                        help="BlazePose caches with silhouettes (pose_cache --silhouettes)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--encoder-epochs", type=int, default=8,
                        help="synthetic epochs of the silhouette stream (0: real rows only)")
    parser.add_argument("--stream-lr", type=float,
                        help="the silhouette stream's fine-tuning peak learning rate")
    parser.add_argument("--skip-without", action="store_true",
                        help="only the WITH variant (the WITHOUT one is deterministic)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--latency", type=Path, metavar="VIDEO", help="time the mask instead")
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args(argv)
    try:
        if args.latency:
            if not args.latency.is_file():
                raise ValueError(f"no video at {args.latency}")
            result = latency(args.latency, args.frames)
            print(json.dumps(result, indent=1))
        else:
            if args.pretrained is None or not args.real:
                raise ValueError("give --pretrained and --real (or --latency VIDEO)")
            for path in [args.pretrained, *args.real]:
                if not path.is_file():
                    raise ValueError(f"{path} does not exist")
            for path in args.real:
                if "silhouettes" not in np.load(path).files:
                    raise ValueError(f"{path} has no silhouettes "
                                     "(python -m training.pose_cache ... --silhouettes)")
            result = grouped_with_without(args.pretrained, args.real, args.folds,
                                          args.encoder_epochs,
                                          stream_learning_rate=args.stream_lr,
                                          without=not args.skip_without,
                                          log=lambda line: print(line, flush=True))
            print(format_result(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    except (OSError, ValueError, RuntimeError) as error:  # FormModelError is a RuntimeError
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Do the labeler's suggestions (``--suggest``) teach more than random picks? 50 labels each.

A user starts from a model that has never seen their photos and labels 50 of them. This
benchmark plays that with a real labeled folder's BlazePose cache as the user's photos:

1. start model: a short synthetic pretraining (``training.train_form.train_model``) fine-tuned
   on the dev photos (``--start-cache``), i.e. a model that knows real photos, not these;
2. per seed, the pool's groups (sources/persons) are split in half: the user's photos (whose
   labels are hidden) and held-out photos of other people (never labeled, only scored);
3. 50 of the user's photos are picked by ``training.suggest`` (entropy + disagreement of the
   start model; with ``--images`` the other BlazePose orientation pass is one of the views) or
   at random, the start model is fine-tuned on them (``finetune_on_real``), and both results
   are scored on the held-out people (rows with label confidence >= 0.5).

Usage (the README's figures; about 6 minutes on 2 shared cores, the start model and the other
orientation's poses are kept in /tmp for the next run: delete /tmp/bench_active_learning_* after
changing the training code):
    nice -n 10 python benchmarks/bench_active_learning.py \\
        --pool cache/handstand_more_blazepose.npz --start-cache cache/handstand_dev_blazepose.npz \\
        --images ../shared/data/handstand_more --pretrain-epochs 4 --finetune-lr 1e-3 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.features import MIN_JOINT_CONFIDENCE  # noqa: E402
from engine.form import FormClassifier, InputChecks  # noqa: E402
from engine.verdict import BANANA_INDEX  # noqa: E402
from training.engine import torch_settings  # noqa: E402
from training.evaluate import load_real_rows, real_metrics  # noqa: E402
from training.suggest import suggested_order, uncertainties  # noqa: E402
from training.train_form import (  # noqa: E402
    FormTrainConfig,
    default_generator,
    finetune_on_real,
    synthetic_set,
    train_model,
)

FIGURES = (("straight_banana_balanced_accuracy", "bal.acc s/b"), ("macro_f1", "macro-F1"),
           ("accuracy", "accuracy"))


def _quiet(_text: str) -> None:
    pass


def other_orientation_poses(images: Path, pool_npz: Path, files: np.ndarray) -> np.ndarray:
    """(N, 16, 3) BlazePose's pose in the orientation the cache did not choose (NaN: none).

    Computed once per image and kept in ``/tmp`` (the data folder is never written to).
    """
    cache = Path("/tmp") / f"bench_active_learning_{pool_npz.stem}_other.npz"
    if cache.is_file():
        stored = dict(np.load(cache))
        if list(stored["files"]) == list(files):
            return stored["keypoints"]
    from engine.media import MediaError, read_image
    from engine.pose.blazepose import BlazePoseBackend

    raw = np.load(pool_npz)
    rotation_of = dict(zip(raw["files"].astype(str), raw["rotations"].astype(int), strict=True))
    backend = BlazePoseBackend(stream=False)
    poses = np.full((len(files), 16, 3), np.nan, np.float32)
    started = time.perf_counter()
    for index, name in enumerate(files):
        try:
            bgr = read_image(images / name)
        except MediaError:
            continue
        found = backend.estimate_in_orientation(bgr, 180 - rotation_of[name])
        if found.keypoints is not None:
            poses[index] = found.keypoints
    backend.close()
    print(f"other orientation pass on {len(files)} images: {time.perf_counter() - started:.0f} s")
    np.savez(cache, files=files, keypoints=poses)
    return poses


def score(model, temperature: float, clips, test_index: np.ndarray) -> dict[str, float]:
    """The grouped figures of a model on the held-out rows."""
    classifier = _classifier(model, temperature, clips.keypoints.shape[1])
    probabilities, _ = classifier.scores(_features(classifier, clips.keypoints[test_index]))
    truth = clips.labels[test_index]
    return real_metrics(truth, probabilities.argmax(-1), probabilities[:, BANANA_INDEX])


def _classifier(model, temperature: float, clip_length: int) -> FormClassifier:
    return FormClassifier(model, temperature=temperature, clip_length=clip_length,
                          checks=InputChecks(MIN_JOINT_CONFIDENCE, 0.5, (0.0, np.inf)))


def _features(classifier: FormClassifier, clips: np.ndarray) -> np.ndarray:
    from engine.features import prepare_clip

    return np.stack([prepare_clip(c, classifier.clip_length, MIN_JOINT_CONFIDENCE)
                     for c in clips]).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=Path, required=True, help="BlazePose cache of the photos")
    parser.add_argument("--start-cache", type=Path, nargs="*", default=[],
                        help="caches the start model is fine-tuned on (never the pool)")
    parser.add_argument("--images", type=Path, help="the pool's data folder (180 deg views)")
    parser.add_argument("--labels", type=int, default=50, help="labels per strategy")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pretrain-clips", type=int, default=2000)
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    parser.add_argument("--finetune-lr", type=float, default=FormTrainConfig.finetune_learning_rate,
                        help="peak learning rate of fine-tuning on the 50 labels")
    args = parser.parse_args(argv)
    for path in [args.pool, *args.start_cache]:
        if not path.is_file():
            print(f"error: no such cache: {path}", file=sys.stderr)
            return 2
    with torch_settings(threads=1, deterministic=True):
        return _benchmark(args)


def _benchmark(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    config = FormTrainConfig(train_clips=args.pretrain_clips, epochs=args.pretrain_epochs,
                             finetune_synthetic_clips=1000)
    starts = "_".join(p.stem for p in args.start_cache)
    start_file = Path("/tmp") / (f"bench_active_learning_start_{args.pretrain_clips}_"
                                 f"{args.pretrain_epochs}_{starts}.pt")
    generate = default_generator()
    synthetic = synthetic_set(generate, config.train_clips, config.clip_length, 11)
    val = synthetic_set(generate, 500, config.clip_length, 22)
    if start_file.is_file():  # the start model of an earlier run with the same settings
        model, temperature = torch.load(start_file, weights_only=False)
    else:
        model, temperature, _ = train_model(config, synthetic, val, _quiet)
        if args.start_cache:
            start_rows, _, _ = load_real_rows(args.start_cache, config.clip_length)
            model, temperature, _ = finetune_on_real(config, model, synthetic, start_rows, val,
                                                     _quiet)
        torch.save((model, temperature), start_file)
    print(f"start model: {args.pretrain_clips} synthetic clips x {args.pretrain_epochs} epochs"
          f" + fine-tuned on {', '.join(p.name for p in args.start_cache) or 'nothing'}"
          f" ({time.perf_counter() - started:.0f} s)")
    pool, confidences, files = load_real_rows([args.pool], config.clip_length)
    rotated = (other_orientation_poses(args.images, args.pool, files) if args.images
               else np.full((len(files), 16, 3), np.nan, np.float32))
    classifier = _classifier(model, temperature, config.clip_length)
    poses = pool.keypoints[:, -1]
    strategies = {
        "suggested": uncertainties(classifier, poses, rotated),
        "suggested, no 180 deg view": uncertainties(classifier, poses, None),
    }
    start_probabilities, _ = classifier.scores(_features(classifier, pool.keypoints))
    start_right = start_probabilities.argmax(-1) == pool.labels
    groups = np.unique(pool.groups)
    results: dict[str, list[dict]] = {"start model": []}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        user_groups = set(rng.permutation(groups)[: len(groups) // 2])
        mine = np.flatnonzero(np.isin(pool.groups, list(user_groups)))
        test = np.flatnonzero(~np.isin(pool.groups, list(user_groups)) & (confidences >= 0.5))
        results["start model"].append(score(model, temperature, pool, test))
        picks = {"random": rng.permutation(mine)[: args.labels]}
        for name, scores in strategies.items():
            order = suggested_order([scores[i] for i in mine], [False] * len(mine))
            picks[name] = mine[order[: args.labels]]
        for name, chosen in picks.items():
            tuned = dataclasses.replace(config, seed=seed, finetune_learning_rate=args.finetune_lr)
            after, after_t, _ = finetune_on_real(tuned, model, synthetic, pool.subset(chosen),
                                                 val, _quiet)
            counts = np.bincount(pool.labels[chosen], minlength=4).tolist()
            results.setdefault(name, []).append(
                {**score(after, after_t, pool, test), "counts": counts,
                 "start_right": float(start_right[chosen].mean())})
        print(f"seed {seed}: {len(mine)} user photos ({len(user_groups)} groups), "
              f"{len(test)} held-out photos; picked classes (straight, banana, other, not): "
              + "; ".join(f"{name} {results[name][-1]['counts']}" for name in picks)
              + "; the start model was right on " + ", ".join(
                  f"{results[name][-1]['start_right']:.0%} ({name})" for name in picks)
              + f" ({time.perf_counter() - started:.0f} s)")
    print(f"\nheld-out people, mean over seeds {args.seeds} (per seed in brackets), "
          f"after {args.labels} labels (fine-tuning peak lr {args.finetune_lr:g}):")
    print(f"{'':<30}" + "".join(f"{title:>28}" for _, title in FIGURES))
    for name, rows in results.items():
        cells = []
        for key, _ in FIGURES:
            values = [row[key] for row in rows]
            cells.append(f"{np.nanmean(values):.3f} [" + " ".join(f"{v:.2f}" for v in values)
                         + "]")
        print(f"{name:<30}" + "".join(f"{cell:>28}" for cell in cells))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

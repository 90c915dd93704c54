"""Form model benchmark: accuracy against baselines and latency per execution backend.

Usage:
    python benchmarks/bench_form.py --dev-cache cache/handstand_dev_blazepose.npz \
        [--weights weights/form_handstand.pt] [--report DIR] [--skip-eval] [--roll-sweep [DEG ...]]
    python benchmarks/bench_form.py --real PATH/handstand_dev PATH/handstand_more [--folds 5] \
        [--video-clips [--set video_repeat=0]] [--finetune-seed-offsets 0 101 202]

In one run: (1) ``training.evaluate`` on held-out synthetic clips and photos and on the real
dev photos (BlazePose keypoints cached by ``training.pose_cache``): our model versus majority
class, hip-angle rule, ML Kit-style k-NN and TF-Lite-style MLP, all fitted on the same
synthetic training clips; (2) CPU latency per clip at batch 1 (model only, and the full
``FormClassifier.predict`` with feature preparation and checks) for eager PyTorch, ONNX
Runtime and TensorRT (CUDA only; skipped with the reason elsewhere), with the ratio to eager.
With ``--real DIR...`` (labeled data folders; their BlazePose caches are built into
``cache/<folder>_blazepose.npz`` when missing) step (1) is the grouped k-fold evaluation of
``training.evaluate.grouped_evaluation`` instead: folds by person/source over every real row
with confidence >= 0.5, our configuration fine-tuned per fold against the synthetic-only model
and the baselines fitted on the same folds, each figure with its bootstrap 95 % interval.
``--video-clips`` adds the folders' videos as real 16-frame clips (``training.pose_cache
--video-clips``), scored out of fold apart from the photos: the temporal model on real motion.
Goals on the grouped real figures: straight-vs-banana balanced accuracy >= 0.90, macro-F1 >=
0.80, ahead of every baseline; <= 1 ms per clip on the CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.form import FormModelError, load_form_model  # noqa: E402
from engine.models.ensemble import ModelAverage  # noqa: E402
from engine.runtime import RuntimeBackendUnavailable, compile_for_inference  # noqa: E402


def _timings(function, repeats: int) -> np.ndarray:
    for _ in range(min(50, repeats)):
        function()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        function()
        out[i] = time.perf_counter() - start
    return out * 1e3


def bench_latency(weights: str, repeats: int, threads: int) -> None:
    """Prints p50/p95 latency per backend (model only and full predict)."""
    torch.set_num_threads(threads)
    classifier = load_form_model(weights)
    rng = np.random.default_rng(0)
    clip = np.concatenate([rng.uniform(100, 500, (classifier.clip_length, 16, 2)),
                           rng.uniform(0.5, 1, (classifier.clip_length, 16, 1))], -1)
    clip = clip.astype(np.float32)
    example = torch.randn(1, classifier.clip_length, 16, 3)
    print(f"\nlatency per clip, batch 1, T={classifier.clip_length}, torch threads={threads}")
    print(f"{'backend':<12} {'model p50':>10} {'model p95':>10} {'predict p50':>12} "
          f"{'predict p95':>12} {'ratio':>6}")
    # Baseline in the same run: the network as trained, without the eager backend's folding.
    plain = classifier.model.eval()

    def run_plain(x=example):
        with torch.inference_mode():
            return plain(x)

    plain_ms = _timings(run_plain, repeats)
    plain_p50 = float(np.median(plain_ms))
    print(f"{'plain module':<12} {plain_p50:>10.3f} {np.percentile(plain_ms, 95):>10.3f} "
          f"{'-':>12} {'-':>12} {1.0:>6.2f}")
    for backend in ("eager", "onnxruntime", "tensorrt"):
        device = torch.device("cuda" if backend == "tensorrt" and torch.cuda.is_available()
                              else "cpu")
        try:
            compiled = compile_for_inference(classifier.model, (example,), backend, device)
            full = load_form_model(weights, backend=backend, device=device)
        except RuntimeBackendUnavailable as error:
            print(f"{backend:<12} skipped: {error}")
            continue
        on_device = example.to(device)
        model_ms = _timings(lambda c=compiled, x=on_device: c(x), repeats)
        predict_ms = _timings(lambda f=full: f.predict(clip), repeats)
        p50 = float(np.median(model_ms))
        print(f"{backend:<12} {p50:>10.3f} {np.percentile(model_ms, 95):>10.3f} "
              f"{np.median(predict_ms):>12.3f} {np.percentile(predict_ms, 95):>12.3f} "
              f"{plain_p50 / p50:>6.2f}")
    print("(ratio = plain module p50 / backend model p50; milliseconds; eager folds each "
          "conv + batch norm into one conv, channels-last weights)")
    if isinstance(classifier.model, ModelAverage):
        _member_latency(classifier.model, example, repeats)


def _member_latency(ensemble: ModelAverage, example: torch.Tensor, repeats: int) -> None:
    """ONNX Runtime p50 and p90 of the seed ensemble (run stacked, as the app runs it, see
    ``engine.runtime.stack_ensemble``) against one member alone, interleaved."""
    try:
        runs = {name: compile_for_inference(model, (example,), "onnxruntime",
                                            torch.device("cpu"), num_threads=1)
                for name, model in (("ensemble", ensemble), ("one member",
                                                             ensemble.members[0]))}
    except RuntimeBackendUnavailable as error:
        print(f"ensemble vs one member: skipped: {error}")
        return
    times: dict[str, list[np.ndarray]] = {name: [] for name in runs}
    for _ in range(10):  # interleaved rounds: load on a shared machine hits both alike
        for name, run in runs.items():
            times[name].append(_timings(lambda r=run: r(example), max(1, repeats // 10)))
    p50, p90 = ({name: float(np.percentile(np.concatenate(t), q)) for name, t in times.items()}
                for q in (50, 90))
    print(f"onnxruntime, {len(ensemble.members)} members stacked {p50['ensemble']:.3f} ms p50 "
          f"({p90['ensemble']:.3f} p90) vs one member {p50['one member']:.3f} ms "
          f"({p90['one member']:.3f}): x{p50['ensemble'] / p50['one member']:.2f}")


def roll_sweep(weights: str, dev_cache: Path, angles: list[float]) -> None:
    """Prints our model's real-photo scores when the camera is rolled by +-angle degrees.

    A tilted phone or webcam turns the whole picture; a level-trained model should not care.
    Each angle scores every dev photo turned both ways (``training.evaluate.rolled_both_ways``).
    """
    from training.evaluate import load_dev_cache, rolled_both_ways, score_ours

    classifier = load_form_model(weights)
    keypoints, labels, _, _ = load_dev_cache(dev_cache)
    print("real dev photos with the camera rolled (ours): angle, balanced acc. S/B, macro-F1")
    truth = np.concatenate([labels, labels])
    for angle in angles:
        # At 0 both copies are the level photos: the same scores as scoring them once.
        photos = rolled_both_ways(keypoints, angle)
        scores = score_ours(classifier, [k[None] for k in photos], truth)
        print(f"  ±{angle:4.1f}°  {scores['straight_banana_balanced_accuracy']:.3f}  "
              f"{scores['macro_f1']:.3f}")


def real_caches(folders: list[Path], cache_dir: Path = Path("cache"),
                video_clips: bool = False) -> list[Path]:
    """The BlazePose cache of each labeled data folder, built when missing.

    With ``video_clips`` also each folder's cache of its videos' clips (when it lists videos).
    """
    from training.pose_cache import build_cache, build_clip_cache, read_label_csv

    def cached(folder: Path, path: Path, build, what: str) -> Path:
        if not path.is_file():
            print(f"building {path} ({what})")
            build(folder, path)
        return path

    out = []
    for folder in folders:
        out.append(cached(folder, cache_dir / f"{folder.name}_blazepose.npz", build_cache,
                          f"BlazePose on every photo of {folder}"))
        has_videos = any(row["label"] == "video" for row in read_label_csv(folder / "labels.csv"))
        if video_clips and has_videos:
            out.append(cached(folder, cache_dir / f"{folder.name}_video_clips.npz",
                              build_clip_cache,
                              "BlazePose tracking through every labeled video range"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="weights/form_handstand.pt")
    parser.add_argument("--dev-cache", help="BlazePose cache (.npz) of the real dev photos")
    parser.add_argument("--report", help="folder for confusion matrices and calibration PNGs")
    parser.add_argument("--repeats", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-eval", action="store_true", help="latency only")
    parser.add_argument("--real", nargs="+", type=Path, metavar="DIR",
                        help="labeled real data folders (labels.csv): grouped evaluation")
    parser.add_argument("--folds", type=int, default=5, help="grouped folds (with --real)")
    parser.add_argument("--video-clips", action="store_true",
                        help="with --real: also the folders' videos as real clips, scored out "
                             "of fold apart from the photos (trained on unless --set "
                             "video_repeat=0)")
    parser.add_argument("--pretrained", nargs="+", metavar="PT",
                        help="synthetic-only checkpoints of the weights' configuration, one "
                             "per ensemble member (with --real; default: rerun the pretraining)")
    parser.add_argument("--roll-sweep", type=float, nargs="*", metavar="DEG",
                        help="also score the dev photos rolled by these angles (needs "
                             "--dev-cache; no value: 0 3 5 8 10 12)")
    from training.config import add_set_argument
    from training.evaluate import add_finetune_seeds_argument
    from training.train_form import FormTrainConfig

    add_finetune_seeds_argument(parser)
    add_set_argument(parser, FormTrainConfig)  # with --real: overrides of the weights' config
    args = parser.parse_args(argv)
    try:
        missing = [d for d in args.real or [] if not (d / "labels.csv").is_file()]
        if missing:
            print(f"error: no labels.csv in {missing[0]}", file=sys.stderr)
            return 2
        if args.real and not args.skip_eval:
            from training.evaluate import grouped_from_checkpoint

            grouped_from_checkpoint(args.weights, real_caches(args.real,
                                                              video_clips=args.video_clips),
                                    folds=args.folds,
                                    pretrained_weights=args.pretrained,
                                    config_overrides=args.overrides,
                                    finetune_seed_offsets=args.finetune_seed_offsets)
        elif not args.skip_eval:
            from training.evaluate import evaluate_weights

            if args.dev_cache and not Path(args.dev_cache).is_file():
                print(f"error: dev cache {args.dev_cache} does not exist", file=sys.stderr)
                return 2
            evaluate_weights(args.weights, Path(args.dev_cache) if args.dev_cache else None,
                             Path(args.report) if args.report else None)
        if args.roll_sweep is not None:
            if not args.dev_cache or not Path(args.dev_cache).is_file():
                print("error: --roll-sweep needs an existing --dev-cache", file=sys.stderr)
                return 2
            roll_sweep(args.weights, Path(args.dev_cache),
                       args.roll_sweep or [0.0, 3.0, 5.0, 8.0, 10.0, 12.0])
        bench_latency(args.weights, args.repeats, args.threads)
    except FormModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

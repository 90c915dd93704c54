r"""DeepHAR pose variants: size, compute, CPU latency (eager vs ONNX Runtime) and accuracy.

Per registered 2D DeepHAR variant: parameters, GFLOPs at batch 1 (torch.utils.flop_counter,
multiply-add = 2 FLOPs), median CPU latency of the network at batch 1 in eager PyTorch and in
ONNX Runtime and their ratio. With ``--data`` (the mmpose test-data folder), accuracy against
ground truth on the same person crops, next to BlazePose on those crops:

- MPII (``mpii/test_mpii.json``): the authors' evaluation crop (1.25 scale window); standard
  PCKh@0.5 pooled over the 14 joints; head size from upper neck / head top since the JSON has
  no head boxes (``training.datasets.mpii.head_sizes``).
- COCO (``coco/test_coco.json``, people with >= 8 labelled keypoints): square window of 1.25 x
  the person box; PCK@0.1 of the box's longer side over the 12 limb joints (COCO has no head
  boxes, and the canonical head joints are derived, not annotated).

DeepHAR accuracy needs weights (``--weights variant=FILE``); without them a variant's accuracy is
not measured (random weights score nothing worth printing). No DeepHAR weights trained on
real data exist in this project (MPII is not available), so state what the weights are when
quoting these numbers.

Example::

    python benchmarks/bench_pose.py --data /work/shared/data/mmpose_testdata --threads 2 \
        --weights deephar_small=runs/overfit_mpii5/best.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.models import create_model, list_models  # noqa: E402
from engine.pose.crops import crop_matrix, crop_to_image, warp_crop  # noqa: E402
from engine.runtime import compile_for_inference  # noqa: E402
from engine.skeleton import COCO_DIRECT, from_coco  # noqa: E402
from training.datasets.mpii import head_sizes, load_mpii_json  # noqa: E402
from training.metrics import pckh  # noqa: E402
from training.transforms import mpii_window  # noqa: E402

BLAZEPOSE_CROP = 384
LIMB_JOINTS = tuple(sorted(COCO_DIRECT))


def pose_variants() -> list[str]:
    """Registered 2D DeepHAR pose variants (no 3D, no action models)."""
    return [n for n in list_models("deephar") if "action" not in n and "h36m" not in n]


def gflops(model: torch.nn.Module, size: int) -> float:
    """Forward FLOPs at batch 1, in GFLOPs."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def median_latency_ms(run, example: torch.Tensor, repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``run(example)`` in milliseconds."""
    for _ in range(warmup):
        run(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(example)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def mpii_crops(data: Path):
    """(name, image, center, side, keypoints (16, 3), head size) per MPII person."""
    records = load_mpii_json(data / "mpii" / "test_mpii.json")
    sizes = head_sizes(records)
    for record, size in zip(records, sizes, strict=True):
        image = cv2.imread(str(data / "mpii" / record.image))
        center, side = mpii_window(record.center, record.scale)
        yield record.image, image, center, side, record.keypoints, size


def coco_crops(data: Path, min_keypoints: int = 8):
    """(name, image, center, side, keypoints (16, 3), box side) per well-labelled COCO person."""
    coco = json.loads((data / "coco" / "test_coco.json").read_text())
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    for ann in coco["annotations"]:
        if ann["iscrowd"] or ann["num_keypoints"] < min_keypoints:
            continue
        image = cv2.imread(str(data / "coco" / files[ann["image_id"]]))
        x, y, w, h = ann["bbox"]
        raw = np.asarray(ann["keypoints"], dtype=np.float32).reshape(17, 3)
        raw[:, 2] = raw[:, 2] > 0
        keypoints = from_coco(raw)
        center = np.array([x + w / 2.0, y + h / 2.0])
        yield files[ann["image_id"]], image, center, 1.25 * max(w, h), keypoints, max(w, h)


def blazepose_on_crop(backend, image: np.ndarray, center, side) -> np.ndarray:
    """BlazePose keypoints (16, 3) in image pixels, run on the crop (NaN when nobody found)."""
    matrix = crop_matrix(center, side, BLAZEPOSE_CROP)
    crop = warp_crop(image, matrix, BLAZEPOSE_CROP)
    backend.reset()
    result = backend.estimate(crop)
    if result.keypoints is None:
        return np.full((16, 3), np.nan, np.float32)
    out = result.keypoints.copy()
    out[:, :2] = crop_to_image(out[:, :2] / BLAZEPOSE_CROP, matrix, BLAZEPOSE_CROP)
    return out


def score(predictions: list[np.ndarray], targets: list[np.ndarray], norms: list[float],
          dataset: str) -> float:
    """PCKh@0.5 (MPII) or limb PCK@0.1 of the box side (COCO)."""
    pred = np.nan_to_num(np.stack(predictions)[..., :2], nan=1e9)
    gt = np.stack(targets)
    valid = gt[..., 2] > 0
    if dataset == "mpii":
        return pckh(pred, gt, valid, np.asarray(norms))
    # pckh with threshold t and head size s counts d <= t * s: here t = 0.1, s = box side.
    return pckh(pred, gt, valid, np.asarray(norms), threshold=0.1, joints=LIMB_JOINTS)


def accuracy_table(data: Path, predictors: dict[str, object]) -> dict[str, dict[str, float]]:
    """Accuracy of every predictor on the MPII and COCO crops."""
    results: dict[str, dict[str, float]] = {}
    for dataset, crops in (("mpii", list(mpii_crops(data))), ("coco", list(coco_crops(data)))):
        for name, predict in predictors.items():
            predictions = [predict(image, center, side) for _, image, center, side, _, _ in crops]
            targets = [kp for *_, kp, _ in crops]
            norms = [n for *_, n in crops]
            results.setdefault(name, {})[f"{dataset}_n"] = len(crops)
            results[name][dataset] = score(predictions, targets, norms, dataset)
    return results


def main(argv: list[str] | None = None) -> int:
    """Prints the benchmark table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=None, help="default: all 2D pose ones")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both runtimes")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data", type=Path, default=None, help="mmpose test-data folder")
    parser.add_argument("--weights", nargs="*", default=[], help="variant=checkpoint pairs")
    parser.add_argument("--no-blazepose", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = args.variants or pose_variants()
    weights = dict(item.split("=", 1) for item in args.weights)
    summary: dict[str, dict[str, float]] = {}
    predictors: dict[str, object] = {}
    print(f"{'variant':16s} {'input':>5s} {'params':>11s} {'GFLOPs':>7s} {'eager ms':>9s} "
          f"{'ORT ms':>8s} {'eager/ORT':>9s}")
    for name in variants:
        if name in weights:
            from engine.pose.deephar import load_pose_checkpoint

            model, _ = load_pose_checkpoint(weights[name])
        else:
            torch.manual_seed(0)
            model = create_model(name).eval()
        size = model.input_size
        example = torch.rand(1, 3, size, size) * 2 - 1
        eager = compile_for_inference(model, (example,), "eager")
        ort = compile_for_inference(model, (example,), "onnxruntime", num_threads=args.threads)
        parity = float((eager(example)[..., :2] - ort(example)[..., :2]).abs().max())
        row = {
            "input": size,
            "params": sum(p.numel() for p in model.parameters()),
            "gflops": gflops(model, size),
            "eager_ms": median_latency_ms(eager, example, args.repeats),
            "onnxruntime_ms": median_latency_ms(ort, example, args.repeats),
            "onnx_parity_max_abs": parity,
        }
        row["eager_over_onnxruntime"] = row["eager_ms"] / row["onnxruntime_ms"]
        summary[name] = row
        print(f"{name:16s} {size:5d} {row['params']:11,d} {row['gflops']:7.2f} "
              f"{row['eager_ms']:9.1f} {row['onnxruntime_ms']:8.1f} "
              f"{row['eager_over_onnxruntime']:9.2f}   (ONNX parity {parity:.1e})", flush=True)
        if name in weights:
            from engine.pose.deephar import DeepHARBackend

            backend = DeepHARBackend(weights[name], "onnxruntime", stream=False,
                                     min_confidence=0.0, num_threads=args.threads)

            def predict(image, center, side, backend=backend):
                rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                return backend.predict_crop(rgb, center, side)[0]

            predictors[f"{name} ({Path(weights[name]).name})"] = predict
    if args.data is not None:
        if not args.no_blazepose:
            from engine.pose.blazepose import BlazePoseBackend

            blaze = BlazePoseBackend(stream=False)
            predictors["blazepose_full"] = (
                lambda image, center, side: blazepose_on_crop(blaze, image, center, side)
            )
        accuracy = accuracy_table(args.data, predictors)
        print("\naccuracy on mmpose test data (same crops for every predictor)")
        print(f"{'predictor':40s} {'MPII PCKh@0.5':>14s} {'COCO limb PCK@0.1':>18s}")
        for name, values in accuracy.items():
            print(f"{name:40s} {values['mpii']:9.3f} (n={values['mpii_n']}) "
                  f"{values['coco']:11.3f} (n={values['coco_n']})")
        summary["accuracy"] = accuracy  # type: ignore[assignment]
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

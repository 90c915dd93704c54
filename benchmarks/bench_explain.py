"""Nearest-good-pose benchmark: how often the counterfactual turns banana into straight, how far.

Usage::

    python benchmarks/bench_explain.py [--weights weights/form_handstand.pt] [--clips 60]
        [--dev /work/shared/data/handstand_dev --cache cache/handstand_dev_blazepose.npz]
        [--out-dir cache/explain]

On synthetic banana clips (side views, ``training.synth.generate_clips``) with the shipped form
model it prints: the share of clips whose corrected clip the classifier calls straight, the median
over clips of the median / mean / largest joint displacement in % of body height, steps and
time per explanation. Baseline in the same run: replacing the athlete by the averaged ideal pose
fitted over them (``engine.ideal``), the obvious "show the perfect pose" answer. With ``--dev``
the same on the real banana photos of the dev set (BlazePose keypoints from the lead's cache); with
``--out-dir`` it writes their explanation images there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.explain import nearest_good_pose  # noqa: E402
from engine.form import DEFAULT_FORM_WEIGHTS, load_form_model  # noqa: E402
from engine.ideal import body_height, load_ideal_pose  # noqa: E402
from engine.repose import skeleton_mask  # noqa: E402
from engine.verdict import BANANA_INDEX  # noqa: E402


def _summary(name: str, rows: list[dict]) -> None:
    if not rows:
        print(f"{name}: no cases")
        return
    turned = np.mean([r["straight"] for r in rows])
    median = np.median([r["median"] for r in rows])
    mean = np.median([r["mean"] for r in rows])
    largest = np.median([r["max"] for r in rows])
    line = (f"{name:<36} n={len(rows):3d}  straight after {turned:6.1%}  joint displacement "
            f"(% of height) median {median:4.1f} mean {mean:4.1f} largest {largest:5.1f}")
    if "steps" in rows[0]:
        line += (f"  steps {np.median([r['steps'] for r in rows]):4.0f}"
                 f"  {np.median([r['seconds'] for r in rows]) * 1000:6.0f} ms")
    print(line)


def _counterfactual(classifier, clip: np.ndarray) -> dict:
    start = time.perf_counter()
    explanation = nearest_good_pose(clip, classifier.straight_scorer())
    seconds = time.perf_counter() - start
    verdict = classifier.predict(explanation.corrected_clip)
    if verdict.label != "straight":
        print(f"  not turned: {verdict.label} {verdict.reason} (P(straight) "
              f"{explanation.straight_before:.2f} -> {explanation.straight_after:.2f}, "
              f"{explanation.steps} steps)")
    return {
        "straight": verdict.label == "straight",
        "median": float(np.median(explanation.displacement_percent)),
        "mean": float(np.mean(explanation.displacement_percent)),
        "max": float(explanation.displacement_percent.max()),
        "steps": explanation.steps,
        "seconds": seconds,
        "explanation": explanation,
    }


def _ideal_baseline(classifier, ideal, clip: np.ndarray) -> dict | None:
    ghost = ideal.align(clip[-1])
    if ghost is None:
        return None
    replaced = clip.copy()
    replaced[-1, :, :2] = ghost[:, :2]
    # The whole clip holds the ghost's shape, moved with the athlete's hands frame by frame.
    for t in range(len(clip) - 1):
        frame_ghost = ideal.align(clip[t])
        if frame_ghost is not None:
            replaced[t, :, :2] = frame_ghost[:, :2]
    height = float(body_height(clip[-1]))
    displacement = 100.0 * np.linalg.norm(ghost[:, :2] - clip[-1, :, :2], axis=-1) / height
    verdict = classifier.predict(replaced)
    return {"straight": verdict.label == "straight", "median": float(np.median(displacement)),
            "mean": float(np.mean(displacement)), "max": float(displacement.max())}


def synthetic(classifier, ideal, clips: int, seed: int) -> None:
    """Counterfactual and ideal baseline on synthetic side-view banana clips."""
    from training.synth import generate_clips

    data = generate_clips(6 * clips, clip_length=classifier.clip_length,
                          rng=np.random.default_rng(seed))
    labels = np.asarray(data.labels)
    chosen = np.flatnonzero((labels == BANANA_INDEX) & np.asarray(data.arch_visible))
    chosen = chosen[:clips]
    keypoints = np.asarray(data.keypoints, dtype=np.float32)[chosen]
    called_banana = [classifier.predict(clip).label == "banana" for clip in keypoints]
    print(f"synthetic banana clips: {len(chosen)} (model calls {np.mean(called_banana):.0%} "
          f"of them banana)")
    rows = [_counterfactual(classifier, clip) for clip in keypoints]
    _summary("counterfactual (clip)", rows)
    _summary("counterfactual, model said banana",
             [r for r, b in zip(rows, called_banana, strict=True) if b])
    if ideal is not None:
        baseline = [_ideal_baseline(classifier, ideal, clip) for clip in keypoints]
        _summary("baseline: ideal pose over athlete", [b for b in baseline if b is not None])
    if len(keypoints):
        live_view(classifier, keypoints[0])


def live_view(classifier, clip: np.ndarray, frames: int = 60) -> None:
    """Per-frame cost of the window's corrected view on a held pose with jitter (640x480)."""
    from coach.explain import LiveCorrection

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    pose = clip[-1].copy()
    center = np.nanmedian(pose[:, :2], axis=0)
    pose[:, :2] += np.array([320.0, 240.0]) - center
    live = LiveCorrection(classifier)
    times = []
    for _ in range(frames):
        jittered = pose.copy()
        jittered[:, :2] += rng.normal(0.0, 1.0, (16, 2))
        start = time.perf_counter()
        live.view(bgr, jittered)
        times.append(time.perf_counter() - start)
    times = np.array(times[1:]) * 1000.0
    print(f"corrected view (window toggle, 640x480, held pose): p50 {np.median(times):.0f} ms, "
          f"p95 {np.percentile(times, 95):.0f} ms per frame over {len(times)} frames")


def real(classifier, ideal, dev: Path, cache: Path, out_dir: Path | None) -> None:
    """Counterfactual on the real banana photos of the dev set (cached BlazePose keypoints)."""
    data = np.load(cache, allow_pickle=True)
    files = data["files"].astype(str)
    labels = data["labels"].astype(str)
    keypoints = data["keypoints"].astype(np.float32)
    chosen = [i for i in np.flatnonzero(labels == "banana") if np.isfinite(keypoints[i]).all()]
    rows, baseline = [], []
    for i in chosen:
        clip = keypoints[i][None]
        before = classifier.predict(clip)
        row = _counterfactual(classifier, clip)
        rows.append(row)
        if ideal is not None:
            result = _ideal_baseline(classifier, ideal, clip)
            if result is not None:
                baseline.append(result)
        explanation = row["explanation"]
        print(f"  {files[i]}: model {before.label} (straight {explanation.straight_before:.0%})"
              f" -> straight {explanation.straight_after:.0%}, {row['steps']} steps; "
              + "; ".join(explanation.cues))
        if out_dir is not None:
            import cv2

            from coach.explain import compose_explanation, write_image_atomic

            bgr = cv2.imread(str(dev / files[i]))
            if bgr is None:
                print(f"  cannot read {dev / files[i]}")
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            image = compose_explanation(bgr, clip, classifier, ideal=ideal or False,
                                        explanation=explanation)
            write_image_atomic(out_dir / (Path(files[i]).stem + "_explain.png"), image)
    _summary("real banana photos: counterfactual", rows)
    _summary("real banana photos: ideal baseline", baseline)
    images(classifier, dev, files, keypoints, chosen, rows)


def folded_share(bgr_shape, original: np.ndarray, corrected: np.ndarray) -> float:
    """Share of the warped person (``engine.warp``) drawn from folded (flipped) triangles."""
    import cv2
    from scipy.spatial import Delaunay

    from engine.warp import control_points

    src, dst = control_points(original, corrected, (bgr_shape[1], bgr_shape[0]))
    simplices = Delaunay(dst).simplices

    def signed_area(triangles):
        a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    flipped = np.sign(signed_area(src[simplices])) != np.sign(signed_area(dst[simplices]))
    person = skeleton_mask(corrected, bgr_shape[:2])
    folded = np.zeros(bgr_shape[:2], np.uint8)
    for triangle in dst[simplices][flipped]:
        cv2.fillConvexPoly(folded, np.round(triangle).astype(np.int32), 1)
    return float((folded.astype(bool) & person).sum()) / max(1, int(person.sum()))


def images(classifier, dev: Path, files, keypoints, chosen, rows) -> None:
    """The corrected photo itself: artifacts, and whether BlazePose + the model read it straight.

    Before: the piecewise-affine warp (share of the person drawn from folded triangles). After:
    part-based re-posing (share of the moved silhouette that is a seam or hole; corrections too
    large to show are counted and not drawn). Both corrected photos go through BlazePose again
    and the form model: how often the picture shown reads straight.
    """
    import cv2

    from coach.explain import person_mask
    from engine.pose.blazepose import BlazePoseBackend
    from engine.repose import repose
    from engine.warp import warp_to_pose

    backend = BlazePoseBackend(stream=False)
    folded, seams, unmoved, too_large, reads = [], [], [], 0, {"warp": [], "repose": []}
    for i, row in zip(chosen, rows, strict=True):
        bgr = cv2.imread(str(dev / files[i]))
        if bgr is None:
            continue
        explanation = row["explanation"]
        warped = warp_to_pose(bgr, explanation.original, explanation.corrected)
        folded.append(folded_share(bgr.shape, explanation.original, explanation.corrected))
        reposed = repose(bgr, explanation.original, explanation.corrected, person_mask(bgr))
        for name, image in (("warp", warped), ("repose", None if reposed.too_large
                                                else reposed.image)):
            if image is None:
                continue
            found = backend.estimate(image).keypoints
            verdict = classifier.predict(found[None]) if found is not None else None
            reads[name].append(verdict is not None and verdict.label == "straight")
        if reposed.too_large:
            too_large += 1
        else:
            seams.append(reposed.hole_share)
            unmoved.append(reposed.unmoved_hole_share)
    backend.close()
    print(f"corrected photos of {len(folded)} real bananas: warp: person from folded triangles "
          f"median {np.median(folded):.1%} (max {np.max(folded):.1%}), re-estimated straight "
          f"{np.mean(reads['warp']):.0%}; part-based re-posing: {too_large} too large to show, "
          f"seams/holes median {np.median(seams) if seams else float('nan'):.1%} (max "
          f"{np.max(seams) if seams else float('nan'):.1%}; the unmoved cut-out measures "
          f"{np.median(unmoved) if unmoved else float('nan'):.1%}), re-estimated straight "
          f"{np.mean(reads['repose']) if reads['repose'] else float('nan'):.0%} of "
          f"{len(reads['repose'])} shown")


def main() -> None:
    """Runs the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_FORM_WEIGHTS)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--dev", type=Path, help="handstand_dev folder (real photos)")
    parser.add_argument("--cache", type=Path, default=Path("cache/handstand_dev_blazepose.npz"))
    parser.add_argument("--out-dir", type=Path, help="write real-photo explanations here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    classifier = load_form_model(args.weights)
    ideal = load_ideal_pose()
    synthetic(classifier, ideal, args.clips, args.seed)
    if args.dev is not None:
        real(classifier, ideal, args.dev, args.cache, args.out_dir)


if __name__ == "__main__":
    main()

"""Does BlazePose find the rendered people? Detection rate on rendered synthetic frames.

Renders random synthetic clips (all four labels, all camera views) with
``training.synth.render`` and runs ``engine.pose.blazepose.BlazePoseBackend`` on every frame,
in image mode (each frame on its own, with the 0/180 degree handling). Cameras keep the
whole person in view (no tiny or cut-off people, see RENDER_CAMERA). Prints the detection
rate (goal >= 0.90) overall and per label, and how close the detected keypoints are to the
projected truth (PCK at 0.2 of the torso length, visible joints).

Usage:
    python benchmarks/bench_render_detection.py --clips 60 --frames 2 [--save-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import skeleton  # noqa: E402
from engine.form import FORM_LABELS  # noqa: E402
from training.synth import SynthConfig, generate_clips  # noqa: E402
from training.synth.body import J  # noqa: E402
from training.synth.camera import CameraConfig  # noqa: E402
from training.synth.render import render_frames  # noqa: E402

# Rendered image data keeps the whole person in view at a usable size (the keypoint generator
# also makes tiny and cut-off people, which no detector finds reliably).
RENDER_CAMERA = CameraConfig(small_person_probability=0.0, out_of_frame_probability=0.0,
                             thumbnail_probability=0.0, fill=(0.6, 0.95))


def pck(found: np.ndarray, truth: np.ndarray, threshold: float = 0.2) -> float:
    """Share of limb joints within ``threshold`` torso lengths of the truth."""
    torso = np.linalg.norm(truth[skeleton.THORAX, :2] - truth[skeleton.PELVIS, :2])
    limbs = list(skeleton.BLAZEPOSE_DIRECT)
    error = np.linalg.norm(found[limbs, :2] - truth[limbs, :2], axis=-1)
    return float(np.mean(error <= threshold * max(torso, 1e-6)))


def main(argv: list[str] | None = None) -> int:
    """Prints detection rate and PCK of BlazePose on rendered frames."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--frames", type=int, default=2, help="frames per clip (1 s apart)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", type=Path, help="write the rendered frames here")
    args = parser.parse_args(argv)
    from engine.pose.base import PoseBackendError
    from engine.pose.blazepose import BlazePoseBackend

    try:
        backend = BlazePoseBackend(stream=False)
    except PoseBackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    clip_length = 1 + 30 * (args.frames - 1)
    clips = generate_clips(args.clips, clip_length=clip_length, rng=rng,
                           config=SynthConfig(class_weights=(0.3, 0.3, 0.2, 0.2),
                                              camera=RENDER_CAMERA))
    picks = np.arange(0, clip_length, 30)
    found = {name: [] for name in FORM_LABELS}
    by_view = {"face towards camera": [], "face away (back/side)": []}
    scores, seconds = [], []
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    for i in range(args.clips):
        cameras = clips.cameras
        frames = dict(zip(picks, render_frames(
            clips.points_3d[i, picks], cameras.rotation[i, picks], cameras.position[i],
            float(cameras.focal[i]), tuple(int(v) for v in cameras.image_sizes[i]), rng=rng,
            height=float(clips.dims[i, 0])), strict=True))
        for t in picks:
            started = time.perf_counter()
            result = backend.estimate(frames[t])
            seconds.append(time.perf_counter() - started)
            label = FORM_LABELS[clips.frame_labels[i, t]]
            found[label].append(result.found)
            points = clips.points_3d[i, t].astype(np.float64)
            rotation = cameras.rotation[i, t]
            depth = (points - cameras.position[i]) @ rotation[2]
            facing = depth[J["nose"]] < depth[J["head_center"]] - 0.02
            by_view["face towards camera" if facing else "face away (back/side)"].append(
                result.found)
            if result.found:
                scores.append(pck(result.keypoints, clips.clean_keypoints[i, t]))
            if args.save_dir:
                tag = "found" if result.found else "missed"
                cv2.imwrite(str(args.save_dir / f"clip{i:03d}_t{t:02d}_{label}_{tag}.jpg"),
                            frames[t])
    backend.close()
    total = sum(len(v) for v in found.values())
    hits = sum(sum(v) for v in found.values())
    print(f"rendered frames: {total} ({args.clips} clips x {len(picks)}), "
          f"BlazePose {np.mean(seconds) * 1000:.0f} ms/frame")
    for name, values in found.items():
        if values:
            print(f"  {name:16s} detected {np.mean(values):.3f} ({sum(values)}/{len(values)})")
    for name, values in by_view.items():
        if values:
            print(f"  {name:22s} detected {np.mean(values):.3f} ({sum(values)}/{len(values)})")
    print(f"detection rate: {hits / max(total, 1):.3f} (goal >= 0.90)")
    if scores:
        print(f"PCK@0.2 torso of detected limb joints vs projected truth: {np.mean(scores):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

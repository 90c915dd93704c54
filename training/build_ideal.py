"""Builds the averaged ideal pose (``weights/ideal_pose.npz`` and its card) from straight poses.

Usage::

    python -m training.build_ideal [--clips 600] [--seed 0] [--store labels.db] [--out PATH]

Straight-labeled frames of the synthetic generator (``training.synth.generate_clips``, the clean
keypoints, views that can show the arch, i.e. side-ish views) and, with ``--store``, the user's
straight-labeled poses are averaged by generalized Procrustes analysis with reflections
(``engine.ideal.average_poses``). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.ideal import (
    DEFAULT_IDEAL_POSE,
    average_poses,
    body_height,
    mirror_normalized,
    normalize_pose,
    save_ideal_pose,
    side_profile,
    similarity_fit,
)
from engine.verdict import STRAIGHT_INDEX, STRAIGHT_LABEL

CLIP_LENGTH = 16
# Consecutive frames of a clip are nearly the same pose; every few frames is enough.
FRAME_STRIDE = 4
# User poses enter only when every joint is seen at least this well.
MIN_STORE_CONFIDENCE = 0.3


def synthetic_straight_poses(clips: int, seed: int) -> tuple[np.ndarray, dict]:
    """Straight-labeled side-view frames of the synthetic generator.

    Args:
        clips: clips to generate.
        seed: seed of the generator's ``np.random.Generator``.

    Returns:
        ``(poses (N, 16, 3) pixels, info for the card)``.
    """
    from training.synth import generate_clips

    data = generate_clips(clips, clip_length=CLIP_LENGTH, rng=np.random.default_rng(seed))
    keypoints = np.asarray(data.clean_keypoints, dtype=np.float32)
    frame_labels = np.asarray(data.frame_labels)
    side_view = np.asarray(data.arch_visible, dtype=bool)
    chosen = (frame_labels == STRAIGHT_INDEX) & side_view[:, None]
    chosen[:, np.arange(CLIP_LENGTH) % FRAME_STRIDE != FRAME_STRIDE - 1] = False
    poses = keypoints[chosen]
    poses = poses[np.isfinite(poses[..., :2]).all((1, 2))]
    info = {
        "generator": "training.synth.generate_clips (clean_keypoints)",
        "clips": clips,
        "clip_length": CLIP_LENGTH,
        "seed": seed,
        "frame_stride": FRAME_STRIDE,
        "selection": "frame label straight and arch_visible (side-ish view)",
        "synthetic_poses": int(len(poses)),
    }
    return poses, info


def store_straight_poses(db_path: Path) -> tuple[np.ndarray, dict]:
    """Straight-labeled poses of the user's label store with every joint seen.

    Args:
        db_path: SQLite label store (``training.store``).

    Returns:
        ``(poses (N, 16, 3) pixels, info for the card)``.
    """
    from training.labeled_set import load_labeled_set

    labeled = load_labeled_set(db_path)
    keypoints = np.asarray(labeled.keypoints, dtype=np.float32)
    labels = np.asarray(labeled.labels).astype(str)
    seen = np.isfinite(keypoints).all((1, 2)) & (
        np.nan_to_num(keypoints[..., 2]).min(1) >= MIN_STORE_CONFIDENCE
    )
    poses = keypoints[(labels == STRAIGHT_LABEL) & seen]
    return poses, {"store": str(db_path), "store_poses": int(len(poses))}


def spread_percent(poses: np.ndarray, ideal: np.ndarray) -> float:
    """RMS distance of the aligned poses' joints from the ideal, in % of body height."""
    squared = []
    for pose in poses:
        normalized = normalize_pose(pose).astype(np.float64)
        best = np.inf
        for candidate in (normalized, mirror_normalized(normalized).astype(np.float64)):
            scale, rotation, translation = similarity_fit(candidate, ideal)
            moved = scale * candidate @ rotation.T + translation
            best = min(best, float(((moved - ideal) ** 2).sum(1).mean()))
        squared.append(best)
    return 100.0 * float(np.sqrt(np.mean(squared)))


def main(argv: list[str] | None = None) -> int:
    """Builds the ideal pose; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=600, help="synthetic clips to generate")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--store", type=Path, help="also use straight poses of this label store")
    parser.add_argument("--out", type=Path, default=DEFAULT_IDEAL_POSE, help="npz to write")
    args = parser.parse_args(argv)
    poses, info = synthetic_straight_poses(args.clips, args.seed)
    if args.store is not None:
        if not args.store.exists():
            print(f"error: label store not found: {args.store}", file=sys.stderr)
            return 3
        from training.store import StoreError

        try:
            user_poses, user_info = store_straight_poses(args.store)
        except StoreError as error:
            print(f"error: {error}", file=sys.stderr)
            return 3
        poses = np.concatenate([poses, user_poses]) if len(user_poses) else poses
        info.update(user_info)
    poses = poses[body_height(poses) > 1e-3]
    if len(poses) == 0:
        print("error: no straight poses to average", file=sys.stderr)
        return 1
    ideal = side_profile(average_poses(poses))
    command = "python -m training.build_ideal " + " ".join(
        ["--clips", str(args.clips), "--seed", str(args.seed)]
        + (["--store", str(args.store)] if args.store is not None else [])
    )
    card = {
        "name": "ideal_pose",
        "description": (
            "Averaged straight handstand (side view) in a normalized frame: wrists' midpoint at "
            "the origin, hands-to-ankles line pointing to -y (image up), body height "
            "(head top to ankles along the bones) 1. Drawn over the athlete by "
            "engine.ideal.IdealPose.align (similarity fit anchored at wrists and shoulders, "
            "mirrored to the athlete's facing)."
        ),
        "how_built": (
            "generalized Procrustes analysis with reflections (engine.ideal.average_poses) "
            "over straight-labeled poses, then left and right joints merged into a side "
            "profile (engine.ideal.side_profile)"
        ),
        "data": info,
        "poses": int(len(poses)),
        "spread_rms_percent_of_height": round(spread_percent(poses, ideal.astype(np.float64)), 3),
        "command": command,
    }
    path = save_ideal_pose(ideal, args.out, card)
    print(f"wrote {path} from {len(poses)} poses (spread {card['spread_rms_percent_of_height']} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

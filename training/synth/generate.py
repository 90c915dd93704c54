"""Synthetic keypoint clips: motions -> 3D kinematics -> cameras -> BlazePose-like keypoints."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.verdict import BANANA_INDEX, NOT_HANDSTAND_INDEX, OTHER_HANDSTAND_INDEX, STRAIGHT_INDEX
from training.synth import motions, poses
from training.synth.body import D, J, P, sample_bodies, world_points
from training.synth.camera import CameraConfig, Cameras, project, sample_cameras
from training.synth.labels import (
    arch_visible,
    label_frames,
)
from training.synth.noise import NoiseConfig, apply_noise, landmark_confidence, to_canonical

# BlazePose-33 landmark index of each 3D point the noise model reads.
_BLAZE_FROM_POINT: dict[int, str] = {
    0: "nose", 7: "l_ear", 8: "r_ear", 11: "l_shoulder", 12: "r_shoulder", 13: "l_elbow",
    14: "r_elbow", 15: "l_wrist", 16: "r_wrist", 23: "l_hip", 24: "r_hip", 25: "l_knee",
    26: "r_knee", 27: "l_ankle", 28: "r_ankle",
}  # fmt: skip


@dataclass(frozen=True)
class SynthConfig:
    """What ``generate_clips`` produces.

    Attributes:
        class_weights: target share of each label in ``FORM_LABELS`` order.
        camera: camera placement distribution.
        noise: keypoint noise model.
        max_rounds: rejection rounds to hit the target label before accepting any clear one.
    """

    class_weights: tuple[float, float, float, float] = (0.27, 0.27, 0.18, 0.28)
    camera: CameraConfig = field(default_factory=CameraConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    max_rounds: int = 8


@dataclass
class SynthClips:
    """A batch of synthetic clips (N clips of T frames).

    Attributes:
        keypoints: (N, T, 16, 3) float32 pixels with BlazePose-like noise and confidence;
            frames with no person found are all zeros.
        clean_keypoints: (N, T, 16, 3) float32 exact projections, confidence 1.
        image_sizes: (N, 2) int (width, height).
        labels: (N,) int index into ``FORM_LABELS`` (label of the last frame).
        frame_labels: (N, T) int label of every frame.
        arch_visible: (N,) bool: the camera looks from far enough to the side to show an arch.
        groups: (N,) int motion/person id.
        points_3d: (N, T, NUM_POINTS, 3) float32 world points (metres, y up).
        params: (N, T, NUM_PARAMS) float32 joint angles.
        dims: (N, len(DIM_NAMES)) float32 body dimensions.
        cameras: the cameras (for rendering the same clips).
    """

    keypoints: np.ndarray
    clean_keypoints: np.ndarray
    image_sizes: np.ndarray
    labels: np.ndarray
    frame_labels: np.ndarray
    arch_visible: np.ndarray
    groups: np.ndarray
    points_3d: np.ndarray
    params: np.ndarray
    dims: np.ndarray
    cameras: Cameras


def _motion_for(target: int, n: int, rng: np.random.Generator):
    """Builds keyframed motions (or walking) for ``n`` clips of one target label."""
    kind = rng.uniform(size=n)
    if target in (STRAIGHT_INDEX, BANANA_INDEX):
        straight = target == STRAIGHT_INDEX
        family = poses.handstand_straight if straight else poses.handstand_banana
        other = poses.handstand_banana if straight else poses.handstand_straight
        pose = motions.random_mirror(family(n, rng), rng)
        start = np.where((kind < 0.2)[:, None], motions.random_mirror(other(n, rng), rng), pose)
        choice = np.where(kind < 0.6, 0, np.where(kind < 0.85, 1, 2))
        return [
            (choice == 0, motions.hold(pose, start, rng)),
            (choice == 1, motions.kick_up(pose, rng, "hold")),
            (choice == 2, motions.come_down(pose, rng, "hold")),
        ]
    if target == OTHER_HANDSTAND_INDEX:
        pose = motions.sample_family(poses.OTHER_HANDSTAND_FAMILIES, n, rng)
        line = motions.sample_family(poses.HANDSTAND_FAMILIES, n, rng)
        choice = np.where(kind < 0.55, 0, np.where(kind < 0.7, 1, np.where(kind < 0.85, 2, 3)))
        return [
            (choice == 0, motions.hold(pose, None, rng)),
            (choice == 1, motions.kick_up(line, rng, "kick")),
            (choice == 2, motions.come_down(line, rng, "kick")),
            (choice == 3, motions.kick_up(pose, rng, "hold")),
        ]
    pose = motions.sample_family(poses.NOT_HANDSTAND_FAMILIES, n, rng)
    pose_b = motions.sample_family(poses.NOT_HANDSTAND_FAMILIES, n, rng)
    line = motions.sample_family(poses.HANDSTAND_FAMILIES, n, rng)
    start = np.where((kind < 0.15)[:, None], pose_b, pose)
    choice = np.where(kind < 0.72, 0, np.where(kind < 0.82, 1, np.where(kind < 0.91, 2, 3)))
    return [
        (choice == 0, motions.hold(pose, start, rng)),
        (choice == 1, motions.walk(n, rng)),
        (choice == 2, motions.kick_up(line, rng, "stand")),
        (choice == 3, motions.come_down(line, rng, "stand")),
    ]


def _params_for(target: int, n: int, clip_length: int, rng: np.random.Generator) -> np.ndarray:
    """(n, T, NUM_PARAMS) joint angles of ``n`` clips aimed at ``target``."""
    out = np.zeros((n, clip_length, len(P)))
    yaw = rng.uniform(0.0, 360.0, n)
    offsets = np.arange(clip_length) / motions.FPS
    offsets = offsets - offsets[-1]
    for mask, motion in _motion_for(target, n, rng):
        if not mask.any():
            continue
        if isinstance(motion, tuple):  # walking
            base, frequency, end_range = motion
            base = base[mask]
            base[:, P["yaw"]] += yaw[mask]
            end = rng.uniform(end_range[mask, 0], end_range[mask, 1])
            out[mask] = motions.evaluate_walk(base, frequency[mask], end[:, None] + offsets, rng)
            continue
        sub = motions.Motion(motion.times[mask], motion.keys[mask].copy(),
                             motion.end_range[mask], motion.sway[mask])
        sub.keys[..., P["yaw"]] += yaw[mask, None]
        low, high = sub.end_range[:, 0], np.maximum(sub.end_range[:, 1], sub.end_range[:, 0])
        end = rng.uniform(low, high)
        out[mask] = motions.evaluate(sub, end[:, None] + offsets, rng)
    return out


def _facing(points: np.ndarray) -> np.ndarray:
    """(N, NUM_POINTS, 3) -> (N, 3) horizontal unit vector the chest faces."""
    chest = points[:, J["chest_front"]] - points[:, J["thorax"]]
    lateral = points[:, J["l_hip"]] - points[:, J["r_hip"]]
    fallback = np.cross(lateral, np.array([0.0, 1.0, 0.0]))
    chest[:, 1] = 0.0
    fallback[:, 1] = 0.0
    chest_norm = np.linalg.norm(chest, axis=-1, keepdims=True)
    facing = np.where(chest_norm > 0.3 * np.linalg.norm(points[:, J["chest_front"]]
                                                        - points[:, J["thorax"]], axis=-1,
                                                        keepdims=True), chest, fallback)
    return facing / np.maximum(np.linalg.norm(facing, axis=-1, keepdims=True), 1e-9)


def _landmarks(points: np.ndarray) -> np.ndarray:
    """(..., NUM_POINTS, 3) -> (..., 33, 3) with the BlazePose landmarks the skeleton reads."""
    out = np.zeros(points.shape[:-2] + (33, 3))
    for blaze, name in _BLAZE_FROM_POINT.items():
        out[..., blaze, :] = points[..., J[name], :]
    return out


CHUNK_SIZE = 2048


def generate_clips(n: int, *, clip_length: int, rng: np.random.Generator,
                   config: SynthConfig | None = None) -> SynthClips:
    """Generates ``n`` labeled synthetic keypoint clips.

    Each clip follows one person through a motion (a hold, a kick-up, a come-down, walking,
    standing, yoga poses, other inversions and arm balances) seen by one camera at 30 fps.
    Labels come from the clean 3D pose of each frame (``training.synth.labels``); clips never
    end on a frame inside the margin band between two labels.

    Args:
        n: number of clips.
        clip_length: frames per clip (T >= 1).
        rng: random generator; the output is a pure function of its state.
        config: generator settings.

    Returns:
        SynthClips with keypoints (N, T, 16, 3) float32 in image pixels.
    """
    config = config or SynthConfig()
    if clip_length < 1 or n < 0:
        raise ValueError(f"need n >= 0 and clip_length >= 1, got n={n}, clip_length={clip_length}")
    chunks = [_generate_chunk(min(CHUNK_SIZE, n - start), clip_length, rng, config)
              for start in range(0, max(n, 1), CHUNK_SIZE)]
    if n == 0:
        chunks = [_take(chunks[0], slice(0, 0))]
    return _concatenate(chunks)


def _take(clips: SynthClips, index) -> SynthClips:
    cams = clips.cameras
    fields = {name: getattr(clips, name)[index] for name in _ARRAY_FIELDS}
    return SynthClips(**fields, cameras=Cameras(cams.rotation[index], cams.position[index],
                                                cams.focal[index], cams.image_sizes[index]))


_ARRAY_FIELDS = ("keypoints", "clean_keypoints", "image_sizes", "labels", "frame_labels",
                 "arch_visible", "groups", "points_3d", "params", "dims")


def _concatenate(chunks: list[SynthClips]) -> SynthClips:
    offset = 0
    for chunk in chunks:
        chunk.groups = chunk.groups + offset
        offset += len(chunk.labels)
    fields = {name: np.concatenate([getattr(c, name) for c in chunks]) for name in _ARRAY_FIELDS}
    cameras = Cameras(*(np.concatenate([getattr(c.cameras, name) for c in chunks])
                        for name in ("rotation", "position", "focal", "image_sizes")))
    return SynthClips(**fields, cameras=cameras)


def _generate_chunk(n: int, clip_length: int, rng: np.random.Generator,
                    config: SynthConfig) -> SynthClips:
    weights = np.asarray(config.class_weights, dtype=float)
    if weights.shape != (4,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"class_weights must be 4 non-negative numbers, got {weights}")
    targets = rng.choice(4, size=n, p=weights / weights.sum())
    dims = sample_bodies(n, rng)
    params = np.zeros((n, clip_length, len(P)))
    labels = np.full(n, -1)
    pending = np.arange(n)
    for round_index in range(config.max_rounds + 4):
        if pending.size == 0:
            break
        for target in range(4):
            idx = pending[targets[pending] == target]
            if idx.size:
                params[idx] = _params_for(target, idx.size, clip_length, rng)
        last = world_points(params[pending, -1], dims[pending])
        frame_label, ambiguous = label_frames(last, dims[pending, D["height"]])
        strict = round_index < config.max_rounds
        ok = ~ambiguous & ((frame_label == targets[pending]) | (not strict))
        labels[pending[ok]] = frame_label[ok]
        pending = pending[~ok]
    if pending.size:  # ambiguous even after all rounds: keep the nearest label
        last = world_points(params[pending, -1], dims[pending])
        labels[pending] = label_frames(last, dims[pending, D["height"]])[0]

    points = world_points(params, dims[:, None, :])
    frame_labels, _ = label_frames(points, dims[:, None, D["height"]])
    frame_labels[:, -1] = labels
    facing = _facing(points[:, -1])
    side_bias = np.where(labels == NOT_HANDSTAND_INDEX, config.camera.side_bias_not_handstand,
                         config.camera.side_bias)
    cameras = sample_cameras(points, np.rad2deg(np.arctan2(facing[:, 0], facing[:, 2])), rng,
                             config.camera, side_bias)

    landmarks_3d = _landmarks(points)
    pixels, depth = project(landmarks_3d, cameras.rotation, cameras.position, cameras.focal,
                            cameras.image_sizes)
    confidence = landmark_confidence(pixels, depth, cameras.image_sizes, rng, config.noise)
    noisy, dropped = apply_noise(pixels, confidence, rng, config.noise)
    clean = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)

    pelvis = points[:, -1, J["pelvis"]]
    view = pelvis - cameras.position
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    lateral = points[:, -1, J["l_hip"]] - points[:, -1, J["r_hip"]]
    lateral /= np.maximum(np.linalg.norm(lateral, axis=-1, keepdims=True), 1e-9)

    return SynthClips(
        keypoints=to_canonical(noisy, dropped),
        clean_keypoints=to_canonical(clean),
        image_sizes=cameras.image_sizes.astype(np.int64),
        labels=labels.astype(np.int64),
        frame_labels=frame_labels.astype(np.int64),
        arch_visible=arch_visible(view, lateral),
        groups=np.arange(n, dtype=np.int64),
        points_3d=points.astype(np.float32),
        params=params.astype(np.float32),
        dims=dims.astype(np.float32),
        cameras=cameras,
    )

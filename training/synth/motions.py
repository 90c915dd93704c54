"""Motions at 30 fps: keyframed joint-angle trajectories with balance sway.

A motion is a set of keyframes (times in seconds, pose vectors) per clip, evaluated at the
clip's frame times with eased interpolation. Builders return the keyframes and the range of
times in which a clip of the wanted kind should end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth import poses
from training.synth.body import NUM_PARAMS, PARAM_NAMES, P

FPS = 30.0

_MIRROR = np.array([
    P["l" + name[1:]] if name.startswith("r_") else P["r" + name[1:]]
    if name.startswith("l_") else P[name]
    for name in PARAM_NAMES
])


@dataclass
class Motion:
    """Keyframed motions of a batch of clips.

    Attributes:
        times: (n, K) keyframe times in seconds, non-decreasing.
        keys: (n, K, NUM_PARAMS) keyframe poses.
        end_range: (n, 2) times within which the clip's last frame should fall.
        sway: (n,) sway amplitude in degrees (applied where ``balance`` is on).
    """

    times: np.ndarray
    keys: np.ndarray
    end_range: np.ndarray
    sway: np.ndarray


def mirror(pose: np.ndarray) -> np.ndarray:
    """Swaps the right and left joint angles of (..., NUM_PARAMS) poses."""
    out = pose[..., _MIRROR].copy()
    out[..., P["roll"]] *= -1
    out[..., P["spine_lat"]] *= -1
    return out


def random_mirror(pose: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirrors a random half of (n, NUM_PARAMS) poses."""
    flip = rng.uniform(size=pose.shape[0]) < 0.5
    return np.where(flip[:, None], mirror(pose), pose)


def sample_family(families: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples ``n`` poses from a random family of ``families`` each, randomly mirrored."""
    names = list(families)
    choice = rng.integers(0, len(names), n)
    out = np.zeros((n, NUM_PARAMS))
    for index, name in enumerate(names):
        mask = choice == index
        if mask.any():
            out[mask] = families[name](int(mask.sum()), rng)
    return random_mirror(out, rng)


def _stack(times: list[np.ndarray], keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack(times, axis=1), np.stack(keys, axis=1)


def hold(target: np.ndarray, start: np.ndarray | None, rng: np.random.Generator,
         duration: tuple[float, float] = (1.0, 6.0)) -> Motion:
    """A held pose, optionally preceded by another pose it moves from (e.g. a correction)."""
    n = target.shape[0]
    length = rng.uniform(*duration, n)
    if start is None:
        start = target
    change = rng.uniform(0.2, 0.8, n) * length
    move = rng.uniform(0.3, 1.2, n)
    times, keys = _stack([np.zeros(n), change, change + move, change + move + length],
                         [start, start, target, target])
    end = np.stack([change + move + 0.1, change + move + length], axis=-1)
    return Motion(times, keys, end, rng.uniform(0.3, 2.5, n))


def kick_frames(hold_pose: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Key poses of a kick-up into ``hold_pose``: stand, lunge, reach, hands down, kick.

    The right leg leads (bends and pushes off), the left one kicks up first.
    """
    n = hold_pose.shape[0]
    standing = poses.stand(n, rng)
    for side in ("r", "l"):
        standing[:, P[f"{side}_sh_flex"]] = rng.uniform(155, 185, n)
        standing[:, P[f"{side}_sh_abd"]] = rng.uniform(0, 15, n)
        standing[:, P[f"{side}_elbow"]] = rng.uniform(0, 10, n)
    standing[:, P["lumbar_ext"]] = rng.uniform(-3, 8, n)

    lunge = standing.copy()
    lunge[:, P["pitch"]] = rng.uniform(5, 25, n)
    lunge[:, P["r_hip_flex"]] = rng.uniform(50, 80, n)
    lunge[:, P["r_knee"]] = rng.uniform(30, 70, n)
    lunge[:, P["l_hip_flex"]] = -rng.uniform(10, 25, n)

    reach = lunge.copy()
    reach[:, P["pitch"]] = rng.uniform(70, 100, n)
    reach[:, P["r_hip_flex"]] = reach[:, P["pitch"]] + rng.uniform(0, 20, n)
    reach[:, P["r_knee"]] = rng.uniform(20, 50, n)
    reach[:, P["l_hip_flex"]] = rng.uniform(-20, 10, n)
    reach[:, P["l_knee"]] = rng.uniform(0, 15, n)
    for side in ("r", "l"):
        reach[:, P[f"{side}_wrist_ext"]] = rng.uniform(40, 80, n)
    reach[:, P["anchor_hands"]] = 0.3

    hands_down = reach.copy()
    hands_down[:, P["pitch"]] = rng.uniform(120, 145, n)
    hands_down[:, P["r_hip_flex"]] = hands_down[:, P["pitch"]] - rng.uniform(0, 25, n)
    hands_down[:, P["r_knee"]] = rng.uniform(10, 50, n)
    hands_down[:, P["l_hip_flex"]] = -rng.uniform(0, 30, n)
    hands_down[:, P["anchor_hands"]] = 1.0
    for side in ("r", "l"):
        hands_down[:, P[f"{side}_sh_flex"]] = rng.uniform(165, 185, n)
        hands_down[:, P[f"{side}_wrist_ext"]] = rng.uniform(80, 95, n)
        hands_down[:, P[f"{side}_elbow"]] = rng.uniform(0, 8, n)

    kick = hold_pose.copy()
    kick[:, P["balance"]] = rng.uniform(0.3, 0.8, n)
    kick[:, P["r_hip_flex"]] = rng.uniform(50, 100, n)
    kick[:, P["r_knee"]] = rng.uniform(0, 40, n)
    kick[:, P["l_hip_flex"]] = -rng.uniform(0, 35, n)
    kick[:, P["lumbar_ext"]] = rng.uniform(0, 20, n)
    return [standing, lunge, reach, hands_down, kick]


def kick_up(hold_pose: np.ndarray, rng: np.random.Generator, end_phase: str) -> Motion:
    """Stand, lunge, reach, hands down, kick, then hold ``hold_pose``.

    Args:
        hold_pose: (n, NUM_PARAMS) pose held after the kick.
        rng: random generator.
        end_phase: "stand" (before the hands land), "kick" (around the kick) or "hold".
    """
    n = hold_pose.shape[0]
    frames = kick_frames(hold_pose, rng) + [hold_pose, hold_pose]
    tempo = rng.uniform(0.75, 1.4, n)
    gaps = np.stack([rng.uniform(0.2, 1.0, n), 0.4 * tempo, 0.35 * tempo, 0.3 * tempo,
                     0.35 * tempo, 0.35 * tempo, rng.uniform(1.0, 5.0, n)], axis=1)
    times = np.cumsum(gaps, axis=1)
    keys = np.stack(frames, axis=1)
    flip = rng.uniform(size=n) < 0.5
    keys = np.where(flip[:, None, None], mirror(keys), keys)
    ranges = {"stand": (times[:, 0] * 0, times[:, 3]), "kick": (times[:, 3], times[:, 5] + 0.1),
              "hold": (times[:, 5] + 0.15, times[:, 6])}
    end = np.stack(ranges[end_phase], axis=-1)
    return Motion(times, keys, end, rng.uniform(0.3, 2.5, n))


def come_down(hold_pose: np.ndarray, rng: np.random.Generator, end_phase: str) -> Motion:
    """Hold, then one leg comes down and the athlete stands up (a kick-up played backwards)."""
    forward = kick_up(hold_pose, rng, "hold")
    times = forward.times[:, -1:] - forward.times[:, ::-1]
    keys = forward.keys[:, ::-1]
    ranges = {"hold": (times[:, 1] * 0 + 0.1, times[:, 1]), "kick": (times[:, 1], times[:, 3]),
              "stand": (times[:, 3] + 0.2, times[:, 6])}
    end = np.stack(ranges[end_phase], axis=-1)
    return Motion(times, keys, end, forward.sway)


def evaluate(motion: Motion, frame_times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poses at the given times with eased interpolation and balance sway.

    Args:
        motion: keyframes of n clips.
        frame_times: (n, T) seconds.
        rng: random generator (sway phases and frequencies).

    Returns:
        (n, T, NUM_PARAMS) poses.
    """
    times, keys = motion.times, motion.keys
    n, k = times.shape
    index = (times[:, None, :] <= frame_times[:, :, None]).sum(-1) - 1
    index = np.clip(index, 0, k - 2)
    rows = np.arange(n)[:, None]
    t0, t1 = times[rows, index], times[rows, index + 1]
    alpha = np.clip((frame_times - t0) / np.maximum(t1 - t0, 1e-6), 0.0, 1.0)
    ease = 0.5 - 0.5 * np.cos(np.pi * alpha)
    out = keys[rows, index] + ease[..., None] * (keys[rows, index + 1] - keys[rows, index])

    # Balance sway: two slow sinusoids on the whole-body pitch with matching small corrections
    # at the shoulders and hips; plus a small lateral sway.
    balance = out[..., P["balance"]]
    freq = rng.uniform(0.2, 1.2, (n, 2))
    phase = rng.uniform(0, 2 * np.pi, (n, 2))
    amp = motion.sway[:, None] * np.array([1.0, 0.5])[None, :]
    wave = (amp[:, None, :] * np.sin(2 * np.pi * freq[:, None, :] * frame_times[..., None]
                                     + phase[:, None, :])).sum(-1)
    out[..., P["sway"]] += balance * wave
    correction = balance * wave * rng.uniform(-0.8, 0.8, (n, 1))
    for name in ("r_sh_flex", "l_sh_flex"):
        out[..., P[name]] += correction
    for name in ("r_hip_flex", "l_hip_flex"):
        out[..., P[name]] -= 0.5 * correction
    out[..., P["roll"]] += balance * 0.4 * wave[:, ::-1]
    return out


def walk(n: int, rng: np.random.Generator, duration: tuple[float, float] = (1.5, 6.0)
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking in and out of view.

    Returns:
        base poses (n, NUM_PARAMS), stride frequency (n,) in Hz, end ranges (n, 2).
    """
    base = poses.stand(n, rng)
    for side in ("r", "l"):
        base[:, P[f"{side}_sh_flex"]] = rng.uniform(-5, 15, n)
        base[:, P[f"{side}_sh_abd"]] = rng.uniform(0, 12, n)
    base[:, P["lumbar_ext"]] = rng.uniform(-3, 3, n)
    base[:, P["pitch"]] = rng.uniform(0, 6, n)
    frequency = rng.uniform(0.75, 1.0, n)
    length = rng.uniform(*duration, n)
    return base, frequency, np.stack([np.full(n, 0.5), length], axis=-1)


def evaluate_walk(base: np.ndarray, frequency: np.ndarray, frame_times: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Walking poses at the given times (gait cycle and forward translation)."""
    n = base.shape[0]
    out = np.repeat(base[:, None, :], frame_times.shape[1], axis=1)
    phase = 2 * np.pi * frequency[:, None] * frame_times + rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(18, 30, (n, 1))
    swing = np.sin(phase)
    out[..., P["r_hip_flex"]] += amp * swing
    out[..., P["l_hip_flex"]] -= amp * swing
    out[..., P["r_knee"]] += 45 * np.maximum(0.0, np.sin(phase + 1.2)) ** 2 + 5
    out[..., P["l_knee"]] += 45 * np.maximum(0.0, np.sin(phase + 1.2 + np.pi)) ** 2 + 5
    out[..., P["r_sh_flex"]] -= 0.8 * amp * swing
    out[..., P["l_sh_flex"]] += 0.8 * amp * swing
    out[..., P["r_elbow"]] += 10 + 10 * np.maximum(0.0, -swing)
    out[..., P["l_elbow"]] += 10 + 10 * np.maximum(0.0, swing)
    speed = rng.uniform(0.9, 1.5, (n, 1))
    yaw = np.deg2rad(out[..., P["yaw"]])
    distance = speed * (frame_times - frame_times[:, -1:] * rng.uniform(0.3, 0.7, (n, 1)))
    out[..., P["root_x"]] += distance * np.sin(yaw)
    out[..., P["root_z"]] += distance * np.cos(yaw)
    return out

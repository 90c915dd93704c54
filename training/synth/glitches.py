"""BlazePose's characteristic failures on inverted bodies, applied to clean poses.

Used to check ``engine.glitches.PoseGlitchFilter`` (tests, ``benchmarks/bench_glitches.py``):
on the real kick-up clip BlazePose folds the hidden far leg back onto the torso for a few
frames, and a fresh detection in the wrong orientation finds the person upside down.
"""

from __future__ import annotations

import numpy as np

from engine import skeleton


def fold_left_leg(pose: np.ndarray) -> np.ndarray:
    """The left leg laid back along the torso, knee below the hip (a folded far leg).

    Args:
        pose: (16, 3) keypoints.

    Returns:
        A (16, 3) copy with the left knee and ankle moved.
    """
    out = np.array(pose, dtype=np.float32, copy=True)
    torso = out[skeleton.THORAX, :2] - out[skeleton.PELVIS, :2]
    out[skeleton.L_KNEE, :2] = out[skeleton.L_HIP, :2] + 0.5 * torso
    out[skeleton.L_ANKLE, :2] = out[skeleton.L_HIP, :2] + 0.95 * torso
    return out


def turn_upside_down(pose: np.ndarray) -> np.ndarray:
    """The pose as a detection in the wrong orientation reads it: turned by 180 degrees.

    Args:
        pose: (16, 3) keypoints.

    Returns:
        A (16, 3) copy turned about the joints' mean, left and right exchanged (a person seen
        upside down has them on the other sides).
    """
    out = np.array(pose, dtype=np.float32, copy=True)
    center = out[:, :2].mean(axis=0)
    out[:, :2] = 2 * center - out[:, :2]
    return out[list(skeleton.FLIP_PERMUTATION)]


def swap_sides(pose: np.ndarray) -> np.ndarray:
    """Left and right joints exchanged (BlazePose's side swap), as a (16, 3) copy."""
    return np.array(pose, dtype=np.float32)[list(skeleton.FLIP_PERMUTATION)]

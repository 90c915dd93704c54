"""Person silhouettes cropped and turned to the body axis (DeepHAR's appearance stream, as masks).

A silhouette is a person segmentation mask (BlazePose's on real frames, the renderer's exact one
on synthetic bodies) resampled into a small upright crop: the axis from the wrists' midpoint to
the ankles' midpoint points up, the wrists at the bottom (as in a handstand), and the body's
keypoints fill the crop at one scale for both directions. A mask keeps no colour, texture or
lighting, which is what separates synthetic renderings from real photos.

The crop is a rotation, so a mirrored image gives the mirrored crop (``crop[:, ::-1]``).

Used by ``training.pose_cache --silhouettes`` and the renderer's exact masks to measure a
silhouette stream beside the pose stream (``benchmarks/bench_silhouette.py``): it lowered the
grouped real figures (README, "A silhouette stream"), so the form model takes no silhouette.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine import skeleton
from engine.features import MIN_JOINT_CONFIDENCE

# (rows, columns) of the crop: a body is about twice as long as it is wide when held straight.
SILHOUETTE_SIZE: tuple[int, int] = (64, 32)
# Share of the crop (each direction) that the keypoints' extent fills; the rest leaves room for
# hands, feet and the head beyond the outermost joints.
_FILL = 0.8
_WRISTS = (skeleton.R_WRIST, skeleton.L_WRIST)
_ANKLES = (skeleton.R_ANKLE, skeleton.L_ANKLE)


def body_axis_transform(
    keypoints: np.ndarray,
    size: tuple[int, int] = SILHOUETTE_SIZE,
    min_confidence: float = MIN_JOINT_CONFIDENCE,
) -> np.ndarray | None:
    """The affine map from image pixels to the upright body-axis crop.

    Args:
        keypoints: (16, 3) canonical keypoints in pixels with confidence (NaN or low
            confidence for missing joints).
        size: (rows, columns) of the crop.
        min_confidence: joints below it are ignored.

    Returns:
        (2, 3) float64 matrix ``[u, v] = M @ [x, y, 1]``, or None with fewer than two
        confident joints. Without a wrist or an ankle the image's own up is the axis.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    valid = np.isfinite(keypoints).all(-1) & (np.nan_to_num(keypoints[:, 2]) > min_confidence)
    if valid.sum() < 2:
        return None
    points = keypoints[valid, :2]
    up = np.array([0.0, -1.0])
    wrists, ankles = [list(np.asarray(ends)[valid[list(ends)]]) for ends in (_WRISTS, _ANKLES)]
    if wrists and ankles:
        axis = keypoints[ankles, :2].mean(0) - keypoints[wrists, :2].mean(0)
        if np.linalg.norm(axis) > 1e-6:
            up = axis / np.linalg.norm(axis)
    # A rotation (not a reflection) taking the image's up to ``up``: right = up turned +90°.
    right = np.array([-up[1], up[0]])
    across, along = points @ right, points @ up
    rows, columns = size
    scale = max((along.max() - along.min()) / (_FILL * rows),
                (across.max() - across.min()) / (_FILL * columns), 1e-6)
    centre_across = 0.5 * (across.max() + across.min())
    centre_along = 0.5 * (along.max() + along.min())
    # u grows along ``right`` and v against ``up``, both from the crop's centre.
    return np.array([
        [right[0] / scale, right[1] / scale, (columns - 1) / 2 - centre_across / scale],
        [-up[0] / scale, -up[1] / scale, (rows - 1) / 2 + centre_along / scale],
    ])


def transform_scale(transform: np.ndarray) -> float:
    """Image pixels per crop pixel of a ``body_axis_transform``."""
    return float(1.0 / np.linalg.norm(transform[0, :2]))


def align_silhouette(
    mask: np.ndarray, keypoints: np.ndarray, size: tuple[int, int] = SILHOUETTE_SIZE
) -> np.ndarray:
    """A person mask resampled into the upright body-axis crop.

    Args:
        mask: (H, W) person probability in [0, 1] (or 0/255 uint8).
        keypoints: (16, 3) canonical keypoints of the same person, in pixels of ``mask``.
        size: (rows, columns) of the crop.

    Returns:
        (rows, columns) float32 in [0, 1]; all zeros when the keypoints cannot place a crop.
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.max(initial=0.0) > 1.0:
        mask = mask / 255.0
    transform = body_axis_transform(keypoints, size)
    if transform is None:
        return np.zeros(size, np.float32)
    # Blur before shrinking so a thin limb is averaged, not sampled at one pixel (aliasing).
    sigma = 0.5 * transform_scale(transform)
    if sigma > 0.5:
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    rows, columns = size
    crop = cv2.warpAffine(mask, transform, (columns, rows), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return np.clip(crop, 0.0, 1.0).astype(np.float32)

"""Training crops and the paper's augmentation (deephar_spec.md §3), as pure functions.

A sample is cut with one affine (``engine.pose.crops``): rotate about the window centre, crop a
square window, resize to the network size, flip. Joints go through the same matrix; after a
flip the left/right joints are swapped with ``FLIP_PERMUTATION``. Coordinates become crop
pixels / crop size; joints that are unannotated or fall outside the crop get ``INVALID``
(-1e9) and visibility 0 (the authors' ``remove_outer_joints``), and the matrix is kept so that
predictions map back to image pixels exactly. Randomness comes only from the generator passed
to ``sample_augmentation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.pose.crops import crop_matrix, crop_to_image, image_to_crop, to_network_input, warp_crop
from engine.skeleton import FLIP_PERMUTATION

INVALID = -1e9
ANGLES: tuple[float, ...] = tuple(float(a) for a in range(-40, 41, 5))
SCALES: tuple[float, ...] = (0.7, 1.0, 1.3)
GAMMAS: tuple[float, ...] = tuple(round(0.90 + 0.02 * i, 2) for i in range(11))


@dataclass(frozen=True)
class Augmentation:
    """One draw of the augmentation. The identity is the evaluation setting."""

    angle_deg: float = 0.0
    scale: float = 1.0
    flip: bool = False
    gamma: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class AugmentationConfig:
    """Discrete sets each parameter is drawn from uniformly (MPII defaults from the paper)."""

    angles: tuple[float, ...] = ANGLES
    scales: tuple[float, ...] = SCALES
    flip: bool = True
    gammas: tuple[float, ...] = GAMMAS


def sample_augmentation(
    rng: np.random.Generator, config: AugmentationConfig | None = None
) -> Augmentation:
    """Draws angle, scale, flip and a per-channel gamma from ``config`` with ``rng``."""
    config = config or AugmentationConfig()
    return Augmentation(
        angle_deg=float(rng.choice(config.angles)),
        scale=float(rng.choice(config.scales)),
        flip=bool(config.flip and rng.integers(2)),
        gamma=tuple(float(g) for g in rng.choice(config.gammas, size=3)),  # type: ignore[arg-type]
    )


def mpii_window(center: np.ndarray, mpii_scale: float) -> tuple[np.ndarray, float]:
    """The authors' MPII person window: s = 1.25 scale, centre moved down 12 s, side 200 s."""
    s = 1.25 * float(mpii_scale)
    return np.array([float(center[0]), float(center[1]) + 12.0 * s]), 200.0 * s


@dataclass
class CropSample:
    """One network input with its targets.

    Attributes:
        image: (3, S, S) float32 in [-1, 1].
        coords: (J, 2) float32 target in crop units [0, 1]; ``INVALID`` where unannotated or
            outside the crop.
        visible: (J,) float32, 1 where the joint is annotated and inside the crop.
        matrix: (3, 3) image -> crop pixel affine (including the flip).
        flip: whether the crop is mirrored (joint order already swapped back in ``coords``).
    """

    image: np.ndarray
    coords: np.ndarray
    visible: np.ndarray
    matrix: np.ndarray
    flip: bool = False
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def keypoints_to_targets(
    keypoints: np.ndarray, matrix: np.ndarray, out_size: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Image keypoints (J, 3) (confidence > 0 = annotated) -> crop targets and visibility."""
    kp = np.asarray(keypoints, dtype=np.float64)
    annotated = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(axis=1)
    coords = image_to_crop(np.where(annotated[:, None], kp[:, :2], 0.0), matrix, out_size)
    inside = annotated & (coords > 0).all(axis=1) & (coords < 1).all(axis=1)
    if flip:
        perm = list(FLIP_PERMUTATION)
        coords, inside = coords[perm], inside[perm]
    coords = np.where(inside[:, None], coords, INVALID).astype(np.float32)
    return coords, inside.astype(np.float32)


def predictions_to_image(coords: np.ndarray, matrix: np.ndarray, out_size: int, flip: bool) -> (
    np.ndarray
):
    """Network coordinates (..., J, 2) of a crop -> image pixels, undoing the flip's swap."""
    coords = np.asarray(coords, dtype=np.float64)
    if flip:
        coords = coords[..., list(FLIP_PERMUTATION), :]
    return crop_to_image(coords, matrix, out_size)


def make_crop_sample(
    image_rgb: np.ndarray,
    keypoints: np.ndarray,
    center: np.ndarray,
    side: float,
    out_size: int,
    augmentation: Augmentation | None = None,
) -> CropSample:
    """Cuts a training or evaluation sample.

    Args:
        image_rgb: (H, W, 3) uint8 RGB image.
        keypoints: (J, 3) canonical keypoints in image pixels, confidence > 0 where annotated.
        center: (2,) window centre in image pixels.
        side: window side in pixels at scale 1 (multiplied by the augmentation's scale).
        out_size: network input side.
        augmentation: the draw to apply; None for evaluation (identity).

    Returns:
        CropSample with the image, targets and the affine matrix.
    """
    aug = augmentation or Augmentation()
    matrix = crop_matrix(
        center, side * aug.scale, out_size, angle_deg=aug.angle_deg, flip=aug.flip
    )
    crop = warp_crop(image_rgb, matrix, out_size)
    gamma = None if aug.gamma == (1.0, 1.0, 1.0) else np.asarray(aug.gamma)
    coords, visible = keypoints_to_targets(keypoints, matrix, out_size, aug.flip)
    return CropSample(to_network_input(crop, gamma), coords, visible, matrix, aug.flip)

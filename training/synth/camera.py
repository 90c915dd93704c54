"""Pinhole cameras around the body: sampling, projection and back-projection.

Camera frame: ``x`` right, ``y`` down, ``z`` forward (OpenCV). ``rotation`` maps world vectors
into the camera frame: ``x_cam = rotation @ (x_world - position)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (width, height) of images the app sees: webcams, phones (both orientations), web thumbnails.
IMAGE_SIZES: tuple[tuple[int, int], ...] = (
    (640, 480), (1280, 720), (1920, 1080), (480, 640), (720, 1280), (1080, 1920), (600, 400),
    (400, 600), (500, 500), (1024, 768),
)  # fmt: skip
IMAGE_SIZE_WEIGHTS: tuple[float, ...] = (0.2, 0.15, 0.08, 0.08, 0.12, 0.08, 0.08, 0.06, 0.08, 0.07)


@dataclass(frozen=True)
class CameraConfig:
    """Distribution of camera placements.

    Attributes:
        elevation_deg: (low, high) camera elevation above the body centre.
        roll_std_deg: standard deviation of the camera roll. Phones and webcams stand
            tilted a few degrees: trained with 2.5, the model's balanced accuracy on the dev
            photos turned by +-8 degrees was 0.78-0.83 (seeds 0-2); with 5, 0.90-0.92.
        fov_deg: (low, high) field of view across the long image side.
        fill: (low, high) fraction of the short image side the body's extent fills.
        small_person_probability: chance of a far-away, small person (fill 0.15-0.35).
        out_of_frame_probability: chance the framing cuts part of the body off.
        handheld_probability: chance of a shaking, hand-held camera.
        side_bias: share of side views (azimuth +-(90 +- 15) deg); the rest are uniform
            all around. People film handstands from the side: on the dev photos the median
            shoulder width is 0.2 torso lengths (near side views).
        side_bias_not_handstand: the same for clips that end in no handstand (standing and
            yoga poses are photographed from any side; on the dev photos their median shoulder
            width is 0.24 torso lengths, 10 % above 0.77).
        front_bias: share of the non-side views placed around the front (+-45 deg).
        thumbnail_probability: share of odd-sized web images (150-1000 px, aspect 0.4-2.5).
    """

    elevation_deg: tuple[float, float] = (-10.0, 30.0)
    roll_std_deg: float = 5.0
    fov_deg: tuple[float, float] = (45.0, 78.0)
    fill: tuple[float, float] = (0.35, 0.92)
    small_person_probability: float = 0.12
    out_of_frame_probability: float = 0.08
    handheld_probability: float = 0.3
    side_bias: float = 0.8
    side_bias_not_handstand: float = 0.55
    front_bias: float = 0.0
    thumbnail_probability: float = 0.3


@dataclass
class Cameras:
    """Per-clip cameras (possibly moving per frame).

    Attributes:
        rotation: (N, T, 3, 3) world -> camera rotations.
        position: (N, 3) camera centres in metres.
        focal: (N,) focal length in pixels.
        image_sizes: (N, 2) int (width, height).
    """

    rotation: np.ndarray
    position: np.ndarray
    focal: np.ndarray
    image_sizes: np.ndarray


def look_at(position: np.ndarray, target: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """World -> camera rotations looking from ``position`` at ``target`` with a roll.

    Args:
        position: (..., 3) camera centres.
        target: (..., 3) points to look at.
        roll_deg: (...,) rotation about the optical axis.

    Returns:
        (..., 3, 3) rotations whose rows are the camera x (right), y (down), z (forward) axes.
    """
    forward = target - position
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    up = np.broadcast_to(np.array([0.0, 1.0, 0.0]), forward.shape)
    right = np.cross(forward, up)
    norm = np.linalg.norm(right, axis=-1, keepdims=True)
    right = np.where(norm > 1e-6, right / np.maximum(norm, 1e-9), np.array([1.0, 0.0, 0.0]))
    down = np.cross(forward, right)
    roll = np.deg2rad(roll_deg)[..., None]
    right, down = (np.cos(roll) * right + np.sin(roll) * down,
                   -np.sin(roll) * right + np.cos(roll) * down)
    return np.stack([right, down, forward], axis=-2)


def project(points: np.ndarray, rotation: np.ndarray, position: np.ndarray, focal: np.ndarray,
            image_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projects world points into pixels.

    Args:
        points: (N, T, K, 3) world points.
        rotation: (N, T, 3, 3) world -> camera rotations.
        position: (N, 3) camera centres.
        focal: (N,) focal lengths in pixels.
        image_sizes: (N, 2) (width, height).

    Returns:
        pixels (N, T, K, 2) and depth (N, T, K) along the optical axis.
    """
    cam = np.einsum("ntij,ntkj->ntki", rotation, points - position[:, None, None, :])
    depth = np.maximum(cam[..., 2], 1e-3)
    centre = image_sizes[:, None, None, :] / 2.0
    pixels = focal[:, None, None, None] * cam[..., :2] / depth[..., None] + centre
    return pixels, depth


def sample_cameras(points: np.ndarray, body_facing: np.ndarray, rng: np.random.Generator,
                   config: CameraConfig | None = None,
                   side_bias: np.ndarray | None = None) -> Cameras:
    """Places one camera per clip around the body so that it fills part of the image.

    Args:
        points: (N, T, K, 3) clean world points of each clip.
        body_facing: (N,) direction the chest faces, degrees about y from +z (azimuth 0).
        rng: random generator.
        config: placement distribution.
        side_bias: (N,) per-clip share of side views, overriding ``config.side_bias``.

    Returns:
        Cameras for the clips.
    """
    config = config or CameraConfig()
    n, t = points.shape[:2]
    size_index = rng.choice(len(IMAGE_SIZES), size=n, p=np.array(IMAGE_SIZE_WEIGHTS)
                            / np.sum(IMAGE_SIZE_WEIGHTS))
    image_sizes = np.array(IMAGE_SIZES)[size_index]
    # Web photos and thumbnails come in any size and shape.
    thumbnail = rng.uniform(size=n) < config.thumbnail_probability
    long_side = rng.uniform(150, 1000, n)
    aspect = np.exp(rng.uniform(np.log(0.4), np.log(2.5), n))
    odd = np.stack([long_side * np.minimum(aspect, 1.0), long_side / np.maximum(aspect, 1.0)], -1)
    image_sizes = np.where(thumbnail[:, None], np.round(odd), image_sizes).astype(np.int64)
    fov = np.deg2rad(rng.uniform(*config.fov_deg, n))
    focal = image_sizes.max(axis=1) / 2.0 / np.tan(fov / 2.0)

    low, high = points.min(axis=(1, 2)), points.max(axis=(1, 2))
    centre = (low + high) / 2.0
    extent = np.linalg.norm(high - low, axis=-1) * 0.85
    fill = rng.uniform(*config.fill, n)
    small = rng.uniform(size=n) < config.small_person_probability
    fill = np.where(small, rng.uniform(0.15, 0.35, n), fill)
    distance = focal * extent / (fill * image_sizes.min(axis=1)) + 0.3 * extent

    # Azimuth 0 = in front of the chest. Side views dominate; other views favour the front.
    azimuth = np.where(rng.uniform(size=n) < config.front_bias, rng.normal(0.0, 45.0, n),
                       rng.uniform(0.0, 360.0, n))
    side = rng.choice([-1.0, 1.0], n) * (90.0 + rng.normal(0.0, 15.0, n))
    bias = config.side_bias if side_bias is None else side_bias
    azimuth = np.where(rng.uniform(size=n) < bias, side, azimuth)
    azimuth = np.deg2rad(azimuth + body_facing)
    elevation = np.deg2rad(rng.uniform(*config.elevation_deg, n))
    direction = np.stack([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                          np.cos(elevation) * np.cos(azimuth)], axis=-1)
    position = centre + distance[:, None] * direction
    position[:, 1] = np.maximum(position[:, 1], 0.2)

    # Off-centre framing: shift the look-at point in the image plane.
    shift_scale = np.where(rng.uniform(size=n) < config.out_of_frame_probability, 0.45, 0.12)
    half_view = distance * np.tan(fov / 2.0) * image_sizes.min(axis=1) / image_sizes.max(axis=1)
    lateral = np.cross(direction, np.array([0.0, 1.0, 0.0]))
    lateral /= np.maximum(np.linalg.norm(lateral, axis=-1, keepdims=True), 1e-9)
    target = (centre
              + (rng.normal(0.0, 1.0, n) * shift_scale * half_view)[:, None] * lateral
              + (rng.normal(0.0, 1.0, n) * shift_scale * half_view)[:, None]
              * np.array([0.0, 1.0, 0.0]))

    roll = rng.normal(0.0, config.roll_std_deg, n)[:, None] * np.ones((1, t))
    handheld = rng.uniform(size=n) < config.handheld_probability
    shake = np.cumsum(rng.normal(0.0, 0.15, (n, t, 3)), axis=1) * handheld[:, None, None]
    target_t = target[:, None, :] + shake * (distance[:, None, None] * 0.01)
    rotation = look_at(np.broadcast_to(position[:, None, :], (n, t, 3)), target_t,
                       roll + shake[..., 0])
    return Cameras(rotation=rotation, position=position, focal=focal, image_sizes=image_sizes)

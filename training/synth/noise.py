"""A BlazePose-like noise model on projected keypoints.

The noise acts on the BlazePose-33 landmarks the canonical skeleton reads (nose, ears,
shoulders, elbows, wrists, hips, knees, ankles) and the canonical keypoints are then made with
``engine.skeleton.from_blazepose``, so head joints follow exactly the same rule as on real data.
Failure modes seen on real people: temporally correlated jitter proportional to body size,
high confidence for visible joints and lower for occluded / off-image ones, whole frames without
a person, left/right swaps (single limbs or the whole body), single wild outlier joints, a
hidden far-side limb guessed in the wrong place, and legs collapsed towards the hips on small,
oblique people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import skeleton

# BlazePose-33 indices the canonical skeleton reads, and their left/right partners.
BLAZE_USED: tuple[int, ...] = (0, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
BLAZE_PARTNER: dict[int, int] = {
    7: 8, 8: 7, 11: 12, 12: 11, 13: 14, 14: 13, 15: 16, 16: 15, 23: 24, 24: 23, 25: 26,
    26: 25, 27: 28, 28: 27,
}  # fmt: skip
BLAZE_LIMB_PAIRS: tuple[tuple[int, int], ...] = ((11, 12), (13, 14), (15, 16), (23, 24),
                                                 (25, 26), (27, 28), (7, 8))
_TRUNK_LANDMARKS: tuple[int, ...] = (0, 7, 8, 11, 12, 23, 24)
_LIMB_PAIRS: tuple[tuple[int, int], ...] = ((13, 14), (15, 16), (25, 26), (27, 28))
# Relative jitter per landmark (extremities are noisier).
_JITTER_SCALE: dict[int, float] = {
    0: 0.6, 7: 0.6, 8: 0.6, 11: 0.8, 12: 0.8, 13: 1.1, 14: 1.1, 15: 1.4, 16: 1.4, 23: 1.0,
    24: 1.0, 25: 1.2, 26: 1.2, 27: 1.5, 28: 1.5,
}  # fmt: skip


@dataclass(frozen=True)
class NoiseConfig:
    """Parameters of the keypoint noise (fractions are of the body's size in pixels).

    Attributes:
        jitter: (low, high) per-clip jitter standard deviation.
        jitter_correlation: (low, high) frame-to-frame correlation of the jitter.
        bias: standard deviation of a per-clip, per-joint constant offset.
        outlier_probability: chance per joint and frame of a wild outlier.
        outlier_size: standard deviation of an outlier's displacement.
        swap_clip_probability: chance a clip contains a left/right swap.
        mirror_share: share of swaps that mirror the whole body (the rest swap one limb).
        drop_frame_probability: chance per frame that no person is found.
        left_on_right_prior: chance that a clip showing the person's left on the image left
            comes out mirrored (BlazePose's front-view prior).
        hidden_right_prior: chance that a clip whose left limbs are hidden comes out mirrored.
        leg_collapse_probability: chance per clip of collapsed legs.
        hidden_limb_probability: chance per clip that a hidden (far-side) leg or arm is put in
            the wrong place, turned about the hip or shoulder.
        hidden_limb_angle: (low, high) degrees of that turn.
        occluded_confidence: (low, high) confidence of self-occluded joints.
        visible_confidence: (low, high) confidence of visible joints.
        visible_limb_miss: (median, log-sigma) of the log-normal ``1 - confidence`` of a
            visible limb joint below its clip's level.
        off_image_confidence: (low, high) confidence of joints outside the image.
    """

    jitter: tuple[float, float] = (0.002, 0.015)
    jitter_correlation: tuple[float, float] = (0.2, 0.85)
    bias: float = 0.008
    outlier_probability: float = 0.006
    outlier_size: float = 0.2
    swap_clip_probability: float = 0.12
    mirror_share: float = 0.5
    drop_frame_probability: float = 0.01
    left_on_right_prior: float = 0.4
    hidden_right_prior: float = 0.6
    leg_collapse_probability: float = 0.03
    hidden_limb_probability: float = 0.08
    hidden_limb_angle: tuple[float, float] = (15.0, 45.0)
    occluded_confidence: tuple[float, float] = (0.0, 1.0)
    visible_confidence: tuple[float, float] = (0.995, 1.0)
    visible_limb_miss: tuple[float, float] = (9e-3, 1.6)
    off_image_confidence: tuple[float, float] = (0.0, 0.4)


def body_size(pixels: np.ndarray) -> np.ndarray:
    """(N, T, K, 2) -> (N,) median over frames of the keypoints' bounding-box diagonal."""
    extent = pixels.max(axis=2) - pixels.min(axis=2)
    return np.median(np.linalg.norm(extent, axis=-1), axis=1)


def landmark_confidence(landmarks: np.ndarray, depth: np.ndarray, image_sizes: np.ndarray,
                        rng: np.random.Generator, config: NoiseConfig) -> np.ndarray:
    """BlazePose-like visibility for each landmark.

    On the dev photos BlazePose gives the face, shoulders and hips a visibility of about 1.0
    almost always, and the limbs a broad spread (median 0.85-0.95, a quarter below 0.5-0.7):
    low mostly on the far side of a side view.

    Args:
        landmarks: (N, T, 33, 2) pixel positions (only ``BLAZE_USED`` matter).
        depth: (N, T, 33) depth of each landmark along the optical axis (metres).
        image_sizes: (N, 2) (width, height).
        rng: random generator.
        config: noise parameters.

    Returns:
        (N, T, 33) confidences in [0, 1].
    """
    n, t = landmarks.shape[:2]
    conf = np.zeros(landmarks.shape[:-1])
    # 1 - confidence is log-normal: fitted to the dev photos' quantiles (trunk: median 0.9993,
    # 5 % below 0.991; visible limbs: median 0.989, 10 % below 0.9).
    for index in _TRUNK_LANDMARKS:
        conf[..., index] = 1.0 - np.minimum(1.0, np.exp(rng.normal(np.log(7e-4), 1.5, (n, t))))
    clip_level = rng.uniform(*config.visible_confidence, (n, 1))
    clip_occlusion = rng.uniform(*config.occluded_confidence, (n, 1))
    for a, b in _LIMB_PAIRS:
        for this, other in ((a, b), (b, a)):
            miss = np.exp(rng.normal(np.log(config.visible_limb_miss[0]),
                                     config.visible_limb_miss[1], (n, t)))
            visible = np.clip(clip_level - miss, 0.0, 1.0)
            # Hidden joints get levels partly shared within a clip: on the dev photos the number
            # of limb joints below 0.5 per person spreads evenly over 0-4.
            occluded_level = 0.5 * clip_occlusion + 0.5 * rng.uniform(
                *config.occluded_confidence, (n, 1))
            hidden = np.clip(occluded_level + rng.normal(0.0, 0.05, (n, t)), 0.0, 1.0)
            farther = depth[..., this] > depth[..., other] + 0.15
            conf[..., this] = np.where(farther, np.minimum(hidden, visible), visible)
    size = image_sizes[:, None, None, :]
    outside = ((landmarks < 0) | (landmarks >= size)).any(axis=-1)
    off = rng.uniform(*config.off_image_confidence, outside.shape)
    return np.where(outside, np.minimum(conf, off), conf)


# (proximal, middle, distal) BlazePose landmarks of each limb.
_LIMB_CHAINS: tuple[tuple[int, int, int], ...] = (
    (24, 26, 28), (23, 25, 27), (12, 14, 16), (11, 13, 15),
)


def _misplace_hidden_limb(landmarks: np.ndarray, confidence: np.ndarray,
                          rng: np.random.Generator, config: NoiseConfig) -> np.ndarray:
    """(N, T, 33) mask of the middle and distal landmarks of one hidden limb in chosen clips.

    A limb counts as hidden in a clip when its middle and distal landmarks have a mean
    confidence below 0.8; each chosen clip gets one of its hidden limbs.
    """
    n, t = landmarks.shape[:2]
    mask = np.zeros(landmarks.shape[:-1], dtype=bool)
    chosen = rng.uniform(size=n) < config.hidden_limb_probability
    pick = rng.uniform(size=(n, len(_LIMB_CHAINS)))
    hidden = np.stack([confidence[:, :, [middle, distal]].mean(axis=(1, 2)) < 0.8
                       for _, middle, distal in _LIMB_CHAINS], axis=1)
    limb = np.argmax(np.where(hidden, pick, -1.0), axis=1)
    chosen &= hidden.any(axis=1)
    for index, (_, middle, distal) in enumerate(_LIMB_CHAINS):
        mask[chosen & (limb == index), :, middle] = True
        mask[chosen & (limb == index), :, distal] = True
    return mask


def _turned_limbs(landmarks: np.ndarray, rng: np.random.Generator, config: NoiseConfig,
                  mask: np.ndarray) -> np.ndarray:
    """Landmarks with every masked middle/distal landmark turned about its limb's root."""
    n = landmarks.shape[0]
    angle = np.deg2rad(rng.uniform(*config.hidden_limb_angle, n)
                       * rng.choice([-1.0, 1.0], n))[:, None]
    cos, sin = np.cos(angle), np.sin(angle)
    out = landmarks.copy()
    for root, middle, distal in _LIMB_CHAINS:
        for joint in (middle, distal):
            rel = landmarks[:, :, joint] - landmarks[:, :, root]
            turned = np.stack([cos * rel[..., 0] - sin * rel[..., 1],
                               sin * rel[..., 0] + cos * rel[..., 1]], axis=-1)
            out[:, :, joint] = np.where(mask[:, :, joint, None],
                                        landmarks[:, :, root] + turned, out[:, :, joint])
    return out


def apply_noise(landmarks: np.ndarray, confidence: np.ndarray, rng: np.random.Generator,
                config: NoiseConfig) -> tuple[np.ndarray, np.ndarray]:
    """Applies the noise model to clean landmarks.

    Args:
        landmarks: (N, T, 33, 2) clean pixel positions.
        confidence: (N, T, 33) clean confidences (from ``landmark_confidence``).
        rng: random generator.
        config: noise parameters.

    Returns:
        Noisy (N, T, 33, 3) landmarks with confidence, and a (N, T) bool mask of frames where
        no person was found (their keypoints are zero).
    """
    n, t = landmarks.shape[:2]
    used = np.array(BLAZE_USED)
    scale = body_size(landmarks[:, :, used])[:, None, None, None]
    out = landmarks.copy()

    # Leg collapse: knees and ankles pulled towards the hips.
    collapse = rng.uniform(size=n) < config.leg_collapse_probability
    if collapse.any():
        ratio = rng.uniform(0.35, 0.7, n)[:, None, None]
        for hip, knee, ankle in _LIMB_CHAINS[:2]:
            hip_xy = out[:, :, hip]
            for joint in (knee, ankle):
                moved = hip_xy + ratio * (out[:, :, joint] - hip_xy)
                out[:, :, joint] = np.where(collapse[:, None, None], moved, out[:, :, joint])

    # A hidden limb guessed in the wrong place: on the dev photos of straight and banana
    # handstands with a far-side leg below 0.8 visibility, 2 of 35 show that leg 30 degrees off
    # the near one (a split that is not there), and 3 of 26 hidden arms are 16-42 degrees off.
    out = _turned_limbs(out, rng, config, _misplace_hidden_limb(out, confidence, rng, config))

    # Jitter: per-clip level, AR(1) in time, per-landmark scale, plus a constant per-clip bias.
    level = rng.uniform(*config.jitter, (n, 1, 1, 1)) * scale
    rho = rng.uniform(*config.jitter_correlation, (n, 1, 1))
    white = rng.normal(0.0, 1.0, (n, t, len(used), 2))
    jitter = np.empty_like(white)
    jitter[:, 0] = white[:, 0]
    innovation = np.sqrt(1.0 - rho**2)
    for k in range(1, t):
        jitter[:, k] = rho * jitter[:, k - 1] + innovation * white[:, k]
    joint_scale = np.array([_JITTER_SCALE[i] for i in BLAZE_USED])[None, None, :, None]
    # Low-confidence joints are noisier.
    low_conf = 1.0 + 2.0 * (1.0 - confidence[:, :, used, None])
    bias = rng.normal(0.0, config.bias, (n, 1, len(used), 2)) * scale
    out[:, :, used] += level * joint_scale * low_conf * jitter + bias

    # Outliers: single joints thrown far away.
    outlier = rng.uniform(size=(n, t, len(used))) < config.outlier_probability
    throw = rng.normal(0.0, config.outlier_size, (n, t, len(used), 2)) * scale
    out[:, :, used] += outlier[..., None] * throw

    # Left/right swaps over a run of frames: one limb pair or the whole body.
    conf = confidence.copy()
    swap = rng.uniform(size=n) < config.swap_clip_probability
    if swap.any():
        start = rng.integers(0, t, n)
        length = rng.integers(1, t + 1, n)
        frames = np.arange(t)[None, :]
        in_run = swap[:, None] & (frames >= start[:, None]) & (frames < (start + length)[:, None])
        mirror = rng.uniform(size=n) < config.mirror_share
        limb = rng.integers(0, len(BLAZE_LIMB_PAIRS), n)
        swapped = out.copy()
        swapped_conf = conf.copy()
        for pair_index, (a, b) in enumerate(BLAZE_LIMB_PAIRS):
            active = in_run & (mirror | (limb == pair_index))[:, None]
            swapped[:, :, a] = np.where(active[..., None], out[:, :, b], out[:, :, a])
            swapped[:, :, b] = np.where(active[..., None], out[:, :, a], out[:, :, b])
            swapped_conf[:, :, a] = np.where(active, conf[:, :, b], conf[:, :, a])
            swapped_conf[:, :, b] = np.where(active, conf[:, :, a], conf[:, :, b])
        out, conf = swapped, swapped_conf

    # BlazePose prefers to put the person's left on the image right (as in a front view of an
    # upright person) whatever the body really shows: on the dev photos 70 % of people, upright
    # or inverted, come out that way. Mirror the labels of some clips that show the opposite.
    # It also tends to call the hidden (far) side of a side view "right": on the dev handstand
    # photos the right limbs have median visibility 0.75-0.9, the left ones 0.96-1.0.
    left_minus_right = (out[:, :, [11, 23], 0] - out[:, :, [12, 24], 0]).mean(axis=(1, 2))
    flip = (left_minus_right < 0) & (rng.uniform(size=n) < config.left_on_right_prior)
    left_hidden = (conf[:, :, [13, 15, 25, 27]].mean(axis=(1, 2))
                   < conf[:, :, [14, 16, 26, 28]].mean(axis=(1, 2)) - 0.1)
    flip ^= left_hidden & (rng.uniform(size=n) < config.hidden_right_prior)
    if flip.any():
        for a, b in BLAZE_LIMB_PAIRS:
            out[flip, :, a], out[flip, :, b] = out[flip, :, b].copy(), out[flip, :, a].copy()
            conf[flip, :, a], conf[flip, :, b] = conf[flip, :, b].copy(), conf[flip, :, a].copy()

    dropped = rng.uniform(size=(n, t)) < config.drop_frame_probability
    noisy = np.concatenate([out, conf[..., None]], axis=-1)
    noisy[dropped] = 0.0
    return noisy, dropped


def to_canonical(landmarks: np.ndarray, dropped: np.ndarray | None = None) -> np.ndarray:
    """BlazePose-33 landmarks (N, T, 33, 3) -> canonical (N, T, 16, 3) float32."""
    canonical = skeleton.from_blazepose(landmarks)
    if dropped is not None:
        canonical[dropped] = 0.0
    return canonical.astype(np.float32)

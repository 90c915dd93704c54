"""Keypoint features for the learned form model.

The form model sees a clip of canonical keypoints (see ``engine/skeleton.py``) after a
translation and scale normalization that deliberately keeps the image's up direction: a
handstand and a standing person with raised arms have the same shape up to a 180-degree
rotation, so rotating poses upright would erase the one cue that separates them.

All functions are pure and work on numpy arrays; ``normalize_clip_torch`` is the
differentiable twin used for gradient-based explanations.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.skeleton import (
    FLIP_PERMUTATION,
    L_ANKLE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    PELVIS,
    R_ANKLE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
)

# Joints below this confidence are treated as missing (coordinates and confidence zeroed).
MIN_JOINT_CONFIDENCE = 0.2
# Pairs that must be seen to judge a handstand line: wrists, shoulders, hips, ankles.
KEY_JOINT_PAIRS: tuple[tuple[int, int], ...] = (
    (R_WRIST, L_WRIST),
    (R_SHOULDER, L_SHOULDER),
    (R_HIP, L_HIP),
    (R_ANKLE, L_ANKLE),
)
# Number of feature channels per joint: x and y masked by the confidence, and the confidence.
FEATURE_CHANNELS = 3


def clean_confidence(clip: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE) -> np.ndarray:
    """Confidence of each joint with NaN or non-finite coordinates and weak joints set to 0.

    Args:
        clip: (..., J, 3) keypoints (x, y, confidence) in pixels, NaN where missing.
        min_confidence: joints below it count as missing.

    Returns:
        (..., J) float32 confidences in [0, 1].
    """
    clip = np.asarray(clip, dtype=np.float32)
    confidence = np.nan_to_num(clip[..., 2], nan=0.0, posinf=0.0, neginf=0.0)
    confidence = np.clip(confidence, 0.0, 1.0)
    finite = np.isfinite(clip[..., 0]) & np.isfinite(clip[..., 1])
    return np.where(finite & (confidence >= min_confidence), confidence, 0.0).astype(np.float32)


def clip_normalization(
    clip: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> tuple[np.ndarray, float] | None:
    """Centre and scale that ``normalize_clip`` uses for one clip.

    One centre and one scale serve the whole clip so that motion between frames is preserved:
    the centre is the median of all confident joints (robust to an outlier joint), the scale
    the root mean square distance of those joints from it.

    Args:
        clip: (T, J, 3) keypoints in pixels with confidence; NaN or confidence 0 for missing.
        min_confidence: joints below it count as missing.

    Returns:
        ``(center (2,), scale)`` in pixels, or None when no joint is confident.
    """
    clip = np.asarray(clip, dtype=np.float32)
    valid = clean_confidence(clip, min_confidence) > 0
    if not valid.any():
        return None
    points = clip[..., :2][valid]
    center = np.median(points, axis=0).astype(np.float32)
    scale = float(np.sqrt(np.mean(np.sum((points - center) ** 2, axis=-1))))
    return center, max(scale, 1e-3)


def normalize_clip(
    clip: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> np.ndarray:
    """Translation- and scale-normalized features of one clip, keeping the up direction.

    Image axes are kept (y points down) and nothing is rotated; see ``clip_normalization``
    for the centre and scale. Missing joints get zeros in all three channels.

    Args:
        clip: (T, J, 3) keypoints in pixels with confidence; NaN or confidence 0 for missing.
        min_confidence: joints below it count as missing.

    Returns:
        (T, J, 3) float32 features: (x * c, y * c, c) with x, y normalized and c the cleaned
        confidence. All zeros when no joint is confident.
    """
    clip = np.asarray(clip, dtype=np.float32)
    features = np.zeros(clip.shape[:-1] + (FEATURE_CHANNELS,), dtype=np.float32)
    normalization = clip_normalization(clip, min_confidence)
    if normalization is None:
        return features
    center, scale = normalization
    confidence = clean_confidence(clip, min_confidence)
    xy = (np.nan_to_num(clip[..., :2]) - center) / scale
    features[..., :2] = xy * confidence[..., None]
    features[..., 2] = confidence
    return features


def normalize_clip_torch(
    clip: torch.Tensor, center: torch.Tensor, scale: float,
    min_confidence: float = MIN_JOINT_CONFIDENCE,
) -> torch.Tensor:
    """Differentiable ``normalize_clip`` with a given centre and scale.

    With the centre and scale from ``clip_normalization`` of the same clip the result equals
    ``normalize_clip``; keeping them fixed while the keypoints move is what a pose search
    wants (the frame of reference does not drift with the pose).

    Args:
        clip: (T, J, 3) keypoints in pixels with confidence; no NaN.
        center: (2,) pixels.
        scale: pixels.
        min_confidence: joints below it count as missing.

    Returns:
        (T, J, 3) features (x * c, y * c, c).
    """
    confidence = clip[..., 2].clamp(0.0, 1.0)
    confidence = torch.where(confidence >= min_confidence, confidence, torch.zeros_like(confidence))
    xy = (clip[..., :2] - center.to(clip)) / scale
    return torch.cat([xy * confidence[..., None], confidence[..., None]], dim=-1)


def clip_normalization_torch(
    clip: torch.Tensor, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable ``engine.features.clip_normalization``: centre and scale of a clip.

    The centre is the per-coordinate median of the confident joints (interpolated like
    ``np.median``), the scale their root mean square distance from it, so a search sees exactly
    the features the classifier will compute for the moved pose.

    Args:
        clip: (T, J, 3) keypoints in pixels with confidence; no NaN.
        min_confidence: joints below it count as missing.

    Returns:
        ``(center (2,), scale ())``; the origin and 1 when no joint is confident.
    """
    valid = (clip[..., 2] >= min_confidence) & (clip[..., 2] > 0)
    points = clip[..., :2][valid]
    if points.shape[0] == 0:
        return clip.new_zeros(2), clip.new_ones(())
    center = torch.quantile(points, 0.5, dim=0)
    scale = torch.sqrt(((points - center) ** 2).sum(-1).mean()).clamp(min=1e-3)
    return center, scale


def flip_features(features: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Mirror image of normalized features: x negated, left and right joints swapped.

    The form classes do not change under a horizontal mirror, so the model's scores on a clip
    and on its mirror image are averaged at inference (and when calibrating).

    Args:
        features: (..., J, 3) output of ``normalize_clip`` (numpy or torch).

    Returns:
        The mirrored features, same type and shape.
    """
    flipped = features[..., list(FLIP_PERMUTATION), :]
    sign = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    if isinstance(features, torch.Tensor):
        return flipped * torch.from_numpy(sign).to(features)
    return flipped * sign


def pad_clip(features: np.ndarray, length: int) -> np.ndarray:
    """Pads or crops a clip to ``length`` frames along its first axis.

    Shorter clips (a single photo is a clip of one frame) are padded at the start by repeating
    their first frame, as if the person had held still; longer clips keep their last frames.

    Args:
        features: (T, ...) per-frame array, T >= 1.
        length: frames wanted.

    Returns:
        (length, ...) array.
    """
    frames = features.shape[0]
    if frames == 0:
        raise ValueError("a clip needs at least one frame")
    if frames >= length:
        return features[frames - length :]
    pad = np.repeat(features[:1], length - frames, axis=0)
    return np.concatenate([pad, features], axis=0)


def last_observed_frame(clip: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE) -> int:
    """Index of the last frame with any confident joint, or -1 when none.

    Args:
        clip: (T, J, 3) keypoints.
        min_confidence: joints below it count as missing.
    """
    seen = (clean_confidence(clip, min_confidence) > 0).any(axis=-1)
    indices = np.flatnonzero(seen)
    return int(indices[-1]) if indices.size else -1


def missing_key_joint_pairs(
    frame: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> list[int]:
    """Which of ``KEY_JOINT_PAIRS`` have neither joint confidently seen in one frame.

    Args:
        frame: (J, 3) keypoints.
        min_confidence: joints below it count as missing.

    Returns:
        Indices into ``KEY_JOINT_PAIRS``.
    """
    confidence = clean_confidence(frame, min_confidence)
    return [
        i for i, (right, left) in enumerate(KEY_JOINT_PAIRS)
        if confidence[right] <= 0 and confidence[left] <= 0
    ]


def _segment(frame: np.ndarray, confidence: np.ndarray, a: int, b: int) -> float:
    if confidence[a] <= 0 or confidence[b] <= 0:
        return np.nan
    return float(np.linalg.norm(frame[a, :2] - frame[b, :2]))


def leg_to_torso_ratio(
    frame: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> float:
    """Image length of the legs (hip-knee-ankle) over the torso (pelvis-thorax) in one frame.

    Legs and torso lie nearly on one line in a handstand, so perspective shortens both alike
    and the ratio stays near its 3D value (about 1.6); a much smaller value means the pose
    estimator collapsed the legs. Uses the better-seen side.

    Args:
        frame: (J, 3) keypoints in pixels.
        min_confidence: joints below it count as missing.

    Returns:
        The ratio, or NaN when the needed joints are missing or the torso has no length.
    """
    frame = np.asarray(frame, dtype=np.float32)
    confidence = clean_confidence(frame, min_confidence)
    torso = _segment(frame, confidence, PELVIS, THORAX)
    legs = []
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        length = _segment(frame, confidence, hip, knee) + _segment(frame, confidence, knee, ankle)
        legs.append(length)
    if not np.isfinite(torso) or torso < 1e-6 or not np.isfinite(legs).any():
        return float("nan")
    return float(np.nanmax(legs) / torso)


def fill_missing_frames(
    clip: np.ndarray, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> np.ndarray:
    """Replaces frames without any confident joint by the nearest earlier (else later) frame.

    A clip buffer marks frames where the pose estimator lost the person with confidence 0;
    holding the last seen pose is closer to the truth than an empty frame.

    Args:
        clip: (T, J, 3) keypoints.
        min_confidence: joints below it count as missing.

    Returns:
        (T, J, 3) float32 copy; unchanged when no frame is seen at all.
    """
    clip = np.array(clip, dtype=np.float32)
    seen = (clean_confidence(clip, min_confidence) > 0).any(axis=-1)
    if seen.all() or not seen.any():
        return clip
    indices = np.where(seen, np.arange(len(clip)), -1)
    indices = np.maximum.accumulate(indices)
    indices[indices < 0] = int(np.flatnonzero(seen)[0])
    return clip[indices]


def prepare_clip(
    clip: np.ndarray, length: int, min_confidence: float = MIN_JOINT_CONFIDENCE
) -> np.ndarray:
    """Model input for one clip: fill lost frames, normalize, pad or crop to ``length``.

    Training and inference both go through this function.

    Args:
        clip: (T, J, 3) keypoints in pixels, T >= 1.
        length: frames the model takes.
        min_confidence: joints below it count as missing.

    Returns:
        (length, J, 3) float32 features.
    """
    clip = np.asarray(clip, dtype=np.float32)
    if clip.ndim != 3 or clip.shape[-1] != 3:
        raise ValueError(f"a clip must have shape (T, J, 3), got {clip.shape}")
    filled = fill_missing_frames(clip[-length:], min_confidence)
    return pad_clip(normalize_clip(filled, min_confidence), length)

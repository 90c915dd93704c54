"""The averaged ideal pose: a straight handstand drawn as a ghost over the athlete.

The ideal is the mean of straight-labeled side-view training poses after removing translation,
scale, rotation and facing direction (generalized Procrustes analysis with reflections). It is
stored in a normalized frame: wrists' midpoint at the origin, the body line from the hands to
the ankles pointing up the image (towards negative y, image axes), and a body height of 1.

To draw it over an athlete it stands on the athlete's hands as the vertical stack a straight
handstand is (up the image, towards negative y: the direction gravity points the body when the
camera is level), scaled to the athlete's body height (measured along the bones, so an arched
body is not taken for a short one); of the ideal and its mirror image, the one whose joints lie
closer to the athlete's is kept, so the ghost faces the way the athlete faces. It never tilts
with the athlete's arms. Only when the hands are not seen is it fitted by a weighted similarity
(Procrustes) transform to the joints that are.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.checksum import file_sha256
from engine.skeleton import (
    FLIP_PERMUTATION,
    HEAD_TOP,
    L_ANKLE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NUM_JOINTS,
    PELVIS,
    R_ANKLE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
    UPPER_NECK,
)
from weights import shipped_file

DEFAULT_IDEAL_POSE = shipped_file("ideal_pose.npz")
IDEAL_FORMAT_VERSION = 1
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)

# Joints the ghost is anchored at: a handstand is balanced over the hands, and the hands and
# shoulders are what the athlete holds still; the rest of the body is what the ghost shows.
ANCHOR_JOINTS: tuple[int, ...] = (R_WRIST, L_WRIST, R_SHOULDER, L_SHOULDER)
# Below this confidence a joint does not take part in a fit.
MIN_CONFIDENCE = 0.2

# Bone chains whose summed lengths give the standing body height (head top to ankle), which does
# not change when the pose does; deviations are expressed in % of it.
_HEIGHT_AXIS: tuple[tuple[int, int], ...] = (
    (HEAD_TOP, UPPER_NECK),
    (UPPER_NECK, THORAX),
    (THORAX, PELVIS),
)
_HEIGHT_LEGS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((PELVIS, R_HIP), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE)),
    ((PELVIS, L_HIP), (L_HIP, L_KNEE), (L_KNEE, L_ANKLE)),
)


class IdealError(RuntimeError):
    """The ideal pose file is corrupt or does not match its card; the message is one line."""


def body_height(keypoints: np.ndarray) -> np.ndarray:
    """Standing body height measured along the bones, head top to ankles.

    Args:
        keypoints: (..., 16, 2 or 3) keypoints.

    Returns:
        (...) float heights: head + neck + trunk + the mean of the two legs.
    """
    points = np.asarray(keypoints, dtype=np.float64)[..., :2]

    def length(bone: tuple[int, int]) -> np.ndarray:
        return np.linalg.norm(points[..., bone[0], :] - points[..., bone[1], :], axis=-1)

    axis = sum(length(bone) for bone in _HEIGHT_AXIS)
    legs = [sum(length(bone) for bone in leg) for leg in _HEIGHT_LEGS]
    return axis + 0.5 * (legs[0] + legs[1])


def similarity_fit(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    allow_reflection: bool = False,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares similarity transform from ``src`` to ``dst`` (Umeyama).

    Finds ``scale``, ``rotation`` and ``translation`` minimizing
    ``sum_i w_i * |scale * rotation @ src_i + translation - dst_i|^2``.

    Args:
        src: (N, 2) points.
        dst: (N, 2) corresponding points.
        weights: (N,) non-negative weights; all ones when omitted.
        allow_reflection: whether ``rotation`` may be a reflection (determinant -1).

    Returns:
        ``(scale, rotation (2, 2), translation (2,))``.

    Raises:
        ValueError: fewer than two points carry weight, or they all coincide.
    """
    src = np.asarray(src, dtype=np.float64)[:, :2]
    dst = np.asarray(dst, dtype=np.float64)[:, :2]
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(src).all(1) & np.isfinite(dst).all(1), np.clip(w, 0.0, None), 0.0)
    if np.count_nonzero(w > 0) < 2:
        raise ValueError("a similarity fit needs at least two weighted points")
    src = np.nan_to_num(src)
    dst = np.nan_to_num(dst)
    w = w / w.sum()
    src_mean = w @ src
    dst_mean = w @ dst
    src_c = src - src_mean
    dst_c = dst - dst_mean
    src_var = float(w @ (src_c**2).sum(1))
    if src_var <= 1e-12:
        raise ValueError("a similarity fit needs points that do not all coincide")
    covariance = (dst_c * w[:, None]).T @ src_c
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if not allow_reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / src_var)
    translation = dst_mean - scale * rotation @ src_mean
    return scale, rotation, translation


def apply_similarity(
    points: np.ndarray, scale: float, rotation: np.ndarray, translation: np.ndarray
) -> np.ndarray:
    """Applies ``scale * rotation @ p + translation`` to every point.

    Args:
        points: (..., 2) or (..., 3) points; a third (confidence) column is kept as is.
        scale: the scale factor.
        rotation: (2, 2) rotation (or reflection) matrix.
        translation: (2,) translation.

    Returns:
        Transformed points, same shape, float64.
    """
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    out[..., :2] = scale * points[..., :2] @ np.asarray(rotation).T + np.asarray(translation)
    return out


def mirror_normalized(pose: np.ndarray) -> np.ndarray:
    """Mirrors a normalized pose about the body line (x -> -x) and swaps left and right.

    Args:
        pose: (..., 16, 2) pose in the normalized ideal frame.

    Returns:
        (..., 16, 2) mirrored pose.
    """
    mirrored = np.asarray(pose, dtype=np.float32)[..., list(FLIP_PERMUTATION), :].copy()
    mirrored[..., 0] = -mirrored[..., 0]
    return mirrored


def normalize_pose(keypoints: np.ndarray) -> np.ndarray:
    """Moves a pose into the normalized frame (hands at 0, feet up, body height 1).

    Args:
        keypoints: (16, 2 or 3) pixel keypoints, all joints present.

    Returns:
        (16, 2) float32 normalized pose.
    """
    points = np.asarray(keypoints, dtype=np.float64)[:, :2]
    hands = points[[R_WRIST, L_WRIST]].mean(0)
    feet = points[[R_ANKLE, L_ANKLE]].mean(0)
    axis = feet - hands
    angle = np.arctan2(axis[0], -axis[1])  # rotation that brings the axis onto (0, -1)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, sin], [-sin, cos]])
    height = float(body_height(points))
    if not np.isfinite(height) or height <= 1e-9:
        raise ValueError("pose has zero body height")
    return ((points - hands) @ rotation.T / height).astype(np.float32)


def average_poses(poses: np.ndarray, *, iterations: int = 10) -> np.ndarray:
    """Generalized Procrustes mean of poses, with reflections allowed (facing removed).

    Args:
        poses: (N, 16, 2 or 3) complete poses (pixels or any frame).
        iterations: alignment rounds.

    Returns:
        (16, 2) float32 mean pose in the normalized frame.

    Raises:
        ValueError: no poses given.
    """
    poses = np.asarray(poses, dtype=np.float64)[..., :2]
    if len(poses) == 0:
        raise ValueError("no poses to average")
    normalized = np.stack([normalize_pose(pose) for pose in poses]).astype(np.float64)
    mean = normalized[0]
    for _ in range(iterations):
        aligned = np.empty_like(normalized)
        for i, pose in enumerate(normalized):
            best_error = np.inf
            # Fit the pose and its mirror image: the athletes face either way.
            for candidate in (pose, mirror_normalized(pose).astype(np.float64)):
                scale, rotation, translation = similarity_fit(candidate, mean)
                moved = apply_similarity(candidate, scale, rotation, translation)
                error = ((moved - mean) ** 2).sum()
                if error < best_error:
                    best_error, aligned[i] = error, moved
        new_mean = normalize_pose(aligned.mean(0))
        converged = np.abs(new_mean - mean).max() < 1e-6
        mean = new_mean.astype(np.float64)
        if converged:
            break
    return mean.astype(np.float32)


def side_profile(pose: np.ndarray) -> np.ndarray:
    """A pure side view of a normalized pose: each left/right pair moved to its midpoint.

    Averaged over cameras at different elevations and azimuths the two sides of a mean pose
    stay a little apart; the ghost is meant to show the line, which a side profile shows best.

    Args:
        pose: (16, 2) normalized pose.

    Returns:
        (16, 2) float32 pose with coinciding left and right joints, re-normalized.
    """
    pose = np.asarray(pose, dtype=np.float64)
    profile = 0.5 * (pose + pose[list(FLIP_PERMUTATION)])
    return normalize_pose(profile)


@dataclass(frozen=True)
class IdealPose:
    """The averaged straight handstand, in the normalized frame.

    Attributes:
        keypoints: (16, 2) float32 normalized ideal pose (hands at 0, feet up, body height 1).
        card: the model card (data, how it was built, checksum).
    """

    keypoints: np.ndarray
    card: dict = field(default_factory=dict)

    def fit(self, keypoints: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Similarity transform (scale, rotation, translation) from the ideal to ``keypoints``.

        The rotation may be a reflection: the ideal's facing is matched to the athlete's. It is
        applied to ``self.keypoints`` (or to their mirror when it is a reflection, see
        :meth:`align`).

        Args:
            keypoints: (16, 3) athlete keypoints in pixels with confidence (NaN for missing).

        Returns:
            The transform, or None when fewer than two usable joints exist.
        """
        athlete = np.asarray(keypoints, dtype=np.float64)
        confidence = np.nan_to_num(athlete[:, 2]) if athlete.shape[1] > 2 else np.ones(16)
        usable = np.isfinite(athlete[:, :2]).all(1) & (confidence >= MIN_CONFIDENCE)
        weights = np.where(usable, confidence, 0.0)
        anchor_weights = np.zeros(NUM_JOINTS)
        anchor_weights[list(ANCHOR_JOINTS)] = weights[list(ANCHOR_JOINTS)]
        if not self._fittable(athlete, anchor_weights):
            anchor_weights = weights  # anchors hidden or coinciding: fit the whole body instead
        if not self._fittable(athlete, anchor_weights):
            return None
        best = None
        for mirrored in (False, True):
            ideal = mirror_normalized(self.keypoints) if mirrored else self.keypoints
            try:
                scale, rotation, translation = similarity_fit(ideal, athlete, anchor_weights)
            except ValueError:
                return None
            ghost = apply_similarity(ideal, scale, rotation, translation)
            error = np.nansum(weights * ((ghost - np.nan_to_num(athlete[:, :2])) ** 2).sum(1))
            if best is None or error < best[0]:
                reflection = np.diag([-1.0, 1.0]) if mirrored else np.eye(2)
                best = (error, scale, rotation @ reflection, translation)
        return best[1], best[2], best[3]

    def _fittable(self, athlete: np.ndarray, weights: np.ndarray) -> bool:
        """Whether the weighted joints span more than a point, in the athlete and the ideal."""
        return (
            np.count_nonzero(weights) >= 2
            and _spread(athlete, weights) > 1e-6
            and _spread(self.keypoints, weights) > 1e-6
        )

    def fit_upright(self, keypoints: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The ideal standing vertically on the athlete's hands, scaled to the athlete.

        Args:
            keypoints: (16, 3) athlete keypoints in pixels with confidence (NaN for missing).

        Returns:
            (scale, rotation, translation) with rotation the identity or the mirror
            ``diag(-1, 1)``, translation the athlete's hands; None when no wrist is seen.
        """
        athlete = np.asarray(keypoints, dtype=np.float64)
        confidence = np.nan_to_num(athlete[:, 2]) if athlete.shape[1] > 2 else np.ones(16)
        usable = np.isfinite(athlete[:, :2]).all(1) & (confidence >= MIN_CONFIDENCE)
        wrists = [joint for joint in (R_WRIST, L_WRIST) if usable[joint]]
        if not wrists:
            return None
        hands = athlete[wrists, :2].mean(0)
        height = float(body_height(athlete)) if usable.all() else float("nan")
        weights = np.where(usable, confidence, 0.0)
        best = None
        for mirrored in (False, True):
            ideal = (mirror_normalized(self.keypoints) if mirrored else self.keypoints).astype(
                np.float64
            )
            scale = height
            if not (np.isfinite(scale) and scale > 0):
                # Some joints unseen: the scale that lays the ideal best over those that are.
                offsets = np.nan_to_num(athlete[:, :2]) - hands
                denominator = float((weights * (ideal ** 2).sum(1)).sum())
                if denominator <= 1e-12:
                    return None
                scale = float((weights * (ideal * offsets).sum(1)).sum()) / denominator
                if not scale > 0:
                    return None
            ghost = scale * ideal + hands
            error = float((weights * ((ghost - np.nan_to_num(athlete[:, :2])) ** 2).sum(1)).sum())
            if best is None or error < best[0]:
                best = (error, scale, np.diag([-1.0, 1.0]) if mirrored else np.eye(2), hands)
        return best[1], best[2], best[3]

    def align(self, keypoints: np.ndarray) -> np.ndarray | None:
        """The ideal pose over an athlete, in the athlete's image pixels (see the module doc).

        Args:
            keypoints: (16, 3) athlete keypoints in pixels with confidence (NaN for missing).

        Returns:
            (16, 3) float32 ghost keypoints in pixels (confidence 1), or None when fewer than
            two joints of the athlete are usable.
        """
        transform = self.fit_upright(keypoints) or self.fit(keypoints)
        if transform is None:
            return None
        scale, rotation, translation = transform
        ghost = apply_similarity(self.keypoints, scale, rotation, translation)
        if np.linalg.det(rotation) < 0:
            ghost = ghost[list(FLIP_PERMUTATION)]
        out = np.ones((NUM_JOINTS, 3), dtype=np.float32)
        out[:, :2] = ghost
        return out


def _spread(points: np.ndarray, weights: np.ndarray) -> float:
    chosen = weights > 0
    if np.count_nonzero(chosen) < 2:
        return 0.0
    selected = points[chosen, :2]
    return float(np.abs(selected - selected.mean(0)).max())


def card_path(path: Path | str) -> Path:
    """The model card that sits next to an ideal pose file (``.npz`` -> ``.json``)."""
    return Path(path).with_suffix(".json")


def save_ideal_pose(keypoints: np.ndarray, path: Path | str, card: dict) -> Path:
    """Writes the ideal pose and its card (with the file's sha256) next to it.

    Args:
        keypoints: (16, 2) normalized ideal pose.
        path: the ``.npz`` to write.
        card: model card fields (data, how it was built, command); ``sha256`` and
            ``format_version`` are added.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "keypoints": np.asarray(keypoints, dtype=np.float32),
        "format_version": np.asarray(IDEAL_FORMAT_VERSION, dtype=np.int64),
    }
    # Written by hand with a fixed timestamp so that the same pose gives the same bytes (and
    # sha256) on every rebuild; np.savez stamps the current time into the archive.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME), buffer.getvalue())
    full_card = dict(card)
    full_card["format_version"] = IDEAL_FORMAT_VERSION
    full_card["file"] = path.name
    full_card["sha256"] = file_sha256(path)
    card_path(path).write_text(json.dumps(full_card, indent=2) + "\n")
    return path


def load_ideal_pose(path: Path | str | None = None) -> IdealPose | None:
    """Loads the ideal pose, verifying its checksum against the card next to it.

    Args:
        path: the ``.npz`` file; ``weights/ideal_pose.npz`` when None.

    Returns:
        The ideal pose, or None when no file exists at ``path``.

    Raises:
        IdealError: the file or its card is corrupt, missing its card, or the checksum differs.
    """
    path = Path(DEFAULT_IDEAL_POSE if path is None else path)
    if not path.exists():
        return None
    card_file = card_path(path)
    try:
        card = json.loads(card_file.read_text())
    except FileNotFoundError:
        raise IdealError(f"ideal pose card missing: {card_file}") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise IdealError(f"ideal pose card unreadable: {card_file} ({error})") from None
    if not isinstance(card, dict) or "sha256" not in card:
        raise IdealError(f"ideal pose card has no sha256: {card_file}")
    try:
        actual = file_sha256(path)
    except OSError as error:
        raise IdealError(f"ideal pose unreadable: {path} ({error.strerror})") from None
    if actual != card["sha256"]:
        raise IdealError(f"ideal pose checksum mismatch: {path} does not match {card_file.name}")
    try:
        with np.load(path, allow_pickle=False) as data:
            keypoints = np.asarray(data["keypoints"], dtype=np.float32)
    except (OSError, ValueError, KeyError) as error:
        raise IdealError(f"ideal pose corrupt: {path} ({error})") from None
    if keypoints.shape != (NUM_JOINTS, 2) or not np.isfinite(keypoints).all():
        raise IdealError(f"ideal pose corrupt: {path} holds shape {keypoints.shape}")
    return IdealPose(keypoints=keypoints, card=card)

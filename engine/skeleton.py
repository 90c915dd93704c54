"""The one skeleton of formcoach: DeepHAR's MPII-16 joint order ("pa16j").

Every keypoint array in the project is ``(..., K, 3)`` float32 holding ``(x, y, confidence)``
in the canonical order below. Other layouts (BlazePose-33, COCO-17, MPII native) are converted
here and nowhere else.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "r_shoulder",
    "l_shoulder",
    "r_elbow",
    "l_elbow",
    "r_wrist",
    "l_wrist",
    "r_hip",
    "l_hip",
    "r_knee",
    "l_knee",
    "r_ankle",
    "l_ankle",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PELVIS, THORAX, UPPER_NECK, HEAD_TOP = 0, 1, 2, 3
R_SHOULDER, L_SHOULDER, R_ELBOW, L_ELBOW, R_WRIST, L_WRIST = 4, 5, 6, 7, 8, 9
R_HIP, L_HIP, R_KNEE, L_KNEE, R_ANKLE, L_ANKLE = 10, 11, 12, 13, 14, 15

FLIP_PAIRS: tuple[tuple[int, int], ...] = ((4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15))
# Index permutation that swaps left and right: ``flipped = keypoints[..., FLIP_PERMUTATION, :]``.
FLIP_PERMUTATION: tuple[int, ...] = (0, 1, 2, 3, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)

# Bones for drawing and for bone-length checks, parent -> child.
BONES: tuple[tuple[int, int], ...] = (
    (PELVIS, THORAX),
    (THORAX, UPPER_NECK),
    (UPPER_NECK, HEAD_TOP),
    (THORAX, R_SHOULDER),
    (R_SHOULDER, R_ELBOW),
    (R_ELBOW, R_WRIST),
    (THORAX, L_SHOULDER),
    (L_SHOULDER, L_ELBOW),
    (L_ELBOW, L_WRIST),
    (PELVIS, R_HIP),
    (R_HIP, R_KNEE),
    (R_KNEE, R_ANKLE),
    (PELVIS, L_HIP),
    (L_HIP, L_KNEE),
    (L_KNEE, L_ANKLE),
)

# MPII annotation files list joints in their own order; DeepHAR's rule is
# ``canonical[MPII_TO_CANONICAL[k]] = mpii[k]``.
MPII_TO_CANONICAL: tuple[int, ...] = (14, 12, 10, 11, 13, 15, 0, 1, 2, 3, 8, 6, 4, 5, 7, 9)

# Canonical joints that BlazePose-33 and COCO-17 observe directly: canonical index -> source index.
BLAZEPOSE_DIRECT: dict[int, int] = {
    R_SHOULDER: 12, L_SHOULDER: 11, R_ELBOW: 14, L_ELBOW: 13, R_WRIST: 16, L_WRIST: 15,
    R_HIP: 24, L_HIP: 23, R_KNEE: 26, L_KNEE: 25, R_ANKLE: 28, L_ANKLE: 27,
}
COCO_DIRECT: dict[int, int] = {
    R_SHOULDER: 6, L_SHOULDER: 5, R_ELBOW: 8, L_ELBOW: 7, R_WRIST: 10, L_WRIST: 9,
    R_HIP: 12, L_HIP: 11, R_KNEE: 14, L_KNEE: 13, R_ANKLE: 16, L_ANKLE: 15,
}
_BLAZEPOSE_NOSE, _BLAZEPOSE_EARS = 0, (7, 8)
_COCO_NOSE, _COCO_EARS = 0, (3, 4)

# Where the upper neck sits between the thorax and the centre of the head, and how far the head
# top lies beyond the head centre, in units of the neck-to-head-centre distance. Chosen so the
# derived joints land where MPII annotators put them; the synthetic generator uses the same rule.
UPPER_NECK_FRACTION = 0.5
HEAD_TOP_EXTENSION = 1.0


def _derive_axial_joints(
    out: np.ndarray, shoulders: np.ndarray, hips: np.ndarray, head_center: np.ndarray
) -> None:
    """Fills pelvis, thorax, upper neck and head top of ``out`` in place.

    Args:
        out: (..., 16, 3) canonical keypoints to complete.
        shoulders: (..., 2, 3) right and left shoulder.
        hips: (..., 2, 3) right and left hip.
        head_center: (..., 3) centre of the head with its confidence.
    """
    out[..., PELVIS, :2] = hips[..., :2].mean(axis=-2)
    out[..., PELVIS, 2] = hips[..., 2].min(axis=-1)
    out[..., THORAX, :2] = shoulders[..., :2].mean(axis=-2)
    out[..., THORAX, 2] = shoulders[..., 2].min(axis=-1)
    thorax = out[..., THORAX, :2]
    neck_to_head = head_center[..., :2] - thorax
    out[..., UPPER_NECK, :2] = thorax + UPPER_NECK_FRACTION * neck_to_head
    out[..., HEAD_TOP, :2] = head_center[..., :2] + HEAD_TOP_EXTENSION * (
        head_center[..., :2] - out[..., UPPER_NECK, :2]
    )
    head_confidence = np.minimum(head_center[..., 2], out[..., THORAX, 2])
    out[..., UPPER_NECK, 2] = head_confidence
    out[..., HEAD_TOP, 2] = head_confidence


def _convert(
    source: np.ndarray, direct: dict[int, int], nose: int, ears: tuple[int, int]
) -> np.ndarray:
    source = np.asarray(source, dtype=np.float32)
    out = np.zeros(source.shape[:-2] + (NUM_JOINTS, 3), dtype=np.float32)
    for canonical, index in direct.items():
        out[..., canonical, :] = source[..., index, :]
    ear_pair = source[..., list(ears), :]
    head_center = np.empty(source.shape[:-2] + (3,), dtype=np.float32)
    head_center[..., :2] = ear_pair[..., :2].mean(axis=-2)
    head_center[..., 2] = ear_pair[..., 2].min(axis=-1)
    # Ears are often hidden in side views; the nose is the better head anchor then.
    use_nose = head_center[..., 2] < source[..., nose, 2]
    head_center[use_nose] = source[..., nose, :][use_nose]
    _derive_axial_joints(
        out, out[..., [R_SHOULDER, L_SHOULDER], :], out[..., [R_HIP, L_HIP], :], head_center
    )
    return out


def from_blazepose(landmarks: np.ndarray) -> np.ndarray:
    """Maps BlazePose-33 landmarks to the canonical skeleton.

    Args:
        landmarks: (..., 33, 3) x, y in pixels and a confidence in [0, 1].

    Returns:
        (..., 16, 3) float32 canonical keypoints.
    """
    return _convert(landmarks, BLAZEPOSE_DIRECT, _BLAZEPOSE_NOSE, _BLAZEPOSE_EARS)


def from_coco(keypoints: np.ndarray) -> np.ndarray:
    """Maps COCO-17 keypoints to the canonical skeleton.

    Args:
        keypoints: (..., 17, 3) x, y in pixels and a visibility or confidence.

    Returns:
        (..., 16, 3) float32 canonical keypoints.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32).copy()
    keypoints[..., 2] = np.clip(keypoints[..., 2], 0.0, 1.0)
    return _convert(keypoints, COCO_DIRECT, _COCO_NOSE, _COCO_EARS)


def from_mpii(joints: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Reorders MPII-native joints (16, r_ankle first) into the canonical skeleton.

    Args:
        joints: (..., 16, 2) x, y in pixels, MPII native order.
        visible: (..., 16) annotation flags; all ones when omitted.

    Returns:
        (..., 16, 3) float32 canonical keypoints.
    """
    joints = np.asarray(joints, dtype=np.float32)
    if visible is None:
        visible = np.ones(joints.shape[:-1], dtype=np.float32)
    out = np.zeros(joints.shape[:-2] + (NUM_JOINTS, 3), dtype=np.float32)
    out[..., list(MPII_TO_CANONICAL), :2] = joints
    out[..., list(MPII_TO_CANONICAL), 2] = np.asarray(visible, dtype=np.float32)
    return out


def flip_horizontal(keypoints: np.ndarray, image_width: float | np.ndarray) -> np.ndarray:
    """Mirrors keypoints left-right and swaps left/right joints.

    Args:
        keypoints: (..., 16, 3) canonical keypoints in pixels.
        image_width: width of the image the pixels refer to; an array of shape (..., 1) gives
            each keypoint set its own width.

    Returns:
        (..., 16, 3) mirrored keypoints.
    """
    flipped = np.asarray(keypoints, dtype=np.float32)[..., list(FLIP_PERMUTATION), :].copy()
    flipped[..., 0] = image_width - 1.0 - flipped[..., 0]
    return flipped


def rotate_in_plane(keypoints: np.ndarray, degrees: float, center: np.ndarray) -> np.ndarray:
    """Rotates keypoints about a point in the image plane, as a rolled camera would show them.

    Args:
        keypoints: (..., 16, 3) canonical keypoints in pixels (y down).
        degrees: rotation angle; positive turns clockwise on screen.
        center: (..., 2) pivot in pixels, broadcastable against the keypoints' leading axes.

    Returns:
        (..., 16, 3) float32 rotated keypoints; confidences unchanged.
    """
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    out = np.asarray(keypoints, dtype=np.float32).copy()
    pivot = np.asarray(center, dtype=np.float32)[..., None, :]
    offset = out[..., :2] - pivot
    out[..., 0] = pivot[..., 0] + cos * offset[..., 0] - sin * offset[..., 1]
    out[..., 1] = pivot[..., 1] + sin * offset[..., 0] + cos * offset[..., 1]
    return out

"""Part-based re-posing: the athlete's own image moved, part by part, into a corrected pose.

The person is cut out (a segmentation mask when one is given, BlazePose's works on inverted
bodies; else capsules around the skeleton), every pixel of the person is given to the nearest
body part (torso with head, upper and lower arms, thighs, shins), and each part is moved
rigidly from where it is to where the corrected pose puts it: limbs turn about their parent
joint, the torso follows the best rigid fit of its joints. The parts are composited back to
front over the background with the person inpainted away, with feathered edges. No triangle
can fold and no part is stretched; where a correction is too large to look like a photo
(a part turned by more than ``MAX_TURN_DEGREES`` or a joint moved more than
``MAX_MOVE_FRACTION`` of body height), :func:`repose` says so instead of drawing a smear.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.ideal import body_height
from engine.skeleton import (
    HEAD_TOP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    PELVIS,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
    UPPER_NECK,
)

# Parts in drawing order (back to front): each is the bones whose nearby pixels it owns.
TORSO_BONES = ((PELVIS, THORAX), (THORAX, UPPER_NECK), (UPPER_NECK, HEAD_TOP),
               (THORAX, R_SHOULDER), (THORAX, L_SHOULDER), (PELVIS, R_HIP), (PELVIS, L_HIP))
TORSO_JOINTS = (PELVIS, THORAX, UPPER_NECK, HEAD_TOP, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP)
LIMB_PARTS: dict[str, tuple[int, int]] = {
    "right thigh": (R_HIP, R_KNEE), "left thigh": (L_HIP, L_KNEE),
    "right shin": (R_KNEE, R_ANKLE), "left shin": (L_KNEE, L_ANKLE),
    "right upper arm": (R_SHOULDER, R_ELBOW), "left upper arm": (L_SHOULDER, L_ELBOW),
    "right forearm": (R_ELBOW, R_WRIST), "left forearm": (L_ELBOW, L_WRIST),
}
DRAW_ORDER = ("right thigh", "left thigh", "right shin", "left shin", "torso",
              "right upper arm", "left upper arm", "right forearm", "left forearm")
# Half widths of the skeleton capsules (units of body height) when no mask is given.
LIMB_RADIUS, TORSO_RADIUS = 0.045, 0.09
# Mask pixels further than this from every bone (units of body height) are not the athlete.
MASK_REACH = 0.15
MAX_TURN_DEGREES = 75.0
MAX_MOVE_FRACTION = 0.3
FEATHER_PIXELS = 2


@dataclass(frozen=True)
class Reposed:
    """A re-posed image.

    Attributes:
        image: (H, W, 3) uint8 BGR, the athlete moved into the corrected pose (the input
            image when ``too_large``).
        too_large: the correction is too large to show as a photo; ``reason`` says why.
        reason: one line ("" when shown).
        hole_share: seams and holes: share of the moved person's silhouette (closed over
            gaps up to 4 % of body height) that no moved pixel covers (0-1).
        unmoved_hole_share: the same for the person as cut out, before moving (the share its
            own concave corners, armpits and the gap between the legs, give the measure).
        coverage: (H, W) float32 in [0, 1], how much moved person covers each pixel.
    """

    image: np.ndarray
    too_large: bool
    reason: str
    hole_share: float
    coverage: np.ndarray
    unmoved_hole_share: float = 0.0


def _segment_distances(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distance of (N, 2) points to the segment start-end."""
    direction = end - start
    length2 = float(direction @ direction)
    if length2 <= 1e-12:
        return np.linalg.norm(points - start, axis=1)
    t = np.clip(((points - start) @ direction) / length2, 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * direction), axis=1)


def _part_bones(part: str) -> tuple[tuple[int, int], ...]:
    return TORSO_BONES if part == "torso" else (LIMB_PARTS[part],)


def skeleton_mask(
    keypoints: np.ndarray, shape: tuple[int, int], *, core: float = 1.0
) -> np.ndarray:
    """Capsules around the bones of a pose, as an (H, W) bool mask.

    Args:
        keypoints: (16, 2+) pixel joints.
        shape: (H, W) of the image.
        core: radius factor (< 1 for the interior of the body only).
    """
    height = float(body_height(keypoints))
    mask = np.zeros(shape, np.uint8)
    points = np.asarray(keypoints, np.float64)[:, :2]
    for part in DRAW_ORDER:
        radius = (TORSO_RADIUS if part == "torso" else LIMB_RADIUS) * height * core
        for parent, child in _part_bones(part):
            cv2.line(mask, tuple(np.round(points[parent]).astype(int)),
                     tuple(np.round(points[child]).astype(int)), 1,
                     max(1, int(round(2 * radius))), cv2.LINE_8)
    return mask.astype(bool)


def _rigid(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 rotation + translation taking ``src`` points onto ``dst`` (least squares)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    covariance = (dst - dst_mean).T @ (src - src_mean)
    u, _, vt = np.linalg.svd(covariance)
    rotation = u @ np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0]) @ vt
    return np.hstack([rotation, (dst_mean - rotation @ src_mean)[:, None]])


def _limb_transform(original: np.ndarray, corrected: np.ndarray, bone) -> np.ndarray:
    parent, child = bone
    before = original[child] - original[parent]
    after = corrected[child] - corrected[parent]
    angle = np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0])
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return np.hstack([rotation, (corrected[parent] - rotation @ original[parent])[:, None]])


def _turn_degrees(transform: np.ndarray) -> float:
    return abs(float(np.degrees(np.arctan2(transform[1, 0], transform[0, 0]))))


def part_transforms(original: np.ndarray, corrected: np.ndarray) -> dict[str, np.ndarray]:
    """Each part's rigid 2x3 transform from the original pose to the corrected one."""
    original = np.asarray(original, np.float64)[:, :2]
    corrected = np.asarray(corrected, np.float64)[:, :2]
    transforms = {"torso": _rigid(original[list(TORSO_JOINTS)], corrected[list(TORSO_JOINTS)])}
    for part, bone in LIMB_PARTS.items():
        transforms[part] = _limb_transform(original, corrected, bone)
    return transforms


def part_labels(keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Which part owns each person pixel: (H, W) int, index into ``DRAW_ORDER``, -1 = none."""
    height = float(body_height(keypoints))
    points = np.asarray(keypoints, np.float64)[:, :2]
    labels = np.full(mask.shape, -1, np.int32)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return labels
    pixels = np.stack([xs, ys], axis=1).astype(np.float64)
    distances = np.stack([
        np.min([_segment_distances(pixels, points[a], points[b]) for a, b in _part_bones(part)],
               axis=0)
        for part in DRAW_ORDER
    ])
    nearest = distances.argmin(axis=0)
    reach = distances.min(axis=0) <= MASK_REACH * height
    labels[ys[reach], xs[reach]] = nearest[reach]
    return labels


def _inpainted(bgr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the masked person filled in from the surroundings."""
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8))
    scale = min(1.0, 400.0 / max(bgr.shape[:2]))  # inpainting is slow: work small
    small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(grown, (small.shape[1], small.shape[0]),
                            interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = bgr.copy()
    out[grown.astype(bool)] = filled[grown.astype(bool)]
    return out


def repose(
    bgr: np.ndarray,
    original: np.ndarray,
    corrected: np.ndarray,
    person_mask: np.ndarray | None = None,
) -> Reposed:
    """Moves the athlete's image part by part from ``original`` into ``corrected``.

    Args:
        bgr: (H, W, 3) uint8 image.
        original: (16, 2+) pixel joints of the athlete.
        corrected: (16, 2+) pixel joints of the corrected pose (same bone lengths).
        person_mask: (H, W) segmentation (bool or probability); None uses skeleton capsules.

    Returns:
        The re-posed image, or the input with ``too_large`` set and the reason.
    """
    bgr = np.ascontiguousarray(bgr)
    shape = bgr.shape[:2]
    original = np.asarray(original, np.float64)
    corrected = np.asarray(corrected, np.float64)
    height = float(body_height(original))
    transforms = part_transforms(original, corrected)
    turn = max(_turn_degrees(t) for t in transforms.values())
    move = float(np.nanmax(np.linalg.norm(corrected[:, :2] - original[:, :2], axis=1)))
    if turn > MAX_TURN_DEGREES or move > MAX_MOVE_FRACTION * height:
        reason = (f"correction too large to show on the photo (a part turns {turn:.0f} deg, a "
                  f"joint moves {100 * move / height:.0f} % of your height)")
        return Reposed(bgr.copy(), True, reason, 0.0, np.zeros(shape, np.float32))
    capsules = skeleton_mask(original, shape)
    if person_mask is None:
        mask = capsules
    else:
        reach = skeleton_mask(original, shape, core=MASK_REACH / LIMB_RADIUS * 0.5)
        mask = (np.asarray(person_mask, np.float32) > 0.5) & reach
    labels = part_labels(original, mask)
    out = _inpainted(bgr, mask).astype(np.float32)
    coverage = np.zeros(shape, np.float32)
    for index, part in enumerate(DRAW_ORDER):
        owned = (labels == index).astype(np.float32)
        if not owned.any():
            continue
        transform = transforms[part]
        moved = cv2.warpAffine(bgr, transform, (shape[1], shape[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(owned, transform, (shape[1], shape[0]), flags=cv2.INTER_LINEAR)
        coverage = np.maximum(coverage, alpha)
        if FEATHER_PIXELS:
            size = 2 * FEATHER_PIXELS + 1
            alpha = cv2.GaussianBlur(alpha, (size, size), 0)
        out = out * (1.0 - alpha[..., None]) + moved.astype(np.float32) * alpha[..., None]
    return Reposed(np.clip(out, 0, 255).astype(np.uint8), False, "",
                   seam_share(coverage, height), coverage,
                   seam_share((labels >= 0).astype(np.float32), height))


def seam_share(coverage: np.ndarray, height: float) -> float:
    """Share of a moved silhouette that is a gap (a seam between parts, a hole).

    The silhouette is closed over gaps up to 4 % of body height wide; the share is of its
    pixels that no moved pixel covers.

    Args:
        coverage: (H, W) float in [0, 1], how much moved person covers each pixel.
        height: body height in pixels.
    """
    covered = (coverage >= 0.5).astype(np.uint8)
    size = max(3, int(round(0.04 * height)) | 1)
    closed = cv2.morphologyEx(covered, cv2.MORPH_CLOSE, np.ones((size, size), np.uint8))
    inside = int(closed.sum())
    return float((closed & (1 - covered)).sum()) / inside if inside else 0.0

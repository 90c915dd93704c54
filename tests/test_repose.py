"""Part-based re-posing: parts move rigidly to the corrected pose, nothing folds or smears."""

from __future__ import annotations

import cv2
import numpy as np

from engine import skeleton
from engine.repose import repose, seam_share
from tests.test_explain_poses import stick_handstand

LEG_COLOR = (20, 40, 230)


def _scene(pose: np.ndarray) -> np.ndarray:
    """A textured background with the pose painted as thick limbs (legs red)."""
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(90, 160, (640, 480, 3), dtype=np.uint8), (9, 9), 0)
    for parent, child in skeleton.BONES:
        leg = child in (skeleton.R_KNEE, skeleton.L_KNEE, skeleton.R_ANKLE, skeleton.L_ANKLE)
        cv2.line(image, tuple(np.round(pose[parent, :2]).astype(int)),
                 tuple(np.round(pose[child, :2]).astype(int)),
                 LEG_COLOR if leg else (200, 200, 60), 14)
    return image


def _legs_turned(pose: np.ndarray, degrees: float) -> np.ndarray:
    out = pose.copy()
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pivot = pose[skeleton.PELVIS, :2]
    for joint in (skeleton.R_HIP, skeleton.L_HIP, skeleton.R_KNEE, skeleton.L_KNEE,
                  skeleton.R_ANKLE, skeleton.L_ANKLE):
        out[joint, :2] = pivot + rotation @ (pose[joint, :2] - pivot)
    return out


def _pose() -> np.ndarray:
    pose = stick_handstand(np.random.default_rng(4), banana=False)
    pose[:, :2] += np.array([240.0, 600.0]) - pose[[8, 9], :2].mean(0)  # hands near the floor
    return pose


def test_no_correction_leaves_the_photo_as_it_was():
    pose = _pose()
    image = _scene(pose)
    out = repose(image, pose, pose)
    assert not out.too_large
    assert np.abs(out.image.astype(int) - image.astype(int)).mean() < 2.0
    assert out.hole_share < 0.05


def test_a_limb_moves_as_one_piece_to_the_corrected_pose():
    pose = _pose()
    image = _scene(pose)
    corrected = _legs_turned(pose, 12.0)
    out = repose(image, pose, corrected)
    assert not out.too_large
    knee = np.round(0.5 * (corrected[skeleton.R_HIP, :2] + corrected[skeleton.R_KNEE, :2]))
    x, y = knee.astype(int)
    assert np.abs(out.image[y, x].astype(int) - LEG_COLOR).max() < 40  # the leg is there now
    old = np.round(0.5 * (pose[skeleton.R_KNEE, :2] + pose[skeleton.R_ANKLE, :2])).astype(int)
    still_leg = np.abs(out.image[old[1], old[0]].astype(int) - LEG_COLOR).max() < 40
    assert not still_leg  # and gone from where it was (background filled in)
    assert out.hole_share < 0.1


def test_a_correction_too_large_for_a_photo_is_said_not_drawn():
    pose = _pose()
    image = _scene(pose)
    out = repose(image, pose, _legs_turned(pose, 100.0))
    assert out.too_large and "too large" in out.reason
    np.testing.assert_array_equal(out.image, image)


def test_seam_share_counts_gaps_inside_a_silhouette():
    full = np.zeros((100, 100), np.float32)
    full[20:80, 30:70] = 1.0
    assert seam_share(full, 100.0) == 0.0
    cracked = full.copy()
    cracked[49:51, 30:70] = 0.0  # a two-pixel seam across the body
    assert 0.02 < seam_share(cracked, 100.0) < 0.06

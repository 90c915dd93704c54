"""Drawing a skeleton onto an image, shared by the app's overlay and the labeling window.

Pure pixel drawing with OpenCV on a BGR array (no window): the app, its saved clips and photos,
the HTML report and the labeler all show the same skeleton.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.skeleton import BONES, JOINT_NAMES

# Joints below this confidence are not drawn (BlazePose reports hidden limbs with low values).
MIN_DRAW_CONFIDENCE = 0.2

_RIGHT = frozenset(i for i, name in enumerate(JOINT_NAMES) if name.startswith("r_"))
_LEFT = frozenset(i for i, name in enumerate(JOINT_NAMES) if name.startswith("l_"))
RIGHT_COLOR = (0, 150, 255)  # BGR orange
LEFT_COLOR = (255, 200, 40)  # BGR light blue
AXIAL_COLOR = (245, 245, 245)
OUTLINE_COLOR = (20, 20, 20)


def ui_scale(width: int, height: int) -> float:
    """Size factor for lines and text so the overlay reads the same at any resolution."""
    return float(np.clip(min(width, height) / 540.0, 0.55, 3.0))


def joint_color(joint: int) -> tuple[int, int, int]:
    """BGR colour of a joint and of the bone ending in it: right orange, left blue, spine white."""
    if joint in _RIGHT:
        return RIGHT_COLOR
    if joint in _LEFT:
        return LEFT_COLOR
    return AXIAL_COLOR


def visible_joints(keypoints: np.ndarray) -> np.ndarray:
    """(16,) bool: joints of (16, 3) keypoints that are finite and confident enough to draw."""
    return np.isfinite(keypoints).all(axis=1) & (keypoints[:, 2] >= MIN_DRAW_CONFIDENCE)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, scale: float = 1.0) -> None:
    """Draws bones and joints in place; right side orange, left side blue, spine white.

    Args:
        image: (H, W, 3) uint8 BGR, modified in place.
        keypoints: (16, 3) pixel keypoints with confidence.
        scale: line-size factor (see :func:`ui_scale`).
    """
    visible = visible_joints(keypoints)
    points = np.nan_to_num(keypoints[:, :2]).round().astype(np.int32)
    thickness = max(2, int(round(3 * scale)))
    radius = max(3, int(round(4.5 * scale)))
    for parent, child in BONES:
        if visible[parent] and visible[child]:
            a, b = tuple(points[parent]), tuple(points[child])
            cv2.line(image, a, b, OUTLINE_COLOR, thickness + 2, cv2.LINE_AA)
            cv2.line(image, a, b, joint_color(child), thickness, cv2.LINE_AA)
    for joint in np.flatnonzero(visible):
        center = tuple(points[joint])
        cv2.circle(image, center, radius + 1, OUTLINE_COLOR, -1, cv2.LINE_AA)
        cv2.circle(image, center, radius, joint_color(joint), -1, cv2.LINE_AA)

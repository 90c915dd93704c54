"""Crop geometry for the DeepHAR network: one affine matrix per crop, used both ways.

Coordinates are pixel indices (0-based, pixel centres at integers) in the image and in the crop.
A crop is defined by a centre, a side (square window in image pixels), a rotation and an
optional horizontal flip; ``crop_matrix`` returns the 3x3 affine from image to crop pixels, the
same matrix warps the image (``warp_crop``) and maps the joints, so image content and joints
coincide exactly. Network coordinates are crop pixels / crop size (cvpr18: pixel / 256), and
``crop_to_image`` maps them back through the inverse matrix.

Rotation follows PIL (and the authors' code): positive angles turn the content
counter-clockwise on screen, i.e. ``[[cos, sin], [-sin, cos]]`` in y-down image coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np


def crop_matrix(
    center: np.ndarray | tuple[float, float],
    side: float,
    out_size: int,
    *,
    angle_deg: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """Affine (3, 3) from image pixel indices to crop pixel indices.

    Args:
        center: (2,) x, y of the window centre in the image.
        side: side of the square window in image pixels (before rotation).
        out_size: crop side in pixels.
        angle_deg: counter-clockwise rotation of the content in degrees.
        flip: mirror the crop left-right (index i <-> out_size - 1 - i).

    Returns:
        (3, 3) float64 matrix M with crop = M @ [x, y, 1].
    """
    if side <= 0:
        raise ValueError(f"crop side must be positive, got {side}")
    cx, cy = float(center[0]), float(center[1])
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    zoom = out_size / side
    half = (out_size - 1) / 2.0
    to_origin = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    rotate_scale = np.array(
        [[zoom * cos, zoom * sin, 0.0], [-zoom * sin, zoom * cos, 0.0], [0.0, 0.0, 1.0]]
    )
    to_crop = np.array([[1.0, 0.0, half], [0.0, 1.0, half], [0.0, 0.0, 1.0]])
    matrix = to_crop @ rotate_scale @ to_origin
    if flip:
        mirror = np.array([[-1.0, 0.0, out_size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = mirror @ matrix
    return matrix


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Maps (..., 2) points through a (3, 3) affine; NaN stays NaN."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def image_to_crop(points: np.ndarray, matrix: np.ndarray, out_size: int) -> np.ndarray:
    """Image pixels (..., 2) -> normalized crop coordinates (crop pixel / out_size)."""
    return apply_affine(points, matrix) / out_size


def crop_to_image(coords: np.ndarray, matrix: np.ndarray, out_size: int) -> np.ndarray:
    """Normalized crop coordinates (..., 2) -> image pixels; exact inverse of ``image_to_crop``."""
    return apply_affine(np.asarray(coords, dtype=np.float64) * out_size, np.linalg.inv(matrix))


def warp_crop(image: np.ndarray, matrix: np.ndarray, out_size: int) -> np.ndarray:
    """Cuts the crop described by ``matrix`` out of ``image`` (bilinear, black outside).

    Large reductions first shrink the image with area averaging so the crop does not alias.

    Args:
        image: (H, W, C) uint8 image.
        matrix: (3, 3) from ``crop_matrix``.
        out_size: crop side in pixels.

    Returns:
        (out_size, out_size, C) uint8 crop.
    """
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    if zoom < 0.5:
        factor = 2.0 * zoom
        h, w = image.shape[:2]
        new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        fx, fy = new_w / w, new_h / h
        # Resized index q = (p + 0.5) * f - 0.5, so p = (q + 0.5) / f - 0.5.
        unresize = np.array(
            [[1 / fx, 0.0, 0.5 / fx - 0.5], [0.0, 1 / fy, 0.5 / fy - 0.5], [0.0, 0.0, 1.0]]
        )
        matrix = matrix @ unresize
    return cv2.warpAffine(
        image,
        matrix[:2],
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def to_network_input(crop_rgb: np.ndarray, gamma: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB crop (S, S, 3) -> float32 (3, S, S) in [-1, 1], as the authors' input.

    x / 255, then an optional per-channel power ``gamma`` (3,), then (x - 0.5) * 2.
    """
    x = crop_rgb.astype(np.float32) / 255.0
    if gamma is not None:
        x = np.power(x, np.asarray(gamma, dtype=np.float32).reshape(1, 1, 3))
    return np.ascontiguousarray(((x - 0.5) * 2.0).transpose(2, 0, 1))


def letterbox_window(width: int, height: int) -> tuple[np.ndarray, float]:
    """Centre and side of the square window holding the whole frame (letterboxed)."""
    return np.array([(width - 1) / 2.0, (height - 1) / 2.0]), float(max(width, height))


def window_around(points: np.ndarray, margin: float = 1.3, min_side: float = 32.0) -> tuple[
    np.ndarray, float
]:
    """Centre and side of a square window around (N, 2) points (NaN ignored), with a margin."""
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("no finite point to put a window around")
    low, high = pts.min(axis=0), pts.max(axis=0)
    side = max(float((high - low).max()) * margin, min_side)
    return (low + high) / 2.0, side

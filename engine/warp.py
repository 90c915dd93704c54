"""Moves the athlete's image from the pose they hold into a corrected pose.

A piecewise-affine warp over a triangulation: control points are the joints, helper points on
each bone's outline (carried rigidly with the bone, so a limb moves as a piece), and fixed points
on the image border and on a coarse grid away from the body, so the background stays where it
is. Every triangle of the corrected layout is mapped back to the same triangle in the original
image (backward mapping: each output pixel has exactly one source, no holes).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from engine.ideal import body_height
from engine.skeleton import BONES, NUM_JOINTS

# Half the width of a limb's outline, in units of body height, and where along each bone the
# outline points sit.
OUTLINE_HALF_WIDTH = 0.05
OUTLINE_FRACTIONS: tuple[float, ...] = (0.0, 0.5, 1.0)
# Grid points nearer the body than this (units of body height) are left out: they would pin the
# background too close to the moving limbs.
BODY_CLEARANCE = 0.2
# Control points closer than this (pixels) in the corrected layout are merged.
MERGE_DISTANCE = 1.5


def _bone_frames(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, unit direction and unit normal of every bone: each (B, 2)."""
    start = points[[a for a, _ in BONES]]
    vector = points[[b for _, b in BONES]] - start
    length = np.linalg.norm(vector, axis=-1, keepdims=True)
    direction = np.where(length > 1e-9, vector / np.maximum(length, 1e-9), [[0.0, 1.0]])
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=-1)
    return start, vector, normal


def outline_points(keypoints: np.ndarray, half_width: float) -> np.ndarray:
    """Helper points on both sides of every bone, at ``OUTLINE_FRACTIONS`` along it.

    Args:
        keypoints: (16, 2+) joints in pixels.
        half_width: offset from the bone in pixels.

    Returns:
        (len(BONES) * len(OUTLINE_FRACTIONS) * 2, 2) points, in a fixed order so that the same
        index denotes the same body location in any pose.
    """
    points = np.asarray(keypoints, dtype=np.float64)[:, :2]
    start, vector, normal = _bone_frames(points)
    out = []
    for fraction in OUTLINE_FRACTIONS:
        along = start + fraction * vector
        out.append(along + half_width * normal)
        out.append(along - half_width * normal)
    return np.concatenate(out, axis=0)


def _bone_samples(points: np.ndarray, count: int = 8) -> np.ndarray:
    start, vector, _ = _bone_frames(points)
    fractions = np.linspace(0.0, 1.0, count)[:, None, None]
    return (start[None] + fractions * vector[None]).reshape(-1, 2)


def _fixed_points(
    size: tuple[int, int], body: np.ndarray, clearance: float, spacing: float
) -> np.ndarray:
    """Image border points and grid points at least ``clearance`` pixels from ``body``."""
    width, height = size
    xs = np.linspace(0.0, width - 1.0, max(2, int(np.ceil(width / spacing)) + 1))
    ys = np.linspace(0.0, height - 1.0, max(2, int(np.ceil(height / spacing)) + 1))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    on_border = (
        (grid[:, 0] == 0) | (grid[:, 1] == 0) | (grid[:, 0] == xs[-1]) | (grid[:, 1] == ys[-1])
    )
    distance = np.linalg.norm(grid[:, None] - body[None], axis=-1).min(axis=1)
    return grid[on_border | (distance >= clearance)]


def control_points(
    src_keypoints: np.ndarray, dst_keypoints: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding control points of the original and the corrected pose.

    Args:
        src_keypoints: (16, 2+) joints the image shows, pixels.
        dst_keypoints: (16, 2+) joints wanted, pixels (same bone lengths).
        size: (width, height) of the image.

    Returns:
        ``(src (N, 2), dst (N, 2))`` float64 points; fixed points are equal in both.
    """
    src = np.asarray(src_keypoints, dtype=np.float64)[:NUM_JOINTS, :2]
    dst = np.asarray(dst_keypoints, dtype=np.float64)[:NUM_JOINTS, :2]
    height = float(np.nanmax([body_height(src), 1.0]))
    half_width = OUTLINE_HALF_WIDTH * height
    src_points = [src, outline_points(src, half_width)]
    dst_points = [dst, outline_points(dst, half_width)]
    body = np.concatenate([_bone_samples(src), _bone_samples(dst), src_points[1], dst_points[1]])
    clearance = BODY_CLEARANCE * height
    fixed = _fixed_points(size, body, clearance, spacing=max(clearance, 16.0))
    src_all = np.concatenate([*src_points, fixed])
    dst_all = np.concatenate([*dst_points, fixed])
    finite = np.isfinite(src_all).all(1) & np.isfinite(dst_all).all(1)
    return src_all[finite], dst_all[finite]


def _merge_close(
    src: np.ndarray, dst: np.ndarray, distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Drops points whose corrected position repeats an earlier one (earlier points win)."""
    keys = np.round(dst / distance).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    keep = np.sort(first)
    return src[keep], dst[keep]


def piecewise_affine_warp(
    image: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray
) -> np.ndarray:
    """Warps ``image`` so that content at ``src_points`` lands on ``dst_points``.

    The corrected layout (``dst_points``) is triangulated (Delaunay); every output pixel takes
    its colour from the matching position (same barycentric coordinates) in the source
    triangle. Triangles whose corners do not move, and pixels outside the triangulation, keep
    their own colour.

    Args:
        image: (H, W) or (H, W, C) image.
        src_points: (N, 2) x, y positions in ``image``.
        dst_points: (N, 2) where they should go.

    Returns:
        The warped image, same shape and dtype.
    """
    src_points, dst_points = _merge_close(
        np.asarray(src_points, np.float64), np.asarray(dst_points, np.float64), MERGE_DISTANCE
    )
    height, width = image.shape[:2]
    simplices = Delaunay(dst_points).simplices
    src_triangles = src_points[simplices]
    dst_triangles = dst_points[simplices]
    moving = np.abs(src_triangles - dst_triangles).max(axis=(1, 2)) > 1e-6
    homogeneous = np.concatenate([dst_triangles, np.ones(simplices.shape[:1] + (3, 1))], -1)
    regular = np.abs(np.linalg.det(homogeneous)) > 1e-9
    chosen = np.flatnonzero(moving & regular)
    if chosen.size == 0:
        return image.copy()
    # Affine map of each moving triangle from output to source: [x, y, 1] @ affine -> (x, y).
    affine = np.linalg.solve(homogeneous[chosen], src_triangles[chosen])
    labels = np.full((height, width), -1, np.int32)
    for label, triangle in enumerate(dst_triangles[chosen]):
        cv2.fillConvexPoly(labels, np.round(triangle).astype(np.int32), label)
    ys, xs = np.nonzero(labels >= 0)
    pixels = np.stack([xs, ys, np.ones_like(xs)], axis=-1).astype(np.float64)
    source = np.einsum("nk,nkd->nd", pixels, affine[labels[ys, xs]])
    map_x, map_y = np.meshgrid(np.arange(width, dtype=np.float32),
                               np.arange(height, dtype=np.float32))
    map_x[ys, xs] = source[:, 0]
    map_y[ys, xs] = source[:, 1]
    return cv2.remap(
        image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def warp_to_pose(
    bgr: np.ndarray, src_keypoints: np.ndarray, dst_keypoints: np.ndarray
) -> np.ndarray:
    """The athlete's image moved from ``src_keypoints`` into ``dst_keypoints``.

    Args:
        bgr: (H, W, 3) uint8 image.
        src_keypoints: (16, 2+) joints the image shows, pixels.
        dst_keypoints: (16, 2+) corrected joints, pixels.

    Returns:
        (H, W, 3) uint8 warped image; the background away from the body is unchanged.
    """
    height, width = bgr.shape[:2]
    src, dst = control_points(src_keypoints, dst_keypoints, (width, height))
    return piecewise_affine_warp(bgr, src, dst)

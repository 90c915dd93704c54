"""Pose metrics: PCKh@0.5 by the standard MPII protocol, and the original notes' variant.

Standard protocol (``pckh``): a joint is correct when the distance between prediction and
ground truth, in original-image pixels, is <= ``threshold`` x head size, where head size is
0.6 x the diagonal of the annotated head box (the official SC_BIAS). The score is pooled:
sum of correct / sum of valid over every annotated joint of the whole set, pelvis and thorax
excluded (the "PCKh total" over 14 joints). Occluded but annotated joints count.

``pckh_mean_across_batches`` reproduces how the original notes obtained their ~80 %: a PCKh per
mini-batch (optionally the best block per batch), then the mean of those ratios, dropping the
last incomplete batch. It is kept only for comparison; it is not the paper's number.
"""

from __future__ import annotations

import numpy as np

from engine.skeleton import NUM_JOINTS, PELVIS, THORAX

# Joints scored by "PCKh total": all but pelvis and thorax.
PCKH_JOINTS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in (PELVIS, THORAX))
HEAD_SIZE_FACTOR = 0.6


def head_size_from_box(head_boxes: np.ndarray) -> np.ndarray:
    """Head size used by PCKh: 0.6 x the diagonal of the head box.

    Args:
        head_boxes: (N, 4) x1, y1, x2, y2 in pixels.

    Returns:
        (N,) head sizes in pixels.
    """
    boxes = np.asarray(head_boxes, dtype=np.float64)
    return HEAD_SIZE_FACTOR * np.linalg.norm(boxes[:, 2:4] - boxes[:, 0:2], axis=1)


def pckh_hits(
    predictions: np.ndarray,
    targets: np.ndarray,
    valid: np.ndarray,
    head_sizes: np.ndarray,
    threshold: float = 0.5,
    joints: tuple[int, ...] = PCKH_JOINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample, per-joint correctness and validity (the counts behind every PCKh figure).

    Args:
        predictions: (N, J, >=2) predicted x, y in original-image pixels.
        targets: (N, J, >=2) ground truth x, y in the same pixels.
        valid: (N, J) bool, joints that are annotated (and inside the evaluation crop).
        head_sizes: (N,) head size per sample (``head_size_from_box``); samples whose head
            size is NaN or 0 are not scored.
        threshold: fraction of the head size (0.5 for PCKh@0.5).
        joints: joint indices scored.

    Returns:
        (correct, valid) boolean arrays of shape (N, len(joints)); correct implies valid.
    """
    idx = list(joints)
    pred = np.asarray(predictions, dtype=np.float64)[:, idx, :2]
    gt = np.asarray(targets, dtype=np.float64)[:, idx, :2]
    sizes = np.asarray(head_sizes, dtype=np.float64)
    # A person without a usable head size cannot be scored; their joints are left out.
    mask = np.asarray(valid, dtype=bool)[:, idx] & np.isfinite(gt).all(axis=-1)
    mask &= (np.isfinite(sizes) & (sizes > 0))[:, None]
    distance = np.linalg.norm(np.where(mask[..., None], pred - gt, 0.0), axis=-1)
    limit = threshold * sizes[:, None]
    correct = mask & np.isfinite(pred).all(axis=-1) & (distance <= limit)
    return correct, mask


def pckh(
    predictions: np.ndarray,
    targets: np.ndarray,
    valid: np.ndarray,
    head_sizes: np.ndarray,
    threshold: float = 0.5,
    joints: tuple[int, ...] = PCKH_JOINTS,
) -> float:
    """PCKh by the standard protocol: pooled correct / valid over the whole set.

    Arguments as in ``pckh_hits``. Returns NaN when no joint is valid.
    """
    correct, mask = pckh_hits(predictions, targets, valid, head_sizes, threshold, joints)
    total = int(mask.sum())
    return float(correct.sum()) / total if total else float("nan")


def pckh_mean_across_batches(
    predictions: np.ndarray,
    targets: np.ndarray,
    valid: np.ndarray,
    head_sizes: np.ndarray,
    batch_size: int,
    *,
    threshold: float = 0.5,
    joints: tuple[int, ...] = PCKH_JOINTS,
    drop_last: bool = True,
    best_block_per_batch: bool = True,
) -> float:
    """The original notes' PCKh: mean over mini-batches of each batch's ratio.

    Args:
        predictions: (N, J, >=2), or (N, K, J, >=2) with one prediction per block.
        targets: (N, J, >=2) ground truth, as in ``pckh``.
        valid: (N, J) bool, as in ``pckh``.
        head_sizes: (N,) head sizes, as in ``pckh``.
        batch_size: mini-batch size of the evaluation loader.
        threshold: fraction of the head size.
        joints: joint indices scored.
        drop_last: drop the last incomplete batch (their loader did).
        best_block_per_batch: with per-block predictions, keep the best block of each batch
            (optimistic, as in their code); otherwise use the last block.

    Returns:
        Mean of the per-batch ratios (batches without valid joints are skipped).
    """
    pred = np.asarray(predictions, dtype=np.float64)
    if pred.ndim == 3:
        pred = pred[:, None]
    n = pred.shape[0]
    last = n + 1 if drop_last else n + batch_size
    stops = range(batch_size, last, batch_size)
    ratios = []
    for stop in stops:
        start, stop = stop - batch_size, min(stop, n)
        blocks = range(pred.shape[1]) if best_block_per_batch else [pred.shape[1] - 1]
        batch_scores = [
            pckh(
                pred[start:stop, k],
                targets[start:stop],
                valid[start:stop],
                head_sizes[start:stop],
                threshold,
                joints,
            )
            for k in blocks
        ]
        finite = [s for s in batch_scores if not np.isnan(s)]
        if finite:
            ratios.append(max(finite))
    return float(np.mean(ratios)) if ratios else float("nan")

"""Group-aware train/test splits: frames of one video or one person never straddle the split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_split(
    groups: Sequence[str] | np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Splits sample indices into train and test so that each group lies on one side only.

    Groups are visited in a random order (from ``rng``) and moved to the test side while that
    brings the test size closer to ``test_fraction`` of the samples. With at least two groups
    and ``0 < test_fraction < 1`` both sides get at least one group.

    Args:
        groups: (N,) group name of each sample (see ``training.store.group_of``).
        test_fraction: wanted share of samples in the test side, in [0, 1].
        rng: source of randomness.

    Returns:
        (train_idx, test_idx): sorted int64 index arrays that partition ``range(N)``.

    Raises:
        ValueError: ``test_fraction`` is outside [0, 1].
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    groups = np.asarray(groups)
    count = len(groups)
    if count == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty.copy()
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = rng.permutation(len(names))
    target = test_fraction * count
    in_test = np.zeros(len(names), bool)
    test_size = 0
    for group in order:
        if abs(test_size + sizes[group] - target) < abs(test_size - target):
            in_test[group] = True
            test_size += sizes[group]
    if len(names) >= 2 and 0.0 < test_fraction < 1.0:
        if not in_test.any():
            in_test[order[np.argmin(sizes[order])]] = True
        if in_test.all():
            in_test[order[np.argmin(sizes[order])]] = False
    test_mask = in_test[inverse]
    return np.flatnonzero(~test_mask).astype(np.int64), np.flatnonzero(test_mask).astype(np.int64)


def group_kfold(
    groups: Sequence[str] | np.ndarray, folds: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold splits by group (each group in exactly one test fold), balanced by sample count.

    Args:
        groups: (N,) group name of each sample.
        folds: number of folds (>= 2, at most the number of groups).
        rng: source of randomness (tie order).

    Returns:
        ``folds`` pairs (train_idx, test_idx) of sorted int64 arrays.
    """
    groups = np.asarray(groups)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if folds < 2 or folds > len(names):
        raise ValueError(f"need 2 <= folds <= {len(names)} groups, got {folds}")
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of = np.zeros(len(names), np.int64)
    totals = np.zeros(folds, np.int64)
    for group in order:
        fold = int(np.argmin(totals))
        fold_of[group] = fold
        totals[fold] += sizes[group]
    sample_fold = fold_of[inverse]
    return [
        (np.flatnonzero(sample_fold != k).astype(np.int64), np.flatnonzero(sample_fold == k))
        for k in range(folds)
    ]

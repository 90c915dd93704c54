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


# When all labels come from one video, its frames are held out in runs of this many (2 s at
# 30 fps): neighbouring frames are near copies, so single frames would leak into the test.
SEGMENT_FRAMES = 60


def single_group_fallback(groups: Sequence[str] | np.ndarray, files: Sequence[str] | np.ndarray
                          ) -> tuple[np.ndarray, str]:
    """Finer split groups for when every sample is in one group, and a note saying so.

    One group cannot be split (everything would land on one side: "0 test"), so the frames of
    one video are grouped by :data:`SEGMENT_FRAMES`-frame segment and photos of one folder
    each become their own group. That test is optimistic (one session's examples look alike),
    which the note tells the user.

    Args:
        groups: (N,) group of each sample (``training.store.group_of``).
        files: (N,) the sample's file, ``path#frame`` for video frames.

    Returns:
        (groups, note): the groups to split by (unchanged, with note "", when there are
        several already).
    """
    groups = np.asarray(groups, dtype=str)
    names = np.unique(groups)
    if len(names) != 1 or len(groups) < 2:
        return groups, ""
    files = [str(name) for name in files]
    if all("#" in name for name in files):
        frames = np.array([int(name.rsplit("#", 1)[1]) for name in files])
        finer = np.array([f"{names[0]}@{frame // SEGMENT_FRAMES}" for frame in frames])
        how = f"by {SEGMENT_FRAMES}-frame segment of the video"
    else:
        finer = np.array(files, dtype=str)
        how = "by photo"
    note = (f"all {len(groups)} labeled examples come from one group ({names[0]}): holding out "
            f"{how} instead ({len(np.unique(finer))} groups; optimistic, since one session's "
            "examples look alike; label a second video or folder for an honest test)")
    return finer, note

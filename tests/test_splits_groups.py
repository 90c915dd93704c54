"""Group-aware splits: no group straddles train and test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.splits import group_kfold, group_split


def _check_partition(groups, train, test):
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(groups)))
    assert not set(np.asarray(groups)[train]) & set(np.asarray(groups)[test])


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=15),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_no_group_straddles_train_and_test(sizes, fraction, seed):
    groups = np.repeat([f"video:/v{i}.mp4" for i in range(len(sizes))], sizes)
    rng = np.random.default_rng(seed)
    groups = groups[rng.permutation(len(groups))]
    train, test = group_split(groups, fraction, np.random.default_rng(seed))
    _check_partition(groups, train, test)
    if len(sizes) >= 2 and 0 < fraction < 1:
        assert len(train) and len(test)


def test_split_size_near_target_and_deterministic():
    groups = np.repeat([f"g{i}" for i in range(40)], 5)
    train, test = group_split(groups, 0.25, np.random.default_rng(0))
    assert len(test) == 50
    again = group_split(groups, 0.25, np.random.default_rng(0))
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])


def test_split_on_store_groups(tmp_path):
    from training.store import group_of

    files = [f"/data/gym/user{i % 4}_img_{i}.jpg" for i in range(20)] + [
        "/data/clip.mp4"
    ] * 30
    kinds = ["image"] * 20 + ["video"] * 30
    groups = np.array([group_of(f, k) for f, k in zip(files, kinds, strict=True)])
    train, test = group_split(groups, 0.3, np.random.default_rng(3))
    _check_partition(groups, train, test)


def test_bad_fraction():
    with pytest.raises(ValueError):
        group_split(["a"], 1.5, np.random.default_rng(0))


def test_group_kfold_covers_each_sample_once():
    groups = np.repeat([f"g{i}" for i in range(7)], [1, 2, 3, 4, 5, 6, 7])
    folds = group_kfold(groups, 3, np.random.default_rng(0))
    seen = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(groups)))
    for train, test in folds:
        _check_partition(groups, train, test)

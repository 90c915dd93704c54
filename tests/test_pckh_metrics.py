import numpy as np
import pytest

from training.metrics import (
    PCKH_JOINTS,
    head_size_from_box,
    pckh,
    pckh_hits,
    pckh_mean_across_batches,
)


def test_head_size_is_sixty_percent_of_diagonal():
    assert head_size_from_box(np.array([[0.0, 0.0, 30.0, 40.0]]))[0] == pytest.approx(30.0)


def test_pelvis_and_thorax_are_excluded():
    assert 0 not in PCKH_JOINTS and 1 not in PCKH_JOINTS and len(PCKH_JOINTS) == 14


def crafted_case():
    """Three samples, head box diagonal 50 px -> head size 30 px -> limit 15 px.

    Sample 0: all 16 joints annotated; joints 2..8 off by exactly 15 px (correct: <= counts),
      joints 9..15 off by 16 px (wrong). Pelvis and thorax are far off but excluded.
    Sample 1: only joints 2 and 3 annotated, both exact.
    Sample 2: only joint 4 annotated, off by 20 px (wrong).
    """
    n, j = 3, 16
    targets = np.full((n, j, 2), 100.0)
    predictions = targets.copy()
    valid = np.zeros((n, j), dtype=bool)
    valid[0] = True
    predictions[0, 0:2, 0] += 500.0
    predictions[0, 2:9, 0] += 15.0
    predictions[0, 9:16, 1] += 16.0
    valid[1, [2, 3]] = True
    valid[2, 4] = True
    predictions[2, 4] += [12.0, 16.0]  # 20 px away
    predictions[1, 5:] = np.nan  # unannotated joints may hold anything
    heads = head_size_from_box(np.tile([[0.0, 0.0, 30.0, 40.0]], (n, 1)))
    return predictions, targets, valid, heads


def test_standard_pckh_matches_hand_computation():
    predictions, targets, valid, heads = crafted_case()
    # Valid scored joints: 14 + 2 + 1 = 17. Correct: 7 (joints 2..8) + 2 + 0 = 9.
    assert pckh(predictions, targets, valid, heads) == pytest.approx(9 / 17)
    correct, mask = pckh_hits(predictions, targets, valid, heads)
    assert correct.sum() == 9 and mask.sum() == 17


def test_mean_across_batches_differs_from_pooled():
    predictions, targets, valid, heads = crafted_case()
    # Batches of 1, none dropped: mean(7/14, 2/2, 0/1) = 0.5 != 9/17.
    mean_batches = pckh_mean_across_batches(
        predictions, targets, valid, heads, batch_size=1, drop_last=False
    )
    assert mean_batches == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert mean_batches != pytest.approx(pckh(predictions, targets, valid, heads))
    # Batches of 2 with drop_last: only samples 0 and 1 -> 9/16.
    dropped = pckh_mean_across_batches(predictions, targets, valid, heads, batch_size=2)
    assert dropped == pytest.approx(9 / 16)


def test_best_block_per_batch_is_optimistic():
    predictions, targets, valid, heads = crafted_case()
    perfect = targets.copy()
    # Block 0 perfect on sample 0 only, block 1 perfect on sample 2 only.
    block0 = predictions.copy()
    block0[0] = perfect[0]
    block1 = predictions.copy()
    block1[2] = perfect[2]
    stacked = np.stack([block0, block1], axis=1)
    optimistic = pckh_mean_across_batches(
        stacked, targets, valid, heads, batch_size=1, drop_last=False
    )
    last_only = pckh_mean_across_batches(
        stacked, targets, valid, heads, batch_size=1, drop_last=False, best_block_per_batch=False
    )
    assert optimistic == pytest.approx(1.0)
    assert last_only == pytest.approx((0.5 + 1.0 + 1.0) / 3)


def test_no_valid_joint_gives_nan():
    predictions, targets, _, heads = crafted_case()
    assert np.isnan(pckh(predictions, targets, np.zeros((3, 16), bool), heads))


def test_samples_without_head_size_are_not_scored():
    predictions, targets, valid, heads = crafted_case()
    heads = heads.copy()
    heads[1] = np.nan
    # Sample 1 (2 valid, 2 correct) drops out: 7 / 15.
    assert pckh(predictions, targets, valid, heads) == pytest.approx(7 / 15)

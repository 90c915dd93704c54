"""Keypoint features of the form model: normalization keeps up, masks, pads, checks."""

from __future__ import annotations

import numpy as np
import torch

from engine.features import (
    clip_normalization,
    fill_missing_frames,
    leg_to_torso_ratio,
    missing_key_joint_pairs,
    normalize_clip,
    normalize_clip_torch,
    pad_clip,
    prepare_clip,
)


def _clip(frames=4, seed=0):
    rng = np.random.default_rng(seed)
    clip = np.zeros((frames, 16, 3), np.float32)
    clip[..., :2] = rng.uniform(100, 400, (frames, 16, 2))
    clip[..., 2] = 0.9
    return clip


def test_normalization_removes_translation_and_scale():
    clip = _clip()
    moved = clip.copy()
    moved[..., :2] = moved[..., :2] * 2.5 + np.array([40.0, -70.0])
    np.testing.assert_allclose(normalize_clip(clip), normalize_clip(moved), atol=1e-5)


def test_normalization_keeps_the_up_direction():
    clip = _clip()
    upside_down = clip.copy()
    upside_down[..., 1] = 1000 - upside_down[..., 1]
    a, b = normalize_clip(clip), normalize_clip(upside_down)
    np.testing.assert_allclose(a[..., 1], -b[..., 1], atol=1e-5)
    assert not np.allclose(a, b)


def test_missing_and_weak_joints_are_zeroed():
    clip = _clip()
    clip[0, 3] = np.nan
    clip[1, 4, 2] = 0.05
    features = normalize_clip(clip)
    assert np.all(features[0, 3] == 0) and np.all(features[1, 4] == 0)
    assert np.isfinite(features).all()
    assert np.all(normalize_clip(np.full((2, 16, 3), np.nan, np.float32)) == 0)


def test_pad_repeats_first_frame_and_crop_keeps_last():
    clip = np.arange(3)[:, None] * np.ones((3, 2))
    padded = pad_clip(clip, 5)
    assert padded[:, 0].tolist() == [0, 0, 0, 1, 2]
    assert pad_clip(clip, 2)[:, 0].tolist() == [1, 2]


def test_prepare_clip_photo_and_long_clip():
    assert prepare_clip(_clip(1), 16).shape == (16, 16, 3)
    long = _clip(30)
    np.testing.assert_allclose(prepare_clip(long, 16), normalize_clip(long[-16:]), atol=1e-6)


def test_lost_frames_are_filled_from_neighbours():
    clip = _clip(4)
    clip[0, :, 2] = 0
    clip[2, :, 2] = 0
    filled = fill_missing_frames(clip)
    np.testing.assert_array_equal(filled[0], clip[1])
    np.testing.assert_array_equal(filled[2], clip[1])


def test_torch_normalization_matches_numpy():
    clip = _clip()
    center, scale = clip_normalization(clip)
    torch_features = normalize_clip_torch(torch.from_numpy(clip), torch.from_numpy(center), scale)
    np.testing.assert_allclose(torch_features.numpy(), normalize_clip(clip), atol=1e-5)


def test_key_joints_and_leg_ratio():
    frame = _clip(1)[0]
    frame[[8, 9], 2] = 0.0
    assert missing_key_joint_pairs(frame) == [0]
    frame[:, :2] = 0
    frame[0, :2] = (0, 100)  # pelvis
    frame[1, :2] = (0, 0)  # thorax
    for hip, knee, ankle in ((10, 12, 14), (11, 13, 15)):
        frame[hip, :2] = (0, 100)
        frame[knee, :2] = (0, 180)
        frame[ankle, :2] = (0, 260)
    assert abs(leg_to_torso_ratio(frame) - 1.6) < 1e-5
    frame[[14, 15], 2] = 0
    assert np.isnan(leg_to_torso_ratio(frame))


def test_flip_features_equals_features_of_mirrored_clip():
    from engine.features import flip_features
    from engine.skeleton import flip_horizontal

    clip = _clip()
    mirrored = normalize_clip(flip_horizontal(clip, 640))
    np.testing.assert_allclose(flip_features(normalize_clip(clip)), mirrored, atol=1e-5)
    torch_flipped = flip_features(torch.from_numpy(normalize_clip(clip)))
    np.testing.assert_allclose(torch_flipped.numpy(), mirrored, atol=1e-5)


def test_rotate_in_plane_turns_about_the_pivot_and_keeps_lengths_and_confidences():
    from engine.skeleton import rotate_in_plane

    rng = np.random.default_rng(2)
    keypoints = np.concatenate([rng.uniform(0, 500, (3, 16, 2)), rng.uniform(0, 1, (3, 16, 1))],
                               axis=-1).astype(np.float32)
    pivot = keypoints[:, 0, :2]
    turned = rotate_in_plane(keypoints, 30.0, pivot)
    np.testing.assert_allclose(turned[:, 0, :2], pivot, atol=1e-4)
    np.testing.assert_array_equal(turned[..., 2], keypoints[..., 2])
    before = np.linalg.norm(keypoints[:, 5, :2] - keypoints[:, 9, :2], axis=-1)
    after = np.linalg.norm(turned[:, 5, :2] - turned[:, 9, :2], axis=-1)
    np.testing.assert_allclose(after, before, rtol=1e-5)
    back = rotate_in_plane(turned, -30.0, pivot)
    np.testing.assert_allclose(back, keypoints, atol=1e-3)
    # y points down, so a positive angle takes "right of the pivot" to "below it".
    right = keypoints.copy()
    right[:, 1, :2] = pivot + [100.0, 0.0]
    np.testing.assert_allclose(rotate_in_plane(right, 90.0, pivot)[:, 1, :2], pivot + [0.0, 100.0],
                               atol=1e-3)


def test_rolled_both_ways_keeps_missing_joints_missing():
    from training.evaluate import rolled_both_ways

    keypoints = np.random.default_rng(3).uniform(0, 300, (4, 16, 3)).astype(np.float32)
    keypoints[1, 7] = np.nan
    rolled = rolled_both_ways(keypoints, 10.0)
    assert rolled.shape == (8, 16, 3)
    assert np.isnan(rolled[1, 7]).all() and np.isnan(rolled[5, 7]).all()
    assert np.isfinite(np.delete(rolled, [1, 5], axis=0)).all()

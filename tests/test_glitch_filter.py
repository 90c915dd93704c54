"""The pose-glitch filter on stick-figure streams: what it repairs, what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest

from engine import skeleton
from engine.glitches import GlitchConfig, PoseGlitchFilter, bone_lengths
from tests.test_explain_poses import stick_handstand
from training.synth.glitches import fold_left_leg, turn_upside_down

FPS = 30.0


@pytest.fixture
def hold() -> np.ndarray:
    return stick_handstand(np.random.default_rng(3), banana=False).astype(np.float32)


def _feed(glitches: PoseGlitchFilter, poses, start: float = 0.0):
    return [glitches.update(pose, start + i / FPS) for i, pose in enumerate(poses)]


def test_a_steady_pose_passes_untouched(hold):
    checked = _feed(PoseGlitchFilter(), [hold] * 20)
    assert all(not c.issue and not c.held for c in checked)
    np.testing.assert_array_equal(checked[-1].keypoints, hold)


def test_a_folded_leg_is_redrawn_from_its_last_trusted_shape(hold):
    glitches = PoseGlitchFilter()
    _feed(glitches, [hold] * 10)
    moved = hold.copy()
    moved[:, 0] += 4.0  # the athlete drifts a little while the leg glitches
    for checked in _feed(glitches, [fold_left_leg(moved)] * 3, start=10 / FPS):
        assert checked.repaired == ("left leg",) and not checked.held
        assert "left leg" in checked.issue
        np.testing.assert_allclose(checked.keypoints[:, :2], moved[:, :2], atol=1e-3)
    assert not _feed(glitches, [moved], start=13 / FPS)[0].issue


def test_a_leg_folded_at_full_length_is_caught_by_its_turn(hold):
    # The fold keeps the bone lengths (seen at 15 fps on real footage): only the turn tells.
    glitches = PoseGlitchFilter()
    _feed(glitches, [hold] * 10)
    folded = hold.copy()
    hip = folded[skeleton.L_HIP, :2]
    folded[[skeleton.L_KNEE, skeleton.L_ANKLE], :2] = 2 * hip - folded[
        [skeleton.L_KNEE, skeleton.L_ANKLE], :2]
    np.testing.assert_allclose(bone_lengths(folded), bone_lengths(hold), rtol=1e-5)
    checked = glitches.update(folded, 10 / FPS)
    assert checked.repaired == ("left leg",)


def test_a_flip_is_held_then_accepted_when_it_lasts(hold):
    config = GlitchConfig(max_bridge_s=0.1)
    glitches = PoseGlitchFilter(config)
    _feed(glitches, [hold] * 10)
    checked = _feed(glitches, [turn_upside_down(hold)] * 6, start=10 / FPS)
    held = [c.held for c in checked]
    assert held[:3] == [True, True, True]  # 0.033 .. 0.1 s after the last trusted frame
    assert not any(held[3:])  # it lasted longer than the tolerance: the body turned
    assert "orientation flip" in checked[0].issue
    np.testing.assert_array_equal(checked[0].keypoints, hold)


def test_left_right_swap_is_swapped_back(hold):
    glitches = PoseGlitchFilter()
    split = hold.copy()
    split[skeleton.L_KNEE, 0] += 60.0  # legs apart, so the two sides can be told apart
    split[skeleton.L_ANKLE, 0] += 120.0
    _feed(glitches, [split] * 10)
    swapped = split[list(skeleton.FLIP_PERMUTATION)]
    checked = glitches.update(swapped, 10 / FPS)
    assert "left/right swap" in checked.issue
    np.testing.assert_array_equal(checked.keypoints, split)


def test_real_motion_is_never_flagged(hold):
    # Both legs foreshortened together (turning towards the camera), and a slow leg raise.
    glitches = PoseGlitchFilter()
    poses = []
    for i in range(60):
        pose = hold.copy()
        share = 1.0 - 0.5 * min(i / 30, 1.0)
        for hip, knee, ankle in ((10, 12, 14), (11, 13, 15)):
            pose[knee, :2] = pose[hip, :2] + share * (hold[knee, :2] - hold[hip, :2])
            pose[ankle, :2] = pose[hip, :2] + share * (hold[ankle, :2] - hold[hip, :2])
        poses.append(pose)
    assert not any(c.issue for c in _feed(glitches, poses))
    glitches = PoseGlitchFilter()
    poses = []
    for i in range(45):  # the right leg swings 90 degrees in 1.5 s
        angle = np.deg2rad(2.0 * i)
        pose = hold.copy()
        hip = pose[skeleton.R_HIP, :2]
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        for joint in (skeleton.R_KNEE, skeleton.R_ANKLE):
            pose[joint, :2] = hip + rotation @ (hold[joint, :2] - hip)
        poses.append(pose)
    assert not any(c.issue for c in _feed(glitches, poses))


def test_no_person_and_a_long_absence_start_afresh(hold):
    glitches = PoseGlitchFilter()
    _feed(glitches, [hold] * 5)
    assert glitches.update(None, 0.2).keypoints is None
    # After more than forget_after_s without anyone, a different body is simply the new one.
    other = turn_upside_down(hold)
    assert not glitches.update(other, 2.0).issue
    glitches.reset()
    assert not glitches.update(hold, 2.1).issue

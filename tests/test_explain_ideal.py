import json

import numpy as np
import pytest
from test_explain_poses import stick_dataset, stick_handstand

from engine.ideal import (
    IdealError,
    IdealPose,
    apply_similarity,
    average_poses,
    body_height,
    load_ideal_pose,
    mirror_normalized,
    normalize_pose,
    save_ideal_pose,
    side_profile,
    similarity_fit,
)
from engine.skeleton import (
    FLIP_PERMUTATION,
    HEAD_TOP,
    L_ANKLE,
    L_SHOULDER,
    L_WRIST,
    R_ANKLE,
    R_SHOULDER,
    R_WRIST,
)


def _rotation(degrees: float) -> np.ndarray:
    r = np.deg2rad(degrees)
    return np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(16, 2))
    rotation = _rotation(37.0)
    dst = 2.5 * src @ rotation.T + [40.0, -7.0]
    scale, fitted, translation = similarity_fit(src, dst)
    assert scale == pytest.approx(2.5, abs=1e-9)
    np.testing.assert_allclose(fitted, rotation, atol=1e-9)
    np.testing.assert_allclose(translation, [40.0, -7.0], atol=1e-9)
    moved = apply_similarity(src, scale, fitted, translation)
    assert np.abs(moved - dst).max() < 1e-4


def test_similarity_fit_ignores_zero_weight_points_and_needs_two():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    dst = src * 3 + 1
    dst[2] = [100.0, 100.0]  # an outlier with no weight
    scale, rotation, translation = similarity_fit(src, dst, np.array([1.0, 1.0, 0.0]))
    assert scale == pytest.approx(3.0)
    with pytest.raises(ValueError):
        similarity_fit(src, dst, np.array([1.0, 0.0, 0.0]))


def test_align_stands_the_ghost_on_the_hands_facing_the_athlete():
    ideal = IdealPose(normalize_pose(stick_handstand(np.random.default_rng(1), banana=False)))
    for mirrored in (False, True):
        normalized = mirror_normalized(ideal.keypoints) if mirrored else ideal.keypoints
        athlete = np.ones((16, 3), np.float32)
        athlete[:, :2] = apply_similarity(normalized, 300.0, np.eye(2), [320.0, 400.0])
        ghost = ideal.align(athlete)
        error = np.linalg.norm(ghost[:, :2] - athlete[:, :2], axis=1).max()
        assert error < 1e-2, (mirrored, error)
        assert np.all(ghost[:, 2] == 1.0)


@pytest.mark.parametrize("tilt", [-20.0, 12.0])
def test_the_ghost_is_the_vertical_stack_over_the_hands_not_tilted_with_the_athlete(tilt):
    # An athlete leaning 20 degrees (arms and body tilted): the ideal line stays vertical, on
    # the athlete's hands, as tall as the athlete.
    ideal = IdealPose(normalize_pose(stick_handstand(np.random.default_rng(1), banana=False)))
    athlete = np.ones((16, 3), np.float32)
    athlete[:, :2] = apply_similarity(ideal.keypoints, 300.0, _rotation(tilt), [320.0, 400.0])
    ghost = ideal.align(athlete)
    hands = ghost[[R_WRIST, L_WRIST], :2].mean(0)
    feet = ghost[[R_ANKLE, L_ANKLE], :2].mean(0)
    np.testing.assert_allclose(hands, athlete[[R_WRIST, L_WRIST], :2].mean(0), atol=1e-3)
    lean = np.degrees(np.arctan2(feet[0] - hands[0], hands[1] - feet[1]))
    assert abs(lean) < 0.5 and feet[1] < hands[1]
    assert body_height(ghost) == pytest.approx(body_height(athlete), rel=1e-4)


def test_align_is_anchored_at_hands_and_shoulders_and_confidence_aware():
    rng = np.random.default_rng(2)
    ideal = IdealPose(normalize_pose(stick_handstand(rng, banana=False)))
    athlete = stick_handstand(rng, banana=True)
    ghost = ideal.align(athlete)
    hands_error = np.linalg.norm(
        ghost[[R_WRIST, L_WRIST], :2].mean(0) - athlete[[R_WRIST, L_WRIST], :2].mean(0)
    )
    assert hands_error < 0.03 * body_height(athlete)
    # A joint with zero confidence does not count, wherever it is.
    unseen = athlete.copy()
    unseen[R_SHOULDER, 2] = 0.0
    broken = unseen.copy()
    broken[R_SHOULDER, :2] = [5000.0, -5000.0]
    np.testing.assert_allclose(ideal.align(broken), ideal.align(unseen), atol=1e-3)
    assert ideal.align(np.full((16, 3), np.nan, np.float32)) is None


def test_align_falls_back_when_the_ideal_anchors_coincide():
    # A side-profile ideal has both wrists on one point; with the shoulders unseen the anchors
    # alone cannot fix a transform, so the rest of the body is used.
    profile = IdealPose(side_profile(normalize_pose(stick_handstand(np.random.default_rng(8),
                                                                    banana=False))))
    athlete = stick_handstand(np.random.default_rng(9), banana=False)
    athlete[[R_SHOULDER, L_SHOULDER], 2] = 0.0
    ghost = profile.align(athlete)
    assert ghost is not None and np.isfinite(ghost).all()
    only_wrists = athlete.copy()
    only_wrists[:, 2] = 0.0
    only_wrists[[R_WRIST, L_WRIST], 2] = 1.0
    assert profile.align(only_wrists) is None


def test_average_of_transformed_and_mirrored_copies_is_the_pose():
    pose = stick_handstand(np.random.default_rng(3), banana=True)
    target = normalize_pose(pose)
    copies = []
    for i in range(6):
        copy = pose.copy()
        copy[:, :2] = apply_similarity(pose[:, :2], 0.5 + 0.3 * i, _rotation(25.0 * i), [i, 2 * i])
        if i % 2:
            copy = copy[list(FLIP_PERMUTATION)]
            copy[:, 0] = -copy[:, 0]
        copies.append(copy)
    mean = average_poses(np.stack(copies))
    best = min(np.abs(mean - target).max(), np.abs(mean - mirror_normalized(target)).max())
    assert best < 1e-4


def test_average_of_straight_stick_poses_is_a_straight_line():
    poses, labels = stick_dataset(60, np.random.default_rng(4))
    mean = average_poses(poses[labels == 0])
    assert body_height(mean) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(mean[[R_WRIST, L_WRIST]].mean(0), [0.0, 0.0], atol=1e-6)
    feet = mean[[R_ANKLE, L_ANKLE]].mean(0)
    assert abs(feet[0]) < 1e-6 and feet[1] < -0.8
    assert np.abs(mean[:, 0]).max() < 0.08  # everything near the line


def test_save_load_round_trip_and_errors(tmp_path):
    assert load_ideal_pose(tmp_path / "missing.npz") is None
    keypoints = normalize_pose(stick_handstand(np.random.default_rng(5), banana=False))
    path = save_ideal_pose(keypoints, tmp_path / "ideal.npz", {"name": "test"})
    card = json.loads((tmp_path / "ideal.json").read_text())
    assert len(card["sha256"]) == 64 and card["name"] == "test"
    loaded = load_ideal_pose(path)
    np.testing.assert_array_equal(loaded.keypoints, keypoints)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IdealError, match="checksum mismatch"):
        load_ideal_pose(path)

    (tmp_path / "ideal.json").unlink()
    with pytest.raises(IdealError, match="card missing"):
        load_ideal_pose(path)

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    card["sha256"] = __import__("hashlib").sha256(b"not an npz").hexdigest()
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(IdealError, match="corrupt") as error:
        load_ideal_pose(bad)
    assert "\n" not in str(error.value)


def test_build_ideal_writes_pose_and_card(tmp_path, monkeypatch):
    from training import build_ideal

    poses, labels = stick_dataset(40, np.random.default_rng(6))
    monkeypatch.setattr(
        build_ideal, "synthetic_straight_poses", lambda clips, seed: (poses[labels == 0], {})
    )
    out = tmp_path / "ideal_pose.npz"
    assert build_ideal.main(["--out", str(out), "--clips", "5"]) == 0
    ideal = load_ideal_pose(out)
    assert ideal.card["poses"] == 20
    assert ideal.card["spread_rms_percent_of_height"] < 5.0
    assert "python -m training.build_ideal" in ideal.card["command"]


def test_build_ideal_adds_straight_poses_of_the_label_store(tmp_path, monkeypatch):
    import training.labeled_set
    from training import build_ideal

    poses, labels = stick_dataset(12, np.random.default_rng(7))
    monkeypatch.setattr(
        build_ideal, "synthetic_straight_poses", lambda clips, seed: (poses[labels == 0], {})
    )
    names = np.array(["straight" if label == 0 else "banana" for label in labels])
    labeled = training.labeled_set.LabeledSet(
        keypoints=poses, image_sizes=np.ones((12, 2), np.float32), labels=names,
        groups=names, files=names,
    )
    monkeypatch.setattr(training.labeled_set, "load_labeled_set", lambda path: labeled)
    store = tmp_path / "labels.db"
    store.write_bytes(b"")
    out = tmp_path / "ideal.npz"
    assert build_ideal.main(["--out", str(out), "--store", str(store)]) == 0
    card = load_ideal_pose(out).card
    assert card["poses"] == 12 and card["data"]["store_poses"] == 6
    assert build_ideal.main(["--out", str(out), "--store", str(tmp_path / "none.db")]) == 3


def test_shipped_ideal_pose_is_a_straight_side_profile():
    ideal = load_ideal_pose()
    if ideal is None:
        pytest.skip("weights/ideal_pose.npz not built (python -m training.build_ideal)")
    keypoints = ideal.keypoints
    assert body_height(keypoints) == pytest.approx(1.0, abs=0.05)
    body = [j for j in range(len(keypoints)) if j != HEAD_TOP]
    assert np.abs(keypoints[body, 0]).max() < 0.05  # wrists, shoulders, hips, ankles stacked
    # The head sits between the arms, a little off the line (BlazePose's head on real photos).
    assert abs(keypoints[HEAD_TOP, 0]) < 0.1
    np.testing.assert_allclose(keypoints, keypoints[list(FLIP_PERMUTATION)], atol=1e-6)
    assert keypoints[R_ANKLE, 1] < keypoints[R_SHOULDER, 1] < keypoints[R_WRIST, 1]
    assert ideal.card["command"].startswith("python -m training.build_ideal")

import numpy as np
import pytest

from engine.form import FORM_LABELS
from engine.skeleton import NUM_JOINTS
from engine.verdict import BANANA_INDEX, NOT_HANDSTAND_INDEX, STRAIGHT_INDEX
from training.synth import SynthConfig, generate_clips, poses
from training.synth.body import NUM_PARAMS, D, J, P, sample_bodies, world_points
from training.synth.camera import project
from training.synth.labels import (
    BANANA_MIN_DEVIATION,
    STRAIGHT_MAX_DEVIATION,
    arch_visible,
    hip_pike,
    label_frames,
    line_deviation,
)
from training.synth.noise import NoiseConfig

# Anatomical segments. (The shoulder *landmark* rides up with the shoulder girdle when the arm
# is raised, like BlazePose's, so shoulder-elbow is deliberately not rigid.)
SEGMENTS = [("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("l_hip", "l_knee"),
            ("l_knee", "l_ankle"), ("r_elbow", "r_wrist"), ("head_center", "nose"),
            ("l_elbow", "l_wrist"), ("pelvis", "spine_mid"), ("spine_mid", "thorax"),
            ("r_hip", "l_hip")]


@pytest.fixture(scope="module")
def clips():
    return generate_clips(160, clip_length=12, rng=np.random.default_rng(11))


def test_shapes_dtypes_and_ranges(clips):
    n, t = 160, 12
    assert clips.keypoints.shape == (n, t, NUM_JOINTS, 3)
    assert clips.keypoints.dtype == np.float32
    assert clips.clean_keypoints.shape == (n, t, NUM_JOINTS, 3)
    assert clips.clean_keypoints.dtype == np.float32
    # Thumbnails: long side 150-1000 px, aspect 0.4-2.5, so a short side down to 60 px.
    assert clips.image_sizes.shape == (n, 2) and (clips.image_sizes >= 60).all()
    assert clips.labels.shape == (n,) and clips.labels.dtype.kind == "i"
    assert set(np.unique(clips.labels)) <= set(range(len(FORM_LABELS)))
    assert len(np.unique(clips.labels)) == 4
    assert clips.frame_labels.shape == (n, t)
    np.testing.assert_array_equal(clips.frame_labels[:, -1], clips.labels)
    assert clips.arch_visible.shape == (n,) and clips.arch_visible.dtype == bool
    assert clips.groups.shape == (n,)
    conf = clips.keypoints[..., 2]
    assert np.isfinite(clips.keypoints).all()
    assert (conf >= 0).all() and (conf <= 1).all()
    assert (clips.clean_keypoints[..., 2] == 1).all()


def test_deterministic_for_a_seed():
    a = generate_clips(20, clip_length=4, rng=np.random.default_rng(5))
    b = generate_clips(20, clip_length=4, rng=np.random.default_rng(5))
    c = generate_clips(20, clip_length=4, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.keypoints, c.keypoints)


def test_single_frame_and_empty():
    one = generate_clips(3, clip_length=1, rng=np.random.default_rng(0))
    assert one.keypoints.shape == (3, 1, NUM_JOINTS, 3)
    empty = generate_clips(0, clip_length=5, rng=np.random.default_rng(0))
    assert empty.keypoints.shape == (0, 5, NUM_JOINTS, 3)
    with pytest.raises(ValueError):
        generate_clips(2, clip_length=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="class_weights"):
        generate_clips(2, clip_length=1, rng=np.random.default_rng(0),
                       config=SynthConfig(class_weights=(0, 0, 0, 0)))


def test_class_weights_steer_the_labels():
    only_banana = generate_clips(40, clip_length=2, rng=np.random.default_rng(1),
                                 config=SynthConfig(class_weights=(0, 1, 0, 0)))
    assert (only_banana.labels == BANANA_INDEX).mean() > 0.9


def test_bone_lengths_constant_through_motions(clips):
    points = clips.points_3d.astype(np.float64)
    for a, b in SEGMENTS:
        length = np.linalg.norm(points[:, :, J[a]] - points[:, :, J[b]], axis=-1)
        spread = length.max(axis=1) - length.min(axis=1)
        assert spread.max() < 1e-4, (a, b)


def test_clean_keypoints_are_projected_joints(clips):
    pixels, _ = project(clips.points_3d[:, :, [J["r_wrist"], J["l_ankle"]]].astype(np.float64),
                        clips.cameras.rotation, clips.cameras.position, clips.cameras.focal,
                        clips.cameras.image_sizes)
    np.testing.assert_allclose(clips.clean_keypoints[:, :, [8, 15], :2], pixels, atol=1e-2)


def test_labels_follow_the_geometry(clips):
    last = clips.points_3d[:, -1].astype(np.float64)
    deviation = line_deviation(last)
    straight = clips.labels == STRAIGHT_INDEX
    banana = clips.labels == BANANA_INDEX
    assert straight.any() and banana.any()
    assert (deviation[straight] < STRAIGHT_MAX_DEVIATION).all()
    assert (deviation[banana] >= BANANA_MIN_DEVIATION).all()
    assert (hip_pike(last[banana]) < 10).all()
    # Inverted: wrists lowest, ankles above hips above shoulders.
    for mask in (straight, banana):
        y = last[mask, :, 1]
        assert (np.maximum(y[:, J["r_wrist"]], y[:, J["l_wrist"]]) < 0.1).all()
        assert (y[:, J["pelvis"]] > y[:, J["thorax"]]).all()
        assert (np.minimum(y[:, J["r_ankle"]], y[:, J["l_ankle"]]) > y[:, J["pelvis"]]).all()
    relabeled, ambiguous = label_frames(last, clips.dims[:, D["height"]].astype(np.float64))
    np.testing.assert_array_equal(relabeled, clips.labels)
    assert not ambiguous.any()


def test_arch_bends_straight_into_banana():
    rng = np.random.default_rng(0)
    dims = sample_bodies(1, rng)[0]
    pose = poses.handstand_straight(1, rng)[0]
    for name in ("lumbar_ext", "thoracic_ext", "r_hip_flex", "l_hip_flex", "r_knee", "l_knee"):
        pose[P[name]] = 0.0
    pose[P["r_sh_flex"]] = pose[P["l_sh_flex"]] = 182.0
    arched = pose.copy()
    arched[P["lumbar_ext"]] = 25.0
    arched[P["r_hip_flex"]] = arched[P["l_hip_flex"]] = -15.0
    piked = pose.copy()
    piked[P["r_hip_flex"]] = piked[P["l_hip_flex"]] = 60.0
    points = world_points(np.stack([pose, arched, piked]), dims)
    labels, ambiguous = label_frames(points, np.full(3, dims[D["height"]]))
    assert labels.tolist() == [STRAIGHT_INDEX, BANANA_INDEX, 2]
    assert not ambiguous.any()


def test_standing_with_arms_overhead_is_not_a_handstand():
    rng = np.random.default_rng(3)
    dims = sample_bodies(50, rng)
    pose = poses.stand(50, rng)
    pose[:, P["r_sh_flex"]] = pose[:, P["l_sh_flex"]] = 180.0
    labels, _ = label_frames(world_points(pose, dims), dims[:, D["height"]])
    assert (labels == NOT_HANDSTAND_INDEX).all()


def test_every_not_handstand_family_is_labeled_not_handstand():
    rng = np.random.default_rng(4)
    for name, family in poses.NOT_HANDSTAND_FAMILIES.items():
        dims = sample_bodies(40, rng)
        labels, ambiguous = label_frames(world_points(family(40, rng), dims),
                                         dims[:, D["height"]])
        clear = labels[~ambiguous]
        assert (clear == NOT_HANDSTAND_INDEX).mean() > 0.9, name


def _back_project(pixels, depth, rotation, position, focal, image_sizes):
    """Inverse of ``project`` for known depths."""
    centre = image_sizes[:, None, None, :] / 2.0
    xy = (pixels - centre) / focal[:, None, None, None] * depth[..., None]
    cam = np.concatenate([xy, depth[..., None]], axis=-1)
    return np.einsum("ntji,ntkj->ntki", rotation, cam) + position[:, None, None, :]


def test_projection_round_trip():
    rng = np.random.default_rng(2)
    points = rng.normal(0.0, 1.0, (3, 4, 5, 3)) + np.array([0.0, 1.0, 0.0])
    clips = generate_clips(3, clip_length=4, rng=rng)
    cams = clips.cameras
    pixels, depth = project(points, cams.rotation, cams.position, cams.focal, cams.image_sizes)
    back = _back_project(pixels, depth, cams.rotation, cams.position, cams.focal,
                         cams.image_sizes)
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_arch_visible_only_from_the_side():
    lateral = np.array([[1.0, 0.0, 0.0]] * 3)
    views = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.7071, 0.0, 0.7071]])
    assert arch_visible(views, lateral).tolist() == [False, True, True]


def test_noise_drops_frames_and_keeps_clean_ones_exact():
    config = SynthConfig(noise=NoiseConfig(drop_frame_probability=0.5))
    clips = generate_clips(30, clip_length=6, rng=np.random.default_rng(8), config=config)
    dropped = clips.keypoints[..., 2].sum(-1) == 0
    assert 0.3 < dropped.mean() < 0.7
    assert (clips.keypoints[dropped] == 0).all()
    error = np.linalg.norm(clips.keypoints[..., :2] - clips.clean_keypoints[..., :2], axis=-1)
    assert np.median(error[~dropped]) > 0


def test_params_have_the_documented_width(clips):
    assert clips.params.shape[-1] == NUM_PARAMS


def test_a_misplaced_hidden_limb_turns_about_its_root_and_keeps_its_length():
    from training.synth.noise import apply_noise

    rng = np.random.default_rng(3)
    landmarks = rng.uniform(100, 400, (40, 3, 33, 2))
    confidence = np.ones((40, 3, 33))
    confidence[:20, :, [26, 28]] = 0.3  # first half: the right leg is hidden
    config = NoiseConfig(hidden_limb_probability=1.0, jitter=(0.0, 0.0), bias=0.0,
                         outlier_probability=0.0, swap_clip_probability=0.0,
                         leg_collapse_probability=0.0, drop_frame_probability=0.0,
                         left_on_right_prior=0.0, hidden_right_prior=0.0)
    noisy, _ = apply_noise(landmarks, confidence, np.random.default_rng(4), config)
    moved = np.linalg.norm(noisy[..., :2] - landmarks, axis=-1) > 1e-6
    assert moved[:20, :, [26, 28]].all() and moved.sum() == 20 * 3 * 2
    for joint in (26, 28):
        np.testing.assert_allclose(
            np.linalg.norm(noisy[:20, :, joint, :2] - landmarks[:20, :, 24], axis=-1),
            np.linalg.norm(landmarks[:20, :, joint] - landmarks[:20, :, 24], axis=-1), rtol=1e-9)
    turn = np.rad2deg(np.arccos(np.clip(np.sum(
        (noisy[:20, :, 28, :2] - landmarks[:20, :, 24]) * (landmarks[:20, :, 28]
                                                          - landmarks[:20, :, 24]), -1)
        / np.linalg.norm(landmarks[:20, :, 28] - landmarks[:20, :, 24], axis=-1) ** 2, -1, 1)))
    assert ((turn >= 15 - 1e-6) & (turn <= 45 + 1e-6)).all()

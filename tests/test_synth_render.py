import numpy as np

from engine.form import FORM_LABELS
from training.synth import generate_clips
from training.synth.body import J, P, sample_bodies, world_points
from training.synth.camera import look_at, project
from training.synth.labels import label_frames
from training.synth.make_demo import demo_motion
from training.synth.render import render_background, render_clip, render_frames


def _standing_scene():
    rng = np.random.default_rng(0)
    dims = sample_bodies(1, rng)[0]
    pose = np.zeros(len(P))
    pose[P["r_sh_flex"]] = pose[P["l_sh_flex"]] = 170.0
    points = world_points(pose, dims)
    position = np.array([0.0, 1.0, 4.0])
    rotation = look_at(position, np.array([0.0, 0.9, 0.0]), np.array(0.0))
    return points, rotation, position, dims


def test_render_size_and_figure_where_joints_project():
    points, rotation, position, dims = _standing_scene()
    rng = np.random.default_rng(1)
    size = (320, 240)
    background = render_background(size, rotation, position, 300.0, rng)
    frames = render_frames(points[None], rotation, position, 300.0, size, rng=rng,
                           height=float(dims[0]), background=background, blur=0.0, noise=0.0)
    assert frames.shape == (1, 240, 320, 3) and frames.dtype == np.uint8
    changed = np.abs(frames[0].astype(int) - background.astype(int)).sum(-1) > 0
    pixels, _ = project(points[None, None].astype(float), rotation[None, None], position[None],
                        np.array([300.0]), np.array([size]))
    for name in ("head_center", "pelvis", "r_knee", "l_ankle", "r_wrist", "thorax"):
        x, y = np.round(pixels[0, 0, J[name]]).astype(int)
        assert changed[y, x], name
    # Far from the body the room is untouched (no shadow up in the air).
    assert not changed[5, 5]
    assert changed.mean() < 0.3


def test_render_is_deterministic():
    points, rotation, position, dims = _standing_scene()
    a = render_frames(points[None], rotation, position, 300.0, (160, 120),
                      rng=np.random.default_rng(4))
    b = render_frames(points[None], rotation, position, 300.0, (160, 120),
                      rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_render_clip_uses_the_clip_camera():
    clips = generate_clips(2, clip_length=3, rng=np.random.default_rng(2))
    frames = render_clip(clips, 1, np.random.default_rng(0), blur=0.0, noise=0.0)
    width, height = clips.image_sizes[1]
    assert frames.shape == (3, height, width, 3)


def test_demo_performance_has_banana_then_straight():
    params, dims, times = demo_motion(np.random.default_rng(1))
    assert 8.0 <= len(params) / 30 <= 10.5
    labels, _ = label_frames(world_points(params, dims), np.full(len(params), dims[0]))
    names = [FORM_LABELS[i] for i in labels]
    first_banana = names.index("banana")
    first_straight = names.index("straight")
    assert names[0] == "not_handstand" and names[-1] == "not_handstand"
    assert first_banana < first_straight
    assert names.count("banana") > 45 and names.count("straight") > 45

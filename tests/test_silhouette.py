import cv2
import numpy as np

from engine import skeleton
from tests.test_synth_render import _standing_scene
from training.silhouette import SILHOUETTE_SIZE, align_silhouette, body_axis_transform
from training.synth.body import J
from training.synth.camera import look_at, project
from training.synth.render import render_figure, render_silhouette, sample_appearance


def _handstand_scene():
    points, _, _, dims = _standing_scene()
    # Turn the standing, arms-up body upside down about its middle (a handstand).
    middle = 0.5 * (points.max(0) + points.min(0))
    points = (points - middle) * np.array([1.0, -1.0, 1.0]) + middle
    points[:, 1] -= points[:, 1].min()
    position = np.array([3.5, 1.1, 0.3])
    rotation = look_at(position, np.array([0.0, 1.0, 0.0]), np.array(0.0))
    return points, rotation, position, dims


def _canonical(points, rotation, position, focal, size):
    pixels, _ = project(points[None, None].astype(float), rotation[None, None], position[None],
                        np.array([focal]), np.array([size]))
    pixels = pixels[0, 0]
    names = {"r_shoulder": "r_shoulder", "l_shoulder": "l_shoulder", "r_elbow": "r_elbow",
             "l_elbow": "l_elbow", "r_wrist": "r_wrist", "l_wrist": "l_wrist", "r_hip": "r_hip",
             "l_hip": "l_hip", "r_knee": "r_knee", "l_knee": "l_knee", "r_ankle": "r_ankle",
             "l_ankle": "l_ankle", "pelvis": "pelvis", "thorax": "thorax",
             "upper_neck": "head_center", "head_top": "head_top"}
    keypoints = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    for canonical, synthetic in names.items():
        keypoints[skeleton.JOINT_INDEX[canonical], :2] = pixels[J[synthetic]]
    keypoints[:, 2] = 1.0
    return keypoints


def _figure_mask(points, rotation, position, focal, size, appearance, height):
    image = np.zeros((size[1], size[0], 3), np.uint8)
    render_figure(image, points, rotation, position, focal, appearance, height)
    return (image.max(-1) > 0).astype(np.float32)


def test_crop_turns_the_body_axis_upright_with_the_wrists_at_the_bottom():
    keypoints = np.zeros((skeleton.NUM_JOINTS, 3), np.float32)
    keypoints[:, 2] = 1.0
    # A body lying along +x: wrists on the left, ankles on the right.
    keypoints[:, 0] = np.linspace(100, 300, skeleton.NUM_JOINTS)
    keypoints[:, 1] = 200
    keypoints[[skeleton.R_WRIST, skeleton.L_WRIST], 0] = 100
    keypoints[[skeleton.R_ANKLE, skeleton.L_ANKLE], 0] = 300
    transform = body_axis_transform(keypoints)
    wrist = transform @ np.array([100.0, 200.0, 1.0])
    ankle = transform @ np.array([300.0, 200.0, 1.0])
    rows, columns = SILHOUETTE_SIZE
    assert wrist[1] > ankle[1]  # wrists below the ankles
    np.testing.assert_allclose([wrist[0], ankle[0]], (columns - 1) / 2, atol=1e-6)
    assert 0 <= ankle[1] < wrist[1] <= rows - 1


def test_crop_ignores_camera_roll_and_mirrors_with_the_image():
    points, rotation, position, dims = _handstand_scene()
    size, focal = (320, 320), 300.0
    appearance = sample_appearance(np.random.default_rng(2))
    mask = _figure_mask(points, rotation, position, focal, size, appearance, float(dims[0]))
    keypoints = _canonical(points, rotation, position, focal, size)
    crop = align_silhouette(mask, keypoints)
    assert crop.shape == SILHOUETTE_SIZE and 0.05 < crop.mean() < 0.6
    # Rolled by 90 degrees: the same crop.
    turned = np.ascontiguousarray(np.rot90(mask))  # (x, y) -> (y, W - 1 - x)
    turned_keypoints = keypoints.copy()
    turned_keypoints[:, 0], turned_keypoints[:, 1] = keypoints[:, 1], size[0] - 1 - keypoints[:, 0]
    assert np.abs(align_silhouette(turned, turned_keypoints) - crop).mean() < 0.02
    # Mirrored image: the mirrored crop.
    mirrored_keypoints = keypoints.copy()
    mirrored_keypoints[:, 0] = size[0] - 1 - keypoints[:, 0]
    mirrored = align_silhouette(mask[:, ::-1], mirrored_keypoints)
    assert np.abs(mirrored - crop[:, ::-1]).mean() < 0.02


def test_no_crop_without_two_confident_joints():
    keypoints = np.full((skeleton.NUM_JOINTS, 3), np.nan, np.float32)
    keypoints[0] = (10, 10, 1.0)
    assert body_axis_transform(keypoints) is None
    assert not align_silhouette(np.ones((50, 50), np.float32), keypoints).any()


def test_rendered_silhouette_is_the_drawn_figure():
    points, rotation, position, dims = _handstand_scene()
    size, focal = (320, 320), 300.0
    appearance = sample_appearance(np.random.default_rng(3))
    height = float(dims[0])
    keypoints = _canonical(points, rotation, position, focal, size)
    drawn = align_silhouette(
        _figure_mask(points, rotation, position, focal, size, appearance, height), keypoints)
    exact = render_silhouette(points, rotation, position, focal, size,
                              body_axis_transform(keypoints), appearance, height=height)
    assert exact.shape == SILHOUETTE_SIZE and exact.dtype == np.float32
    inside_drawn, inside_exact = drawn > 0.5, exact > 0.5
    overlap = (inside_drawn & inside_exact).sum() / (inside_drawn | inside_exact).sum()
    assert overlap > 0.8
    # Thin limbs survive the shrinking (no aliasing holes): one connected body.
    count, _ = cv2.connectedComponents(inside_exact.astype(np.uint8))
    assert count == 2


def _bench():
    """benchmarks/bench_silhouette.py as a module (benchmarks/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_silhouette.py"
    spec = importlib.util.spec_from_file_location("bench_silhouette", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_fine_tuning_is_finetune_on_real_plus_the_stream(tmp_path):
    """WITH and WITHOUT differ by the stream only: without it, the same weights bit for bit."""
    import torch
    from test_form_grouped import _write_cache
    from test_form_training import _tiny_config, standin_generate

    from training import evaluate, train_form

    bench = _bench()
    config = _tiny_config(train_clips=64, val_clips=32, epochs=1, finetune_epochs=2,
                          finetune_synthetic_clips=32, real_repeat=2)
    train = train_form.synthetic_set(standin_generate, 64, 8, 11)
    val = train_form.synthetic_set(standin_generate, 32, 8, 22)
    model, _, _ = train_form.train_model(config, train, val, log=lambda _: None)
    _write_cache(tmp_path / "real.npz", np.random.default_rng(4))
    real, _, _ = evaluate.load_real_rows([tmp_path / "real.npz"], clip_length=8)
    rng = np.random.default_rng(5)
    synthetic_masks = rng.integers(0, 256, (len(train), *SILHOUETTE_SIZE), dtype=np.uint8)
    real_masks = rng.integers(0, 256, (len(real), *SILHOUETTE_SIZE), dtype=np.uint8)

    official, _, _ = train_form.finetune_on_real(config, model, train, real, val,
                                                 log=lambda _: None)
    alone = bench.finetune(config, bench.TwoStream(model, None), train, synthetic_masks, real,
                           real_masks)
    for key, value in official.state_dict().items():
        assert torch.equal(value, alone.pose.state_dict()[key]), key
    stream = bench.SilhouetteStream()
    both = bench.finetune(config, bench.TwoStream(model, stream), train, synthetic_masks, real,
                          real_masks, stream_learning_rate=1e-2)
    assert not torch.equal(both.silhouette.head.weight, stream.head.weight)
    features = train_form.prepare_batch(real.keypoints[:4], 8)
    logits = bench.mirrored_logits(both, features, real_masks[:4])
    assert logits.shape == (4, len(evaluate.FORM_LABELS)) and torch.isfinite(logits).all()

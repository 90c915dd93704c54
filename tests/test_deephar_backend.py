import numpy as np
import pytest
import torch

from engine.models import create_model
from engine.pose.base import PoseBackendError
from engine.pose.deephar import DeepHARBackend, default_backend, load_pose_checkpoint


def write_checkpoint(path, model_name="deephar_test", **extra):
    torch.manual_seed(0)
    model = create_model(model_name)
    # Non-trivial BN statistics so eval-mode numerics are exercised.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.8, 1.2)
    payload = {
        "kind": "pose", "model_name": model_name, "model_kwargs": {},
        "state_dict": model.state_dict(), "config": {"epochs": 1}, **extra,
    }
    torch.save(payload, path)
    return path


def frame(seed=0, size=(120, 160)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (*size, 3), dtype=np.uint8)


def test_onnxruntime_matches_eager_on_coordinates(tmp_path):
    weights = write_checkpoint(tmp_path / "pose.pt")
    eager = DeepHARBackend(weights, "eager", stream=False, min_confidence=0.0)
    onnx = DeepHARBackend(weights, "onnxruntime", stream=False, min_confidence=0.0)
    assert eager.backend == "eager" and onnx.backend == "onnxruntime"
    rgb = frame(1)[..., ::-1].copy()
    center, side = np.array([80.0, 60.0]), 160.0
    _, poses_eager = eager.predict_crop(rgb, center, side)
    _, poses_onnx = onnx.predict_crop(rgb, center, side)
    assert np.abs(poses_eager[..., :2] - poses_onnx[..., :2]).max() <= 1e-4
    assert np.abs(poses_eager[..., 2] - poses_onnx[..., 2]).max() <= 1e-4
    kp_e = eager.estimate(frame(2)).keypoints
    kp_o = onnx.estimate(frame(2)).keypoints
    assert kp_e.shape == (16, 3) and kp_e.dtype == np.float32
    assert np.abs(kp_e[:, :2] - kp_o[:, :2]).max() <= 1e-4 * 160


def test_keypoints_are_in_frame_pixels_of_the_letterbox(tmp_path):
    backend = DeepHARBackend(
        write_checkpoint(tmp_path / "p.pt"), "eager", stream=False, min_confidence=0,
        try_inverted=False,
    )
    result = backend.estimate(frame(3, (90, 200)))
    kp = result.keypoints
    # The letterbox window is 200 px wide centred on the frame: x in [0, 199], y within it.
    assert (kp[:, 0] >= -1).all() and (kp[:, 0] <= 200).all()
    assert (kp[:, 1] >= 44.5 - 100 - 1).all() and (kp[:, 1] <= 44.5 + 100 + 1).all()
    assert result.rotation == 0 and backend.name == "deephar"
    assert backend.version.startswith("deephar_test-")


def test_stream_tracks_previous_window_and_reset_forgets(tmp_path):
    backend = DeepHARBackend(
        write_checkpoint(tmp_path / "p.pt"), "eager", stream=True, min_confidence=0
    )
    backend.estimate(frame(4))
    assert backend._previous is not None
    backend.reset()
    assert backend._previous is None
    backend.close()


def test_low_confidence_reports_no_person(tmp_path):
    backend = DeepHARBackend(write_checkpoint(tmp_path / "p.pt"), "eager", min_confidence=1.01)
    assert backend.estimate(frame(5)).keypoints is None


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\x80\x04garbage" * 20), "corrupt"),
        (lambda p: torch.save({"kind": "form", "state_dict": {}}, p), "not a pose checkpoint"),
        (lambda p: torch.save([1, 2], p), "not a pose checkpoint"),
        (lambda p: torch.save({"kind": "pose", "model_name": "nope", "state_dict": {}}, p),
         "unknown"),
        (lambda p: torch.save({"kind": "pose", "model_name": "deephar_test",
                               "model_kwargs": {"width": 48},
                               "state_dict": create_model("deephar_test").state_dict()}, p),
         "do not match"),
    ],
)
def test_bad_weights_give_one_line_errors(tmp_path, make, message):
    path = tmp_path / "w.pt"
    make(path)
    with pytest.raises(PoseBackendError, match=message) as info:
        DeepHARBackend(path)
    assert "\n" not in str(info.value)


def test_no_weights_is_a_clear_error():
    with pytest.raises(PoseBackendError, match="needs weights"):
        DeepHARBackend()


def test_tensorrt_without_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(PoseBackendError, match="CUDA"):
        DeepHARBackend(write_checkpoint(tmp_path / "p.pt"), "tensorrt")


def test_bad_frame_is_rejected(tmp_path):
    backend = DeepHARBackend(write_checkpoint(tmp_path / "p.pt"), "eager")
    with pytest.raises(PoseBackendError, match="BGR"):
        backend.estimate(np.zeros((10, 10), np.uint8))


def test_checkpoint_loader_returns_eval_model(tmp_path):
    model, checkpoint = load_pose_checkpoint(write_checkpoint(tmp_path / "p.pt"))
    assert not model.training and checkpoint.config == {"epochs": 1}


def test_cpu_default_is_onnxruntime():
    assert default_backend(torch.device("cpu")) == "onnxruntime"


def test_inverted_crop_maps_back_to_the_same_pixels(tmp_path):
    backend = DeepHARBackend(write_checkpoint(tmp_path / "p.pt"), "eager", min_confidence=0)
    image = frame(6, (100, 100))[..., ::-1].copy()
    turned = image[::-1, ::-1].copy()
    center = np.array([49.5, 49.5])
    kp_turned, _ = backend.predict_crop(turned, center, 100.0, 0)
    kp_inverted, _ = backend.predict_crop(image, center, 100.0, 180)
    # The network sees the same pixels; only the mapping back differs: x -> 99 - x, y -> 99 - y.
    np.testing.assert_allclose(kp_inverted[:, :2], 99.0 - kp_turned[:, :2], atol=1e-3)
    np.testing.assert_allclose(kp_inverted[:, 2], kp_turned[:, 2], atol=1e-5)


def test_weak_pose_retries_upside_down_and_stream_keeps_it(tmp_path):
    backend = DeepHARBackend(
        write_checkpoint(tmp_path / "p.pt"), "eager", min_confidence=0, weak_confidence=1.01
    )
    calls = []
    original = backend.predict_crop

    def spy(rgb, center, side, rotation=0):
        calls.append(rotation)
        keypoints, poses = original(rgb, center, side, rotation)
        keypoints[:, 2] = 0.9 if rotation == 180 else 0.2
        return keypoints, poses

    backend.predict_crop = spy
    result = backend.estimate(frame(7))
    assert calls == [0, 180] and result.rotation == 180
    backend.estimate(frame(8))
    assert calls[2] == 180  # the stream starts from the orientation that worked
    backend.reset()
    backend.estimate(frame(9))
    assert calls[-2:] == [0, 180]

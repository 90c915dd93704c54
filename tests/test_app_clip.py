import numpy as np
import pytest

from engine.clip import ClipBuffer


def _pose(value: float) -> np.ndarray:
    pose = np.full((16, 3), value, dtype=np.float32)
    pose[:, 2] = 0.9
    return pose


def test_clip_keeps_the_newest_frames_in_order():
    clip = ClipBuffer(3)
    for i in range(5):
        clip.push(_pose(i), timestamp=i / 30)
    array = clip.as_array()
    assert array.shape == (3, 16, 3) and array.dtype == np.float32
    assert array[:, 0, 0].tolist() == [2.0, 3.0, 4.0]
    assert np.allclose(clip.timestamps(), [2 / 30, 3 / 30, 4 / 30])


def test_missing_person_and_nan_joints_become_zero_confidence():
    clip = ClipBuffer(4)
    clip.push(None, 0.0)
    pose = _pose(5.0)
    pose[3] = np.nan
    clip.push(pose, 0.1)
    array = clip.as_array()
    assert not array[0].any()
    assert np.isfinite(array).all()
    assert array[1, 3, 2] == 0.0 and array[1, 4, 2] == pytest.approx(0.9)
    assert int(array[..., 2].any(axis=-1).sum()) == 1


def test_clear_and_empty_and_bad_shapes():
    clip = ClipBuffer(2)
    assert clip.as_array().shape == (0, 16, 3)
    clip.push(_pose(1), 0.0)
    clip.clear()
    assert len(clip) == 0
    with pytest.raises(ValueError):
        clip.push(np.zeros((17, 3)), 0.0)
    with pytest.raises(ValueError):
        ClipBuffer(0)


@pytest.mark.parametrize("fps", [15.0, 30.0, 60.0])
def test_clip_is_sampled_at_the_model_rate_from_any_stream_rate(fps):
    # A joint moving at 30 px/s: at the model's 30 fps the samples are 1 px apart whatever
    # the camera's rate, and the newest sample is the newest frame.
    clip = ClipBuffer(4, frame_rate=30.0)
    for i in range(int(fps)):
        clip.push(_pose(30.0 * i / fps), timestamp=i / fps)
    array = clip.as_array()
    newest = 30.0 * (int(fps) - 1) / fps
    assert array.shape == (4, 16, 3)
    assert array[:, 0, 0] == pytest.approx([newest - 3, newest - 2, newest - 1, newest])
    assert len(clip) <= 4 * max(fps / 30.0, 1.0) + 1  # history is kept by time, not count


def test_sampling_next_to_a_missing_person_takes_the_nearer_frame():
    clip = ClipBuffer(2, frame_rate=30.0)
    clip.push(_pose(1.0), 0.0)
    clip.push(None, 1 / 15)
    array = clip.as_array()
    assert array.shape == (2, 16, 3)
    assert not array[1].any()  # the newest frame has nobody: no pose is made up
    assert array[0, 0, 0] in (0.0, 1.0)

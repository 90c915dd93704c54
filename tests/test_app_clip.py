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
    assert clip.num_found == 1


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

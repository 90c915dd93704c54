from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from engine import skeleton
from engine.pose.blazepose import (
    BlazePoseBackend,
    pass_score,
    rotate_180,
    unrotate_points_180,
)

DEMO = Path(__file__).resolve().parent.parent / "coach" / "assets" / "demo_handstand.mp4"


def test_unrotate_undoes_a_180_degree_turn():
    image = np.zeros((40, 60, 3), np.uint8)
    image[5, 7] = 255
    turned = rotate_180(image)
    y, x = np.argwhere(turned[..., 0] == 255)[0]
    back = unrotate_points_180(np.array([[x, y, 1.0]]), width=60, height=40)
    np.testing.assert_allclose(back[0, :2], [7, 5])
    assert back[0, 2] == 1.0


def _standing_landmarks(leg_scale: float) -> np.ndarray:
    landmarks = np.zeros((33, 3), np.float32)
    landmarks[:, 2] = 0.9
    landmarks[[11, 12], :2] = [[110, 100], [90, 100]]  # shoulders
    landmarks[[23, 24], :2] = [[108, 160], [92, 160]]  # hips, torso 60 px
    for hip, knee, ankle in ((23, 25, 27), (24, 26, 28)):
        landmarks[knee, :2] = landmarks[hip, :2] + [0, 45 * leg_scale]
        landmarks[ankle, :2] = landmarks[knee, :2] + [0, 45 * leg_scale]
    return landmarks


def test_folded_legs_score_lower_than_extended_legs():
    extended = pass_score(_standing_landmarks(1.0))
    folded = pass_score(_standing_landmarks(0.3))
    assert extended == pytest.approx(0.9, abs=1e-6)
    assert folded < 0.5 * extended


@pytest.fixture(scope="module")
def demo_handstand_frame() -> np.ndarray:
    rgb = iio.imread(DEMO, index=170)  # a held straight handstand in the rendered demo
    return np.ascontiguousarray(rgb[..., ::-1])


def test_inverted_athlete_found_in_both_orientations_with_matching_keypoints(
    demo_handstand_frame,
):
    backend = BlazePoseBackend(stream=False)
    try:
        upright = backend.estimate(demo_handstand_frame)
        turned = backend.estimate(rotate_180(demo_handstand_frame))
    finally:
        backend.close()
    assert upright.found and turned.found
    height, width = demo_handstand_frame.shape[:2]
    mapped = unrotate_points_180(turned.keypoints, width, height)
    limbs = list(skeleton.BLAZEPOSE_DIRECT)
    error = np.linalg.norm(mapped[limbs, :2] - upright.keypoints[limbs, :2], axis=-1)
    assert np.median(error) < 15.0
    # Wrists are below the ankles in the image: the athlete is upside down.
    wrists = upright.keypoints[[skeleton.R_WRIST, skeleton.L_WRIST], 1].mean()
    ankles = upright.keypoints[[skeleton.R_ANKLE, skeleton.L_ANKLE], 1].mean()
    assert wrists > ankles


def test_blank_frame_reports_no_person():
    backend = BlazePoseBackend(stream=False)
    try:
        result = backend.estimate(np.full((240, 320, 3), 127, np.uint8))
    finally:
        backend.close()
    assert not result.found
    assert result.keypoints is None


def test_segmentation_mask_covers_the_athlete_only_when_asked(demo_handstand_frame):
    plain = BlazePoseBackend(stream=False)
    segmenting = BlazePoseBackend(stream=False, segmentation=True)
    try:
        without = plain.estimate(demo_handstand_frame)
        with_mask = segmenting.estimate(demo_handstand_frame)
    finally:
        plain.close()
        segmenting.close()
    assert plain.last_mask is None
    mask = segmenting.last_mask
    assert mask.shape == demo_handstand_frame.shape[:2] and mask.dtype == np.float32
    # Segmentation does not change the keypoints; the mask is on the body, not the room.
    np.testing.assert_allclose(with_mask.keypoints, without.keypoints)
    x, y = np.round(with_mask.keypoints[list(skeleton.BLAZEPOSE_DIRECT), :2]).astype(int).T
    assert np.median(mask[y, x]) > 0.5
    assert mask.mean() < 0.3


def test_pose_cache_stores_body_axis_silhouettes(tmp_path, demo_handstand_frame):
    from training.pose_cache import build_cache
    from training.silhouette import SILHOUETTE_SIZE

    iio.imwrite(tmp_path / "held.png", demo_handstand_frame[..., ::-1])
    iio.imwrite(tmp_path / "empty.png", np.full((120, 160, 3), 127, np.uint8))
    (tmp_path / "labels.csv").write_text(
        "file,label,confidence,notes\nheld.png,straight,1.0,\nempty.png,not_handstand,1.0,\n")
    arrays = build_cache(tmp_path, tmp_path / "cache.npz", silhouettes=True)
    silhouettes = np.load(tmp_path / "cache.npz")["silhouettes"]
    assert silhouettes.shape == (2, *SILHOUETTE_SIZE) and silhouettes.dtype == np.uint8
    assert np.array_equal(silhouettes, arrays["silhouettes"])
    # The held handstand runs the crop's height near its middle; nobody, nothing.
    middle = silhouettes[0][:, SILHOUETTE_SIZE[1] // 4 : 3 * SILHOUETTE_SIZE[1] // 4]
    assert (middle > 128).any(axis=1).mean() > 0.8
    assert not silhouettes[1].any()
    assert "silhouettes" not in build_cache(tmp_path, tmp_path / "plain.npz")

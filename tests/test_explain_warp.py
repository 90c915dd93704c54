import cv2
import numpy as np
from test_explain_poses import stick_handstand

from engine.skeleton import BONES, L_ANKLE, L_HIP, L_KNEE, R_ANKLE, R_HIP, R_KNEE
from engine.warp import control_points, piecewise_affine_warp, warp_to_pose

SIZE = (320, 240)


def _scene(pose: np.ndarray) -> np.ndarray:
    """A textured background with the stick body drawn grey and a red dot on the right shin."""
    width, height = SIZE
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    image = np.stack([(xs * 0.7) % 256, (ys * 0.9) % 256, np.full_like(xs, 60)], -1)
    image = image.astype(np.uint8)
    for a, b in BONES:
        cv2.line(image, tuple(int(v) for v in pose[a, :2]), tuple(int(v) for v in pose[b, :2]),
                 (128, 128, 128), 9)
    dot = 0.5 * (pose[R_KNEE, :2] + pose[R_ANKLE, :2])
    cv2.circle(image, (int(round(dot[0])), int(round(dot[1]))), 3, (0, 0, 255), -1)
    return image


def _rotate_leg(pose: np.ndarray, degrees: float, hip=R_HIP, leg=(R_KNEE, R_ANKLE)) -> np.ndarray:
    radians = np.deg2rad(degrees)
    rotation = np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    moved = pose.copy()
    for joint in leg:
        moved[joint, :2] = (pose[joint, :2] - pose[hip, :2]) @ rotation.T + pose[hip, :2]
    return moved


def _red_centroid(image: np.ndarray) -> np.ndarray:
    red = (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)
    ys, xs = np.nonzero(red)
    assert len(xs) > 0, "red dot vanished"
    return np.array([xs.mean(), ys.mean()])


def test_dot_on_a_limb_moves_with_the_limb_and_background_corner_stays():
    pose = stick_handstand(np.random.default_rng(3), banana=False, size=SIZE)
    # Split the legs so the left one (which stays) does not cover the right one (which moves).
    pose = _rotate_leg(pose, -30.0, L_HIP, (L_KNEE, L_ANKLE))
    image = _scene(pose)
    moved = _rotate_leg(pose, 25.0)
    warped = warp_to_pose(image, pose, moved)
    expected = 0.5 * (moved[R_KNEE, :2] + moved[R_ANKLE, :2])
    found = _red_centroid(warped)
    assert np.linalg.norm(found - expected) < 3.0, (found, expected)
    original = _red_centroid(image)
    assert np.linalg.norm(found - original) > 15.0
    np.testing.assert_array_equal(warped[:10, :10], image[:10, :10])
    np.testing.assert_array_equal(warped[-10:, -10:], image[-10:, -10:])


def test_identity_pose_leaves_the_image_unchanged():
    pose = stick_handstand(np.random.default_rng(4), banana=True, size=SIZE)
    image = _scene(pose)
    warped = warp_to_pose(image, pose, pose)
    assert np.abs(warped.astype(int) - image.astype(int)).max() <= 1


def test_piecewise_affine_warp_moves_a_known_triangle():
    image = np.zeros((60, 60), np.uint8)
    image[20, 20] = 255
    corners = np.array([[0, 0], [59, 0], [0, 59], [59, 59]], float)
    src = np.concatenate([corners, [[20.0, 20.0]]])
    dst = np.concatenate([corners, [[30.0, 25.0]]])
    warped = piecewise_affine_warp(image, src, dst)
    assert np.unravel_index(warped.argmax(), warped.shape) == (25, 30)


def test_control_points_keep_fixed_points_fixed():
    pose = stick_handstand(np.random.default_rng(5), banana=True, size=SIZE)
    moved = _rotate_leg(pose, 30.0)
    src, dst = control_points(pose, moved, SIZE)
    same = np.all(src == dst, axis=1)
    assert same.sum() >= 4
    right, bottom = SIZE[0] - 1.0, SIZE[1] - 1.0
    corners = {(0.0, 0.0), (right, 0.0), (0.0, bottom), (right, bottom)}
    assert corners <= {tuple(p) for p in src[same]}

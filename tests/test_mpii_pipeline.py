import json

import cv2
import numpy as np
import pytest
import scipy.io

from engine.pose.crops import crop_matrix, crop_to_image, image_to_crop, warp_crop
from engine.skeleton import L_WRIST, R_WRIST
from training.datasets.mpii import (
    MPIIDataset,
    MPIIFormatError,
    head_sizes,
    load_mpii,
    load_mpii_json,
    load_mpii_mat,
)
from training.transforms import (
    ANGLES,
    GAMMAS,
    INVALID,
    SCALES,
    Augmentation,
    keypoints_to_targets,
    make_crop_sample,
    predictions_to_image,
    sample_augmentation,
)

# MPII native order: r_ank, r_knee, r_hip, l_hip, l_knee, l_ank, pelvis, thorax, upper_neck,
# head_top, r_wri, r_elb, r_sho, l_sho, l_elb, l_wri (1-based pixels, Matlab style).
NATIVE_JOINTS = [
    [90, 190], [92, 160], [95, 130], [105, 130], [108, 160], [110, 190], [100, 130],
    [100, 80], [100, 70], [100, 50], [80, 120], [85, 100], [90, 80], [110, 80], [115, 100],
    [120, 120],
]


def write_fake_json(tmp_path, n=2):
    entries = []
    for i in range(n):
        vis = [1] * 16
        joints = [list(map(float, j)) for j in NATIVE_JOINTS]
        if i == 1:
            vis[0] = 0
            joints[0] = [-1.0, -1.0]
        entries.append(
            {"image": f"img{i}.png", "center": [101.0, 121.0], "scale": 0.8, "joints": joints,
             "joints_vis": vis}
        )
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps(entries))
    for i in range(n):
        image = np.full((240, 200, 3), 40 * (i + 1), np.uint8)
        cv2.imwrite(str(tmp_path / f"img{i}.png"), image)
    return path


def write_fake_mat(tmp_path):
    dtype = [("head", "O"), ("objpos", "O"), ("scale", "O"), ("pose", "O")]
    rects = np.zeros((1, 2), dtype=dtype)
    pose = np.asarray(NATIVE_JOINTS, dtype=float).T.copy()
    for p in range(2):
        rects[0, p]["head"] = np.array([[91.0, 41.0, 111.0, 71.0]])
        rects[0, p]["objpos"] = np.array([[101.0 + p, 121.0]])
        rects[0, p]["scale"] = np.array([[0.8]])
        person_pose = pose.copy()
        if p == 1:
            person_pose[:, 15] = np.nan
        rects[0, p]["pose"] = person_pose
    cells = np.empty((3, 1), dtype=object)
    cells[0, 0] = np.array([[2], [1]])  # persons listed out of order, 1-based
    cells[1, 0] = "img0.png"
    cells[2, 0] = rects
    path = tmp_path / "annotations.mat"
    scipy.io.savemat(str(path), {"annot_tr": cells, "annot_val": cells})
    return path


def test_json_layout_is_read_and_made_zero_based(tmp_path):
    records = load_mpii_json(write_fake_json(tmp_path))
    assert len(records) == 2
    first = records[0]
    assert first.center.tolist() == [100.0, 120.0]
    # Canonical head_top (index 3) is MPII native 9.
    assert first.keypoints[3].tolist() == [99.0, 49.0, 1.0]
    # r_ankle (canonical 14) is unannotated in the second person.
    assert records[1].keypoints[14, 2] == 0 and np.isnan(records[1].keypoints[14, 0])
    assert np.isnan(first.head_box).all()


def test_mat_layout_is_read(tmp_path):
    records = load_mpii_mat(write_fake_mat(tmp_path), "val")
    assert [r.center[0] for r in records] == [101.0, 100.0]  # person 2 then person 1
    assert records[0].head_box.tolist() == [90.0, 40.0, 110.0, 70.0]
    assert records[0].keypoints[L_WRIST, 2] == 0  # native 15 NaN for person 2
    assert load_mpii(tmp_path / "annotations.mat", "train")[1].keypoints[L_WRIST, 2] == 1


def test_head_size_from_box_or_from_neck_and_head_top(tmp_path):
    from_box = head_sizes(load_mpii_mat(write_fake_mat(tmp_path)))
    assert from_box[0] == pytest.approx(0.6 * np.hypot(20, 30))
    derived = head_sizes(load_mpii_json(write_fake_json(tmp_path)))
    assert derived[0] == pytest.approx(0.6 * np.sqrt(2) * 20.0)


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"a": 1}', b'[{"image": "x"}]'])
def test_bad_json_gives_one_line_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(MPIIFormatError) as info:
        load_mpii_json(path)
    assert "\n" not in str(info.value)


def test_missing_and_corrupt_mat(tmp_path):
    with pytest.raises(MPIIFormatError, match="not found"):
        load_mpii_mat(tmp_path / "nope.mat")
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"MATLAB garbage" * 10)
    with pytest.raises(MPIIFormatError):
        load_mpii_mat(corrupt)
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"x": np.zeros(3)})
    with pytest.raises(MPIIFormatError, match="annot_val"):
        load_mpii_mat(other)


def random_keypoints(rng, n=16):
    kp = np.zeros((n, 3))
    kp[:, 0] = rng.uniform(60, 140, n)
    kp[:, 1] = rng.uniform(60, 180, n)
    kp[:, 2] = 1
    return kp


@pytest.mark.parametrize("seed", range(6))
def test_crop_coordinates_round_trip_exactly(seed):
    rng = np.random.default_rng(seed)
    kp = random_keypoints(rng)
    aug = sample_augmentation(rng)
    matrix = crop_matrix((100, 120), 250 * aug.scale, 64, angle_deg=aug.angle_deg, flip=aug.flip)
    coords, visible = keypoints_to_targets(kp, matrix, 64, aug.flip)
    back = predictions_to_image(coords, matrix, 64, aug.flip)
    inside = visible > 0
    assert inside.sum() > 8
    # Targets are float32: exact up to float32 rounding (< 1e-4 px); float64 maps are exact.
    np.testing.assert_allclose(back[inside], kp[inside, :2], atol=1e-4)
    assert (coords[~inside] == INVALID).all()
    np.testing.assert_allclose(
        crop_to_image(image_to_crop(kp[:, :2], matrix, 64), matrix, 64), kp[:, :2], atol=1e-9
    )


@pytest.mark.parametrize("angle,flip", [(0.0, False), (30.0, False), (-40.0, True), (15.0, True)])
def test_warped_image_and_targets_coincide(angle, flip):
    image = np.zeros((240, 200, 3), np.uint8)
    kp = np.zeros((16, 3))
    kp[:, 2] = 0
    kp[R_WRIST] = [70.0, 150.0, 1.0]
    cv2.circle(image, (70, 150), 3, (255, 255, 255), -1)
    sample = make_crop_sample(
        image, kp, np.array([100.0, 120.0]), 200.0, 128, Augmentation(angle_deg=angle, flip=flip)
    )
    bright = (sample.image[0] + 1) / 2
    ys, xs = np.nonzero(bright > 0.5 * bright.max())
    joint = L_WRIST if flip else R_WRIST  # after a flip the right wrist looks like a left one
    assert sample.visible[joint] == 1 and sample.visible.sum() == 1
    expected = sample.coords[joint] * 128
    assert abs(xs.mean() - expected[0]) < 0.75 and abs(ys.mean() - expected[1]) < 0.75


def test_positive_angle_turns_content_counter_clockwise():
    matrix = crop_matrix((0.0, 0.0), 100.0, 100, angle_deg=90.0)
    # A point to the right of the centre ends up above it (y down).
    moved = (np.array([10.0, 0.0]) @ matrix[:2, :2].T)
    np.testing.assert_allclose(moved, [0.0, -10.0], atol=1e-9)


def test_augmentation_draws_come_from_the_paper_sets_and_the_generator():
    draws = [sample_augmentation(np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    many = [sample_augmentation(rng) for _ in range(200)]
    assert {a.angle_deg for a in many} <= set(ANGLES) and len({a.angle_deg for a in many}) > 10
    assert {a.scale for a in many} == set(SCALES)
    assert {a.flip for a in many} == {False, True}
    assert all(set(a.gamma) <= set(GAMMAS) for a in many)
    assert min(ANGLES) == -40 and max(ANGLES) == 40 and ANGLES[1] - ANGLES[0] == 5


def test_gamma_changes_channels_independently():
    image = np.full((50, 50, 3), 128, np.uint8)
    kp = random_keypoints(np.random.default_rng(0))
    plain = make_crop_sample(image, kp, np.array([25.0, 25.0]), 40.0, 32)
    gamma = make_crop_sample(
        image, kp, np.array([25.0, 25.0]), 40.0, 32, Augmentation(gamma=(0.9, 1.0, 1.1))
    )
    center = (slice(None), 16, 16)
    assert gamma.image[center][0] > plain.image[center][0]
    assert gamma.image[center][1] == pytest.approx(plain.image[center][1])
    assert gamma.image[center][2] < plain.image[center][2]


def test_large_reduction_does_not_alias():
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255
    crop = warp_crop(stripes, crop_matrix((200, 200), 400, 32), 32)
    assert abs(float(crop.mean()) - 127.5) < 10 and crop.std() < 20


def test_dataset_items_and_epoch_dependent_augmentation(tmp_path):
    records = load_mpii_json(write_fake_json(tmp_path))
    dataset = MPIIDataset(records, tmp_path, input_size=64, augment=True, seed=3)
    item = dataset[0]
    assert item["image"].shape == (3, 64, 64) and item["coords"].shape == (16, 2)
    assert item["matrix"].shape == (3, 3)
    again = dataset[0]
    assert (item["image"] == again["image"]).all()
    changed = False
    for epoch in range(1, 6):
        dataset.set_epoch(epoch)
        changed |= bool((dataset[0]["matrix"] != item["matrix"]).any())
    assert changed
    plain = MPIIDataset(records, tmp_path, input_size=64, cache_images=True)[1]
    assert plain["visible"][14] == 0 and plain["coords"][14, 0] == INVALID


def test_missing_image_is_a_clear_error(tmp_path):
    records = load_mpii_json(write_fake_json(tmp_path))
    (tmp_path / "img0.png").unlink()
    with pytest.raises(MPIIFormatError, match="cannot read image"):
        MPIIDataset(records, tmp_path)[0]

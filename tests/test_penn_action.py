import json

import cv2
import numpy as np
import pytest
import scipy.io
import torch

from engine.skeleton import HEAD_TOP, L_SHOULDER, PELVIS, R_ANKLE, R_SHOULDER
from training.datasets.penn import (
    PENN_ACTIONS,
    PennClipDataset,
    PennFormatError,
    eval_clip_indices,
    load_penn_split,
    load_penn_video,
    train_clip_indices,
)


def write_video(root, video_id, action, train, frames=12, size=(48, 64), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(10, 50, (frames, 13))
    y = rng.uniform(8, 40, (frames, 13))
    visibility = np.ones((frames, 13))
    visibility[:, 12] = 0  # right ankle hidden throughout
    bbox = np.tile([5.0, 4.0, 55.0, 44.0], (frames, 1))
    labels = root / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        str(labels / f"{video_id:04d}.mat"),
        {"action": action, "x": x, "y": y, "visibility": visibility, "bbox": bbox,
         "train": 1 if train else -1, "nframes": frames, "dimensions": [*size, frames]},
    )
    folder = root / "frames" / f"{video_id:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    colour = (0, 0, 255) if action == "baseball_pitch" else (255, 0, 0)
    for f in range(frames):
        image = np.full((*size, 3), 20, np.uint8)
        cv2.rectangle(image, (10, 8), (50, 40), colour, -1)
        cv2.imwrite(str(folder / f"{f + 1:06d}.jpg"), image)
    return x, y


def fake_penn(root):
    for i in range(6):
        action = "baseball_pitch" if i % 2 == 0 else "bench_press"
        write_video(root, i + 1, action, train=i < 4, seed=i)
    return root


def test_video_maps_13_joints_to_the_canonical_skeleton(tmp_path):
    x, y = write_video(tmp_path, 7, "squat", True)
    video = load_penn_video(tmp_path / "labels" / "0007.mat")
    assert video.action == "squat" and video.label == PENN_ACTIONS.index("squat")
    assert video.video_id == 7 and video.train and video.num_frames == 12
    # Release order: head, l_shoulder, r_shoulder, ...
    np.testing.assert_allclose(video.keypoints[:, HEAD_TOP, :2], np.stack([x[:, 0], y[:, 0]], 1),
                               rtol=1e-6)
    np.testing.assert_allclose(video.keypoints[:, L_SHOULDER, 0], x[:, 1], rtol=1e-6)
    np.testing.assert_allclose(video.keypoints[:, R_SHOULDER, 0], x[:, 2], rtol=1e-6)
    assert (video.keypoints[:, PELVIS, 2] == 0).all()
    assert (video.keypoints[:, R_ANKLE, 2] == 0).all()
    assert np.isnan(video.keypoints[:, R_ANKLE, 0]).all()


def test_split_and_bad_files(tmp_path):
    fake_penn(tmp_path)
    assert len(load_penn_split(tmp_path, "train")) == 4
    assert len(load_penn_split(tmp_path, "test")) == 2
    with pytest.raises(PennFormatError, match="not found"):
        load_penn_video(tmp_path / "labels" / "9999.mat")
    scipy.io.savemat(str(tmp_path / "bad.mat"), {"action": "squat"})
    with pytest.raises(PennFormatError, match="lacks"):
        load_penn_video(tmp_path / "bad.mat")
    with pytest.raises(PennFormatError, match="no Penn Action labels"):
        load_penn_split(tmp_path / "empty", "train")


def test_clip_sampling_follows_the_paper():
    clips = eval_clip_indices(100, 16, 2)
    starts = [int(c[0]) for c in clips]
    assert starts[:3] == [0, 9, 18] and all(np.diff(c).tolist() == [2] * 15 for c in clips)
    assert clips[-1][-1] <= 99
    assert len(eval_clip_indices(5, 16, 2)) == 1 and eval_clip_indices(5)[0].max() == 4
    rng = np.random.default_rng(0)
    steps = set()
    for _ in range(50):
        idx = train_clip_indices(60, rng)
        assert len(idx) == 16 and idx.min() >= 0 and idx.max() <= 59
        steps.add(int(idx[1] - idx[0]))
    assert steps == {1, 2, 3}


def test_clip_dataset_items(tmp_path):
    fake_penn(tmp_path)
    videos = load_penn_split(tmp_path, "test")
    data = PennClipDataset(videos, frames_root=tmp_path / "frames", input_size=64, clip_length=8)
    item = data[0]
    assert item["images"].shape == (8, 3, 64, 64) and item["poses"].shape == (8, 16, 3)
    assert item["label"].item() in (0, 2)
    visible = item["poses"][..., 2] > 0
    coords = item["poses"][..., :2][visible]
    assert (coords > 0).all() and (coords < 1).all()


def test_action_training_reports_validation_accuracy(tmp_path, capsys):
    from training.train_action import main

    fake_penn(tmp_path / "penn")
    code = main([
        "--penn", str(tmp_path / "penn"), "--model", "deephar_action_test", "--clip-length", "8",
        "--epochs", "2", "--batch-size", "2", "--device", "cpu", "--out", str(tmp_path / "run"),
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("validation clip accuracy") == 2
    final = json.loads(out.strip().splitlines()[-1])
    assert 0.0 <= final["video_accuracy"] <= 1.0
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["kind"] == "action" and state["epoch"] == 2


def test_action_model_on_pose_checkpoint_and_errors(tmp_path, capsys):
    from engine.models import create_model
    from training.train_action import main

    pose = create_model("deephar_test")
    torch.save({"kind": "pose", "model_name": "deephar_test", "model_kwargs": {},
                "state_dict": pose.state_dict()}, tmp_path / "pose.pt")
    torch.save({"kind": "form"}, tmp_path / "form.pt")
    fake_penn(tmp_path / "penn")
    code = main(["--penn", str(tmp_path / "penn"), "--model", "deephar_action_test",
                 "--pose-weights", str(tmp_path / "form.pt"), "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    assert code == 1 and "not a pose checkpoint" in capsys.readouterr().err
    assert main(["--penn", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2")]) == 1

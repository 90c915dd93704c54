import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.datasets.blobs import BlobPoseDataset
from training.train_pose import PoseTrainConfig, evaluate, pose_loss, train
from training.transforms import INVALID

ROOT = Path(__file__).resolve().parents[1]


def test_loss_masks_invalid_joints_before_arithmetic():
    poses = torch.full((2, 3, 16, 3), 0.5, requires_grad=True)
    coords = torch.full((2, 16, 2), 0.25)
    coords[0, 3] = INVALID
    coords[1, :, 1] = INVALID
    visible = torch.ones(2, 16)
    loss, parts = pose_loss(poses, coords, visible)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(poses.grad).all()
    assert (poses.grad[0, :, 3, :2] == 0).all() and (poses.grad[1, :, :, 1] == 0).all()
    # Per valid entry: |e| + e^2 + 0.01 BCE(0.25, 0.5) = 0.25 + 0.0625 + 0.01 ln 2; 3 blocks.
    expected_entry = 0.25 + 0.0625 + 0.01 * torch.log(torch.tensor(2.0)).item()
    assert parts["coord"] == pytest.approx(3 * expected_entry, rel=1e-5)
    # Visibility: 0.01 x BCE(1, 0.5) per block.
    assert parts["visibility"] == pytest.approx(3 * 0.01 * 0.6931472, rel=1e-5)


def test_every_block_is_supervised():
    poses = torch.full((1, 4, 16, 3), 0.5, requires_grad=True)
    pose_loss(poses, torch.full((1, 16, 2), 0.3), torch.ones(1, 16))[0].backward()
    assert all(poses.grad[0, k].abs().sum() > 0 for k in range(4))


def test_tiny_model_overfits_generated_data(tmp_path):
    data = BlobPoseDataset(4, input_size=64, seed=1)
    config = PoseTrainConfig(
        model_name="deephar_test", epochs=30, batch_size=4, steps_per_epoch=4,
        lr_drop_epochs=(24,), augment=False, eval_every=30, bn_recalibration_batches=2,
        out_dir=str(tmp_path / "run"), device="cpu",
    )
    metrics = train(config, data, data)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    log = [json.loads(line) for line in lines]
    assert len(log) == 30
    assert log[-1]["loss"] < 0.35 * log[0]["loss"]
    assert metrics["pckh"] > 0.5
    checkpoint = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert checkpoint["kind"] == "pose" and checkpoint["model_name"] == "deephar_test"
    assert checkpoint["config"]["epochs"] == 30 and checkpoint["epoch"] == 30
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["kind"] == "pose" and 1 <= best["epoch"] <= 30
    assert best["best_pckh"] == pytest.approx(metrics["pckh"])  # one evaluation, at the end


def test_resume_continues_from_last_checkpoint(tmp_path):
    data = BlobPoseDataset(2, input_size=64, seed=2)
    config = PoseTrainConfig(
        model_name="deephar_test", epochs=2, batch_size=2, augment=False, eval_every=0,
        out_dir=str(tmp_path), device="cpu",
    )
    train(config, data, data)
    config.epochs, config.resume = 3, True
    train(config, data, data)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == [1, 2, 3]
    assert torch.load(tmp_path / "last.pt", weights_only=False)["epoch"] == 3


def test_trained_checkpoint_evaluates_like_the_run(tmp_path):
    data = BlobPoseDataset(2, input_size=64, seed=3)
    config = PoseTrainConfig(
        model_name="deephar_test", epochs=1, batch_size=2, augment=False, eval_every=1,
        bn_recalibration_batches=0, out_dir=str(tmp_path), device="cpu",
    )
    metrics = train(config, data, data)
    from engine.models import create_model

    state = torch.load(tmp_path / "last.pt", weights_only=False)
    model = create_model(state["model_name"], **state["model_kwargs"])
    model.load_state_dict(state["state_dict"])
    assert evaluate(model, data, torch.device("cpu"))["pckh"] == pytest.approx(metrics["pckh"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_gloo(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training.train_pose", "--model", "deephar_test", "--synthetic", "4",
        "--batch-size", "4", "--epochs", "2", "--no-augment", "--device", "cpu",
        "--threads", "1", "--out", str(tmp_path / "ddp"), "--bn-recalibration", "1",
    ]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with 2 process(es)" in result.stdout
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and "pckh" in state["metrics"]


def test_cli_reports_bad_annotations_in_one_line(tmp_path):
    from training.train_pose import main

    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code = main(["--model", "deephar_test", "--annotations", str(bad), "--images", str(tmp_path),
                 "--out", str(tmp_path / "o")])
    assert code == 1

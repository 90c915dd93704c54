"""Training, calibration and evaluation of the form model on a tiny stand-in generator.

The stand-in draws 2D stick figures whose class is obvious from the geometry (inverted and
straight, inverted with the hips pushed out, a headstand-like pose with bent hips, upright),
so a short training run must learn it; the real generator (training/synth) is not used.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from report_check import read_report

from engine.checkpoint import load
from engine.form import FORM_LABELS, load_form_model
from engine.skeleton import (
    HEAD_TOP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    PELVIS,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
    UPPER_NECK,
)
from training import train_form
from training.train_form import FormTrainConfig, fit_temperature

# Body height 1 from wrists (0) up to the ankles, in "up" units; x to the side.
_STRAIGHT = {
    R_WRIST: (0.02, 0.0), L_WRIST: (-0.02, 0.0), R_ELBOW: (0.03, 0.12), L_ELBOW: (-0.03, 0.12),
    R_SHOULDER: (0.03, 0.25), L_SHOULDER: (-0.03, 0.25), THORAX: (0.0, 0.25),
    UPPER_NECK: (0.0, 0.21), HEAD_TOP: (0.0, 0.13), R_HIP: (0.02, 0.55), L_HIP: (-0.02, 0.55),
    PELVIS: (0.0, 0.55), R_KNEE: (0.02, 0.75), L_KNEE: (-0.02, 0.75), R_ANKLE: (0.02, 0.95),
    L_ANKLE: (-0.02, 0.95),
}


def _pose(label: int, rng: np.random.Generator) -> np.ndarray:
    """(16, 2) pose in 'up' coordinates for a class."""
    pose = np.array([_STRAIGHT[j] for j in range(16)], dtype=np.float64)
    if label == 1:  # banana: hips forward, legs back
        shift = rng.uniform(0.12, 0.2)
        pose[[PELVIS, R_HIP, L_HIP], 0] += shift
        pose[[R_KNEE, L_KNEE], 0] += shift * 0.4
        pose[[R_ANKLE, L_ANKLE], 0] -= shift * 0.3
    elif label == 2:  # piked inversion: legs horizontal from the hips
        pose[[R_KNEE, L_KNEE], 0] += 0.2
        pose[[R_KNEE, L_KNEE], 1] = 0.55
        pose[[R_ANKLE, L_ANKLE], 0] += 0.4
        pose[[R_ANKLE, L_ANKLE], 1] = 0.55
    elif label == 3:  # upright: a standing person with arms up is the handstand upside down
        pose[:, 1] = 1.0 - pose[:, 1]
    return pose


def standin_generate(n: int, *, clip_length: int, rng: np.random.Generator, config=None):
    """Tiny stand-in for training.synth.generate_clips (same output fields)."""
    labels = rng.integers(0, 4, n)
    keypoints = np.zeros((n, clip_length, 16, 3), np.float32)
    for i, label in enumerate(labels):
        pose = _pose(int(label), rng)
        scale = rng.uniform(150, 300)
        origin = np.array([rng.uniform(200, 440), rng.uniform(380, 460)])
        if rng.random() < 0.5:
            pose[:, 0] *= -1
        for t in range(clip_length):
            sway = rng.normal(0, 0.005, pose.shape)
            xy = origin + np.stack([pose[:, 0], -pose[:, 1]], -1) * scale + sway * scale
            keypoints[i, t, :, :2] = xy
            keypoints[i, t, :, 2] = rng.uniform(0.7, 1.0, 16)
    return SimpleNamespace(
        keypoints=keypoints,
        clean_keypoints=keypoints.copy(),
        image_sizes=np.tile(np.array([[640, 480]], np.float32), (n, 1)),
        labels=labels.astype(np.int64),
        frame_labels=np.repeat(labels[:, None], clip_length, 1),
        arch_visible=np.ones(n, bool),
        groups=np.arange(n),
    )


def _tiny_config(**overrides) -> FormTrainConfig:
    config = FormTrainConfig(
        model_name="form_handstand_test", clip_length=8, train_clips=384, val_clips=128,
        test_clips=128, epochs=4, batch_size=32, learning_rate=1e-2, num_threads=1,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("weights") / "form_tiny.pt"
    card = train_form.run(_tiny_config(), out, generate=standin_generate, command="test",
                          log=lambda _: None, report=True)
    return out, card


def test_short_training_learns_separable_task(trained):
    out, card = trained
    metrics = card["metrics"]["synthetic clips"]["formnet (ours)"]
    assert metrics["accuracy"] >= 0.9
    photos = card["metrics"]["synthetic photos"]["formnet (ours)"]
    assert photos["accuracy"] >= 0.9
    assert card["metrics"]["synthetic clips"]["majority"]["accuracy"] < 0.5


def test_checkpoint_card_and_report_are_written(trained):
    out, card = trained
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["sha256"] and on_disk["command"] == "test"
    assert on_disk["training_data"]["real_dev_photos_in_training"] is False
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["kind"] == "form" and checkpoint["labels"] == list(FORM_LABELS)
    assert checkpoint["temperature"] > 0 and checkpoint["clip_length"] == 8
    assert checkpoint["config"]["model_name"] == "form_handstand_test"
    page, metrics = read_report(out.with_name(out.stem + "_report"))
    assert {"synthetic clips", "synthetic photos"} <= set(metrics["sets"])
    assert {"confusion_synthetic_clips.png", "calibration_synthetic_clips.png",
            "per_class_synthetic_photos.png"} <= set(page.images)
    # The report states the card's figures.
    for name, methods in metrics["sets"].items():
        for method, figures in methods.items():
            assert figures["accuracy"] == pytest.approx(
                card["metrics"][name][method]["accuracy"]), (name, method)


def test_trained_weights_load_and_predict_photo_and_clip(trained):
    out, _ = trained
    classifier = load_form_model(out)
    rng = np.random.default_rng(5)
    clips = standin_generate(8, clip_length=8, rng=rng)
    verdicts = classifier.predict_batch(list(clips.keypoints))
    photo = classifier.predict(clips.keypoints[0, -1:])
    assert len(verdicts) == 8
    assert abs(sum(photo.probabilities.values()) - 1) < 1e-5
    correct = [FORM_LABELS.index(v.label) == y for v, y in zip(verdicts, clips.labels,
                                                               strict=True) if v.can_judge]
    assert np.mean(correct) >= 0.75


def test_calibration_temperature_positive_and_nll_not_worse(trained):
    _, card = trained
    assert card["temperature"] > 0
    calibration = card["calibration"]
    assert calibration["val_nll_after"] <= calibration["val_nll_before"] + 1e-6


def test_fit_temperature_recovers_overconfidence():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2000,), generator=generator)
    true_logits = torch.randn(2000, 4, generator=generator)
    true_logits[torch.arange(2000), labels] += 1.5
    resampled = torch.distributions.Categorical(logits=true_logits).sample()
    overconfident = true_logits * 3.0
    temperature = fit_temperature(overconfident, resampled)
    before = torch.nn.functional.cross_entropy(overconfident, resampled)
    after = torch.nn.functional.cross_entropy(overconfident / temperature, resampled)
    assert 2.0 < temperature < 4.5
    assert after < before


def test_training_is_deterministic(tmp_path):
    config = _tiny_config(train_clips=64, val_clips=32, test_clips=32, epochs=1)
    states = []
    for name in ("a.pt", "b.pt"):
        train_form.run(config, tmp_path / name, generate=standin_generate,
                       log=lambda _: None, report=False)
        states.append(torch.load(tmp_path / name, weights_only=True)["state_dict"])
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_store_examples_are_added_with_group_split(tmp_path, monkeypatch):
    import training.labeled_set

    rng = np.random.default_rng(1)
    clips = standin_generate(40, clip_length=1, rng=rng)
    fake = SimpleNamespace(
        keypoints=clips.keypoints[:, 0], image_sizes=clips.image_sizes,
        labels=np.array([FORM_LABELS[i] for i in clips.labels]),
        groups=np.array([f"video{i // 4}" for i in range(40)]), files=np.arange(40).astype(str),
    )
    fake.__len__ = lambda: 40
    monkeypatch.setattr(training.labeled_set, "load_labeled_set", lambda db: _Sized(fake))
    train, test = train_form.labeled_sets("labels.db", 8, 0.25, seed=0)
    assert len(train) + len(test) == 40 and len(test) > 0
    assert not set(train.groups) & set(test.groups)
    assert train.keypoints.shape[1:] == (8, 16, 3)
    config = _tiny_config(store="labels.db", labeled_only=True, epochs=2, labeled_repeat=2)
    card = train_form.run(config, tmp_path / "own.pt", log=lambda _: None, report=False)
    assert card["training_data"]["labeled_examples"]["test"] == len(test)
    assert "labeled test photos" in card["metrics"]


class _Sized(SimpleNamespace):
    def __init__(self, inner):
        super().__init__(**vars(inner))

    def __len__(self) -> int:
        return len(self.labels)


def test_cli_retrains_from_a_real_label_store(tmp_path):
    import cv2

    from training.store import LabelStore

    rng = np.random.default_rng(3)
    clips = standin_generate(32, clip_length=1, rng=rng)
    db = tmp_path / "labels.db"
    with LabelStore(db) as store:
        for i, (keypoints, label) in enumerate(zip(clips.keypoints[:, 0], clips.labels,
                                                   strict=True)):
            folder = tmp_path / f"session{i % 4}"
            folder.mkdir(exist_ok=True)
            image = folder / f"photo_{i}.png"
            cv2.imwrite(str(image), np.full((8, 8, 3), i, np.uint8))
            frame = store.frame_id(store.add_media(image))
            store.put_pose(frame, "test", "1", keypoints, (640, 480))
            store.add_label(frame, FORM_LABELS[label])
    out = tmp_path / "own.pt"
    code = train_form.main(["--store", str(db), "--labeled-only", "--out", str(out),
                            "--epochs", "2", "--no-report"])
    assert code == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training_data"]["labeled_examples"]["train"] > 0
    assert card["training_data"]["labeled_examples"]["test"] > 0
    assert load_form_model(out).clip_length == 16


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert train_form.main(["--labeled-only"]) == 2
    assert train_form.main(["--store", str(tmp_path / "missing.db"), "--labeled-only",
                            "--out", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)
    assert not (tmp_path / "x.pt").exists()


def test_an_ensemble_averages_members_trained_from_consecutive_seeds(tmp_path):
    from engine.models.ensemble import ModelAverage

    config = _tiny_config(train_clips=64, val_clips=32, test_clips=32, epochs=1)
    train_form.run(config, tmp_path / "single.pt", generate=standin_generate,
                   log=lambda _: None, report=False)
    card = train_form.run(dataclasses.replace(config, ensemble_members=2),
                          tmp_path / "pair.pt", generate=standin_generate,
                          log=lambda _: None, report=False)
    single = torch.load(tmp_path / "single.pt", weights_only=True)["state_dict"]
    pair = torch.load(tmp_path / "pair.pt", weights_only=True)
    assert pair["members"] == 2 and card["config"]["ensemble_members"] == 2
    for key, value in single.items():  # member 0 is the single model of the same seed
        assert torch.equal(pair["state_dict"][f"members.0.{key}"], value), key
    assert any(not torch.equal(pair["state_dict"][f"members.1.{key}"], value)
               for key, value in single.items())
    classifier = load_form_model(tmp_path / "pair.pt")
    assert isinstance(classifier.model, ModelAverage)
    clips = standin_generate(4, clip_length=8, rng=np.random.default_rng(3))
    assert len(classifier.predict_batch(list(clips.keypoints))) == 4


@pytest.mark.slow
def test_ensemble_members_trained_in_processes_equal_in_process_ones(tmp_path):
    config = _tiny_config(train_clips=48, val_clips=24, test_clips=24, epochs=1,
                          ensemble_members=2)
    states = []
    for threads in (1, 2):
        train_form.run(dataclasses.replace(config, num_threads=threads),
                       tmp_path / f"t{threads}.pt", log=lambda _: None, report=False)
        states.append(torch.load(tmp_path / f"t{threads}.pt", weights_only=True)["state_dict"])
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_pretrained_members_replace_the_pretraining_with_the_same_weights(tmp_path):
    config = _tiny_config(train_clips=48, val_clips=24, test_clips=24, epochs=1)
    members = []
    for seed in (0, 1):
        members.append(tmp_path / f"seed{seed}.pt")
        train_form.run(dataclasses.replace(config, seed=seed), members[-1],
                       generate=standin_generate, log=lambda _: None, report=False)
    pair = dataclasses.replace(config, ensemble_members=2)
    train_form.run(pair, tmp_path / "full.pt", generate=standin_generate,
                   log=lambda _: None, report=False)
    train_form.run(pair, tmp_path / "fast.pt", generate=standin_generate,
                   log=lambda _: None, report=False, pretrained=members)
    full, fast = (torch.load(tmp_path / n, weights_only=True)["state_dict"]
                  for n in ("full.pt", "fast.pt"))
    for key in full:
        assert torch.equal(full[key], fast[key]), key
    with pytest.raises(ValueError, match="other settings: epochs=1"):
        train_form.pretrained_member(members[0], dataclasses.replace(config, epochs=2))
    # Settings that act only when fine-tuning or judging do not make it another pretraining.
    fine_tuning_only = dataclasses.replace(config, real_group_exponent=0.25, video_repeat=1,
                                           finetune_seed_offset=7, view_threshold=0.3)
    assert train_form.pretrained_member(members[0], fine_tuning_only).config["seed"] == 0
    assert load(tmp_path / "full.pt", "form").checks.view_threshold == config.view_threshold
    assert load(members[0], "form").checks.view_threshold == config.view_threshold

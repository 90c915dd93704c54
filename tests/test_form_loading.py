"""Loading the form model: checksum, corrupt and mismatched weights, verdicts and can_judge."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.form import (
    FORM_LABELS,
    FormClassifier,
    FormModelError,
    FormModelNotInstalled,
    InputChecks,
    load_form_model,
)
from engine.models import create_model
from training.train_form import FormTrainConfig, save_checkpoint, write_card


def _standing_frame() -> np.ndarray:
    """A clearly visible upright person, (16, 3) pixels."""
    xy = np.array([
        [320, 300], [320, 200], [320, 180], [320, 140], [300, 200], [340, 200], [295, 250],
        [345, 250], [292, 300], [348, 300], [308, 300], [332, 300], [308, 380], [332, 380],
        [308, 460], [332, 460],
    ], np.float32)
    return np.concatenate([xy, np.full((16, 1), 0.9, np.float32)], axis=1)


def _save(tmp_path, name="form_handstand_test", **config_overrides):
    torch.manual_seed(0)
    model = create_model(name).eval()
    config = FormTrainConfig(model_name=name, clip_length=8, **config_overrides)
    path = tmp_path / "form.pt"
    save_checkpoint(path, model, config, 1.5, InputChecks())
    write_card(path, {"note": "test"})
    return path, model


def test_missing_weights_say_not_installed(tmp_path):
    with pytest.raises(FormModelNotInstalled, match="no form model installed"):
        load_form_model(tmp_path / "absent.pt")


def test_weights_load_with_card_and_match_the_model(tmp_path):
    path, model = _save(tmp_path)
    classifier = load_form_model(path)
    assert classifier.clip_length == 8 and classifier.temperature == 1.5
    assert classifier.labels == FORM_LABELS
    for a, b in zip(model.state_dict().values(), classifier.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_checksum_mismatch_is_one_clear_line(tmp_path):
    path, _ = _save(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FormModelError) as error:
        load_form_model(path)
    message = str(error.value)
    assert "\n" not in message
    assert f"weights file {path} is corrupt: checksum mismatch" in message


def test_missing_card_and_unreadable_card(tmp_path):
    path, _ = _save(tmp_path)
    card = path.with_suffix(".json")
    card.write_text("{not json")
    with pytest.raises(FormModelError, match="unreadable"):
        load_form_model(path)
    card.unlink()
    with pytest.raises(FormModelError, match="no model card"):
        load_form_model(path)


def test_corrupt_file_with_matching_card_cannot_be_read(tmp_path):
    path = tmp_path / "form.pt"
    path.write_bytes(b"this is not a checkpoint")
    write_card(path, {})
    with pytest.raises(FormModelError, match="corrupt or not a formcoach checkpoint") as error:
        load_form_model(path)
    assert "\n" not in str(error.value)


def test_mismatched_architecture_is_reported(tmp_path):
    path, _ = _save(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model_name"] = "form_handstand"
    torch.save(checkpoint, path)
    write_card(path, {})
    with pytest.raises(FormModelError, match="do not match the model architecture") as error:
        load_form_model(path)
    assert "\n" not in str(error.value)


def test_not_a_form_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"kind": "pose", "state_dict": {}}, path)
    write_card(path, {})
    with pytest.raises(FormModelError, match="not a form model checkpoint"):
        load_form_model(path)


def test_verdicts_for_photo_clip_and_empty_input(tmp_path):
    path, _ = _save(tmp_path)
    classifier = load_form_model(path)
    frame = _standing_frame()
    photo = classifier.predict(frame[None])
    clip = classifier.predict(np.repeat(frame[None], 20, axis=0))
    assert set(photo.probabilities) == set(FORM_LABELS)
    assert sum(clip.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    nobody = classifier.predict(np.full((4, 16, 3), np.nan, np.float32))
    assert not nobody.can_judge and nobody.label == "unknown"
    assert nobody.reason == "no person found"
    assert classifier.predict_batch([]) == []


def _classifier_with_bias(label: str, view_bias: float) -> FormClassifier:
    """A model whose output is forced to ``label`` and whose view head says ``view_bias``."""
    model = create_model("form_handstand_test").eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.pose_aggregation.depthwise.weight.fill_(1.0)
        model.view_head.bias.fill_(view_bias)
        model.pose_aggregation.pointwise.weight.zero_()
    classifier = FormClassifier(model, clip_length=8)
    index = FORM_LABELS.index(label)

    def scores(features):
        probabilities = np.full((len(features), 4), 0.1, np.float32)
        probabilities[:, index] = 0.7
        view = torch.sigmoid(torch.full((len(features),), view_bias)).numpy()
        return probabilities, view

    classifier.scores = scores
    return classifier


def test_cannot_judge_reasons():
    frame = _standing_frame()
    sideways = _classifier_with_bias("straight", view_bias=-3.0).predict(frame[None])
    assert not sideways.can_judge and sideways.reason == "turn sideways to the camera"
    assert sideways.label == "unknown" and sideways.probabilities["straight"] == pytest.approx(0.7)
    good = _classifier_with_bias("straight", view_bias=3.0).predict(frame[None])
    assert good.can_judge and good.label == "straight"
    no_ankles = frame.copy()
    no_ankles[[14, 15], 2] = 0.0
    blocked = _classifier_with_bias("banana", view_bias=3.0).predict(no_ankles[None])
    assert blocked.reason == "key joints not visible: ankles"
    # A clear non-handstand can still be judged without ankles.
    assert _classifier_with_bias("not_handstand", 3.0).predict(no_ankles[None]).can_judge
    collapsed = frame.copy()
    collapsed[[12, 13], 1] = 320
    collapsed[[14, 15], 1] = 330
    unreliable = _classifier_with_bias("straight", 3.0).predict(collapsed[None])
    assert unreliable.reason.startswith("pose estimate unreliable")


def test_straight_logit_is_differentiable_and_consistent(tmp_path):
    path, _ = _save(tmp_path)
    classifier = load_form_model(path)
    frame = _standing_frame()
    clip = torch.tensor(np.repeat(frame[None], 3, axis=0), requires_grad=True)
    logit = classifier.straight_scorer(require_view=False)(clip)
    logit.backward()
    assert clip.grad is not None and torch.isfinite(clip.grad).all()
    assert clip.grad[..., :2].abs().sum() > 0
    p = classifier.predict(frame[None]).probabilities["straight"]
    assert float(logit.detach()) == pytest.approx(np.log(p / (1 - p)), abs=1e-4)


def test_card_json_holds_sha256(tmp_path):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert len(card["sha256"]) == 64 and card["weights"] == "form.pt"


def test_onnxruntime_backend_matches_eager(tmp_path):
    pytest.importorskip("onnxruntime")
    path, _ = _save(tmp_path)
    frame = _standing_frame()
    clips = [np.repeat(frame[None], 8, axis=0), frame[None]]
    eager = load_form_model(path).predict_batch(clips)
    onnx = load_form_model(path, backend="onnxruntime").predict_batch(clips)
    for a, b in zip(eager, onnx, strict=True):
        assert a.label == b.label
        for name in FORM_LABELS:
            assert a.probabilities[name] == pytest.approx(b.probabilities[name], abs=1e-4)


def test_card_is_also_written_for_people_with_the_checksum(tmp_path):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    markdown = path.with_suffix(".card.md").read_text()
    assert card["sha256"] in markdown
    assert markdown.startswith("# Model card: form.pt")

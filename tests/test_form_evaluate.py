"""Metrics, baselines and the report of the form model evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from report_check import read_report

from training.baselines import (
    HipAngleRule,
    KeypointMlpBaseline,
    KnnEmbeddingBaseline,
    MajorityBaseline,
    hip_angle_degrees,
)
from training.evaluate import (
    OURS,
    expected_calibration_error,
    macro_f1,
    straight_banana_balanced_accuracy,
    summarize,
)
from training.report import write_report


def test_macro_f1_and_balanced_accuracy_by_hand():
    truth = np.array([0, 0, 0, 0, 1, 1, 3, 3])
    predicted = np.array([0, 0, 0, 1, 1, 3, 3, 3])
    # straight: P=1, R=.75 -> F1 6/7; banana: P=.5, R=.5 -> .5; not_handstand: P=2/3, R=1 -> .8
    assert macro_f1(truth, predicted) == pytest.approx((6 / 7 + 0.5 + 0.8) / 3)
    assert straight_banana_balanced_accuracy(truth, predicted) == pytest.approx((0.75 + 0.5) / 2)
    assert np.isnan(straight_banana_balanced_accuracy(np.array([0, 3]), np.array([0, 3])))


def test_ece_zero_for_calibrated_and_large_for_overconfident():
    truth = np.array([0, 0, 0, 1])
    calibrated = np.tile([0.75, 0.25, 0, 0], (4, 1))
    assert expected_calibration_error(calibrated, truth) == pytest.approx(0.0)
    overconfident = np.tile([1.0, 0, 0, 0], (4, 1))
    assert expected_calibration_error(overconfident, truth) == pytest.approx(0.25)


def _frames(label: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Inverted straight (0), inverted with hips pushed out (1), upright (3)."""
    frames = np.zeros((count, 16, 3), np.float32)
    frames[..., 2] = 0.9
    base = {8: 400, 9: 400, 4: 330, 5: 330, 1: 330, 6: 365, 7: 365, 2: 345, 3: 370,
            10: 230, 11: 230, 0: 230, 12: 150, 13: 150, 14: 70, 15: 70}
    for joint, y in base.items():
        frames[:, joint, 1] = y
        frames[:, joint, 0] = 320
    if label == 1:
        frames[:, [0, 10, 11], 0] += 50
    if label == 3:
        frames[..., 1] = 480 - frames[..., 1]
    frames[..., :2] += rng.normal(0, 2, (count, 16, 2))
    return frames


def _dataset(rng):
    frames = np.concatenate([_frames(c, 30, rng) for c in (0, 1, 3)])
    labels = np.repeat([0, 1, 3], 30)
    return frames, labels


def test_hip_angle_rule_fits_a_threshold_between_classes():
    rng = np.random.default_rng(0)
    frames, labels = _dataset(rng)
    angles = hip_angle_degrees(frames)
    assert angles[labels == 0].mean() > 170 > angles[labels == 1].mean()
    rule = HipAngleRule().fit(frames, labels)
    assert (rule.predict(frames) == labels).mean() > 0.95


@pytest.mark.parametrize("baseline", [KnnEmbeddingBaseline(top_by_max=10, top_by_mean=5),
                                      KeypointMlpBaseline(epochs=40), MajorityBaseline()])
def test_baselines_fit_and_predict(baseline):
    rng = np.random.default_rng(1)
    frames, labels = _dataset(rng)
    test_frames, test_labels = _dataset(np.random.default_rng(2))
    predicted = baseline.fit(frames, labels).predict(test_frames)
    assert predicted.shape == test_labels.shape
    floor = 0.3 if isinstance(baseline, MajorityBaseline) else 0.9
    assert (predicted == test_labels).mean() >= floor


def test_report_writes_figures_and_html(tmp_path):
    truth = np.array([0, 1, 2, 3, 0, 1])
    probabilities = np.eye(4)[[0, 1, 2, 3, 1, 1]] * 0.7 + 0.075
    ours = summarize(truth, probabilities.argmax(-1))
    ours.update({"judged_share": 1.0, "nll": 0.5, "ece": 0.1,
                 "probabilities": probabilities.tolist(), "truth": truth.tolist()})
    results = {"real dev photos": {OURS: ours, "majority": summarize(truth, np.zeros(6, int))}}
    html = write_report(tmp_path, results, {"real_dev_photos_in_training": False})
    page, metrics = read_report(html.parent)
    assert page.sections[""][1:] == [["real_dev_photos_in_training", "False"]]
    assert page.images == ["confusion_real_dev_photos.png", "calibration_real_dev_photos.png",
                           "per_class_real_dev_photos.png"]
    section = metrics["sets"]["real dev photos"]
    assert set(section) == {OURS, "majority"}
    assert section[OURS]["accuracy"] == pytest.approx(5 / 6)
    assert "probabilities" not in section[OURS]  # the raw outputs stay out of the summary
    assert len(section[OURS]["reliability"]) > 0


def test_keypoint_mlp_is_seeded_alone_and_leaves_the_global_generator_alone():
    frames, labels = _dataset(np.random.default_rng(1))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = KeypointMlpBaseline(epochs=3, seed=4).fit(frames, labels).predict(frames)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's draws are unchanged
    again = KeypointMlpBaseline(epochs=3, seed=4).fit(frames, labels).predict(frames)
    np.testing.assert_array_equal(first, again)

"""--suggest: the labeler asks first where the form model is least sure (synthetic inputs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from engine.form import FormClassifier
from engine.pose.base import PoseResult
from training.label_session import LabelSession, build_items
from training.store import LabelStore
from training.suggest import (
    Uncertainty,
    disagreement,
    entropy,
    suggest_items,
    suggested_order,
    uncertainties,
)


def test_entropy_and_disagreement_on_known_distributions():
    uniform, sure = np.full(4, 0.25), np.array([1.0, 0, 0, 0])
    assert entropy(uniform) == pytest.approx(np.log(4))
    assert entropy(sure) == pytest.approx(0.0)
    views = np.stack([
        [sure, sure, sure],  # all views agree
        [sure, [0, 1.0, 0, 0], [0, 0, 1.0, 0]],  # three confident views, three answers
        [sure, [np.nan] * 4, [0, 1.0, 0, 0]],  # a missing view is left out
        [sure, [np.nan] * 4, [np.nan] * 4],  # one view: nothing to disagree with
    ])
    np.testing.assert_allclose(disagreement(views), [0.0, np.log(3), np.log(2), 0.0], atol=1e-9)


def test_order_puts_uncertain_first_then_no_person_then_labeled():
    def score(value: float) -> Uncertainty:
        return Uncertainty(value, 0.0, {})

    scores = [score(0.1), None, score(0.9), score(0.5), score(2.0), score(0.9)]
    labeled = [False, False, False, False, True, False]
    assert suggested_order(scores, labeled) == [2, 5, 3, 0, 1, 4]


class ConfidenceModel(nn.Module):
    """Logits (k, 0, 0, 0) with k growing with the pose's mean confidence: sure about
    confident poses, unsure (uniform) about weak ones."""

    num_joints = 16

    def forward(self, features):
        confidence = features[..., 2].mean(dim=(1, 2))
        k = 40.0 * (confidence - 0.5)
        zeros = torch.zeros_like(k)
        logits = torch.stack([k, zeros, zeros, zeros], dim=-1)
        return logits, zeros, logits[:, None]


def _classifier() -> FormClassifier:
    return FormClassifier(ConfidenceModel(), clip_length=1)


def _pose(confidence: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pose = np.zeros((16, 3), np.float32)
    pose[:, :2] = rng.uniform(10, 90, (16, 2))
    pose[:, 2] = confidence
    return pose


def test_uncertainties_rank_weak_poses_and_disagreeing_passes_higher():
    keypoints = np.stack([_pose(0.9), _pose(0.5), _pose(0.9)])
    rotated = np.stack([_pose(0.9), np.full((16, 3), np.nan, np.float32), _pose(0.5)])
    sure, weak, doubtful = uncertainties(_classifier(), keypoints, rotated)
    assert sure.entropy < 0.01 and sure.disagreement < 0.01
    assert weak.entropy == pytest.approx(np.log(4), abs=1e-3)
    assert set(weak.top_labels) == {"as is", "mirror"}  # its other orientation found no one
    assert doubtful.entropy < 0.01 and doubtful.disagreement > 0.1
    assert doubtful.top_labels == {"as is": "straight", "180 deg": "straight",
                                   "mirror": "straight"}
    assert weak.score > doubtful.score > sure.score
    assert "entropy" in doubtful.reason() and "180 deg: straight" in doubtful.reason()


class FakeEstimator:
    """Image mode back-end: the photo's grey level picks the pose's confidence; the other
    orientation pass is as sure as the first, except for grey level 200 (a doubtful pose)."""

    name, version, stream = "fake", "1", False

    def __init__(self):
        self.calls, self.other_calls = 0, 0

    def _confidence(self, bgr) -> float:
        return {50: 0.9, 100: 0.55, 150: 0.0, 200: 0.9}[int(round(bgr.mean() / 50.0)) * 50]

    def estimate(self, bgr):
        self.calls += 1
        confidence = self._confidence(bgr)
        return PoseResult(None if confidence == 0 else _pose(confidence), 0)

    def estimate_in_orientation(self, bgr, rotation):
        self.other_calls += 1
        assert rotation == 180
        confidence = 0.5 if int(round(bgr.mean())) == 200 else self._confidence(bgr)
        return PoseResult(_pose(confidence, seed=1), rotation)

    def reset(self):
        pass

    def close(self):
        pass


def test_suggest_items_orders_the_queue_and_says_why(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, grey in (("a_sure", 50), ("b_weak", 100), ("c_nobody", 150), ("d_doubt", 200),
                       ("e_done", 50)):
        cv2.imwrite(str(folder / f"{name}.png"), np.full((60, 80, 3), grey, np.uint8))
    with LabelStore(tmp_path / "labels.db") as store:
        items = build_items(store, [folder])
        store.add_label(items[4].frame_id, "straight")
        backend = FakeEstimator()
        ordered, why = suggest_items(store, items, _classifier(), backend)
        names = [Path(item.media.path).stem for item in ordered]
        assert names == ["b_weak", "d_doubt", "a_sure", "c_nobody", "e_done"]
        assert backend.calls == 4 and backend.other_calls == 3  # no other pass without a person
        assert why[items[1].frame_id].startswith("suggested #1: uncertainty")
        assert "no person" in why[items[2].frame_id] and items[4].frame_id not in why
        # the poses are cached: a second run computes only the other orientation again
        again = FakeEstimator()
        assert suggest_items(store, items, _classifier(), again)[0] == ordered
        assert again.calls == 0
        session = LabelSession(store, ordered, why=why)
        assert session.item.frame_id == items[1].frame_id  # the most uncertain is asked first
        assert session.why[session.item.frame_id] == why[items[1].frame_id]
        session.label("banana")
        assert session.item.frame_id == items[3].frame_id


def test_cli_suggest_errors_are_one_line(tmp_path, capsys):
    from training.label import main

    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    db = str(tmp_path / "l.db")
    assert main([str(image), "--db", db, "--suggest", "--no-pose"]) == 2
    assert capsys.readouterr().err.strip() == "error: --suggest needs poses (leave out --no-pose)"
    missing = tmp_path / "nope.pt"
    assert main([str(image), "--db", db, "--suggest", "--weights", str(missing)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --suggest: ") and "nope.pt" in lines[0]

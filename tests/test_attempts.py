"""Attempts: a session cut into kick-up -> hold -> come-down, and the hold's quality."""

from __future__ import annotations

import numpy as np
import pytest

from coach.attempts import find_attempts, line_offsets
from coach.timeline import summarize
from tests.test_explain_poses import stick_handstand

FPS = 30.0


def _records(labels: str, *, lean: float = 0.0) -> list[dict]:
    """One record per character: n not a handstand, o other, s straight, b banana, . nobody.

    Straight frames hold a stick handstand whose feet are ``lean`` pixels off the hands' line.
    """
    names = {"n": "not_handstand", "o": "other_handstand", "s": "straight", "b": "banana",
             ".": "unknown"}
    straight = stick_handstand(np.random.default_rng(5), banana=False)
    banana = stick_handstand(np.random.default_rng(6), banana=True)
    records = []
    for i, char in enumerate(labels):
        pose = None
        if char in "sbo":
            pose = (banana if char == "b" else straight).copy()
            if char == "s":
                pose[[14, 15], 0] += lean
        records.append({"time": i / FPS, "smoothed_label": names[char],
                        "keypoints": None if pose is None else pose.tolist()})
    return records


def test_two_attempts_with_walk_in_kick_up_hold_and_come_down():
    labels = "n" * 15 + "o" * 6 + "s" * 45 + "o" * 6 + "n" * 30 + "o" * 9 + "b" * 30 + "n" * 6
    attempts = find_attempts(_records(labels))
    assert len(attempts) == 2
    first, second = attempts
    assert first.start == pytest.approx(15 / FPS) and first.walk_in_start == 0.0
    assert first.kick_up_seconds == pytest.approx(6 / FPS)
    assert first.longest_hold_seconds == pytest.approx(45 / FPS)
    assert first.straight_seconds == pytest.approx(45 / FPS)
    assert first.inverted_seconds == pytest.approx(57 / FPS)
    assert first.main_fault is None  # the kick-up and come-down are not faults of the hold
    assert second.walk_in_start == pytest.approx(first.end)
    assert second.longest_hold_seconds == 0.0 and second.quality is None
    assert second.banana_share == pytest.approx(30 / 39)
    assert second.main_fault is not None and second.main_fault_share > 0.5


def test_a_short_gap_stays_in_the_attempt_a_flicker_is_no_attempt():
    attempts = find_attempts(_records("n" * 10 + "s" * 20 + "." * 6 + "s" * 20 + "n" * 10 + "o"
                                      + "n" * 5))
    assert len(attempts) == 1
    assert attempts[0].longest_hold_seconds == pytest.approx(46 / FPS)


def test_hold_quality_grows_with_the_distance_off_the_line():
    stacked = find_attempts(_records("n" * 5 + "s" * 40 + "n" * 5))[0].quality
    off = find_attempts(_records("n" * 5 + "s" * 40 + "n" * 5, lean=40.0))[0].quality
    assert off.line_deviation_median_percent > stacked.line_deviation_median_percent + 3
    assert stacked.sway_percent_per_second == pytest.approx(0.0, abs=1e-6)


def test_the_part_that_broke_the_line_first():
    records = _records("n" * 5 + "s" * 40 + "ooo" + "n" * 5)
    for record in records[45:48]:
        pose = np.asarray(record["keypoints"])
        pose[[10, 11, 0], 0] += 60.0  # the hips go first
        record["keypoints"] = pose.tolist()
    assert find_attempts(records)[0].quality.broke_first == "hips"


def test_line_offsets_and_summary_lists_attempts():
    pose = stick_handstand(np.random.default_rng(5), banana=False)
    assert np.all(np.abs(line_offsets(pose)) < 5)
    assert np.isnan(line_offsets(np.full((16, 3), np.nan))).all()
    summary = summarize(_records("n" * 5 + "s" * 40 + "n" * 5), FPS)
    assert len(summary["attempts"]) == 1
    assert summary["attempts"][0]["longest_hold_seconds"] == pytest.approx(40 / FPS, abs=1e-3)
    assert summarize([], FPS)["attempts"] == []

"""EMA + hysteresis smoothing of form verdicts, in seconds, and the hold timer."""

from __future__ import annotations

import pytest

from coach.analysis import HoldTimer
from engine.form import FORM_LABELS, FormVerdict
from engine.smoothing import VerdictSmoother

FPS = 30.0


def _verdict(label: str, confidence: float = 0.8, can_judge: bool = True, reason: str = ""):
    rest = (1 - confidence) / (len(FORM_LABELS) - 1)
    probabilities = {name: confidence if name == label else rest for name in FORM_LABELS}
    return FormVerdict(probabilities, label if can_judge else "unknown", can_judge, reason)


def test_flickering_sequence_gives_stable_verdict():
    smoother = VerdictSmoother(time_constant=0.1, enter=0.6, exit=0.4, min_dwell=0.16)
    outputs = []
    for i in range(60):
        # Mostly straight with every third frame a confident banana.
        frame = _verdict("banana", 0.9) if i % 3 == 2 else _verdict("straight", 0.85)
        outputs.append(smoother.update(frame, i / FPS).label)
    settled = outputs[5:]
    assert set(settled) == {"straight"}


def test_alternating_borderline_frames_do_not_flip():
    smoother = VerdictSmoother()
    outputs = [smoother.update(_verdict("straight" if i % 2 else "banana", 0.55), i / FPS).label
               for i in range(40)]
    switches = sum(a != b for a, b in zip(outputs, outputs[1:], strict=False))
    assert switches <= 1


@pytest.mark.parametrize("time_constant", [0.06, 0.1, 0.16])
def test_clean_change_gives_exactly_one_switch_within_bound(time_constant):
    smoother = VerdictSmoother(time_constant=time_constant, min_dwell=0.16)
    labels = [smoother.update(_verdict("straight", 0.9), i / FPS).label for i in range(30)]
    assert labels[-1] == "straight"
    after = [smoother.update(_verdict("banana", 0.9), (30 + i) / FPS).label for i in range(30)]
    switches = [i for i, (a, b) in enumerate(zip([labels[-1], *after], after, strict=False))
                if a != b]
    assert len(switches) == 1
    assert switches[0] < 10
    assert after[-1] == "banana"


def _switch_time(times: list[float]) -> float:
    smoother = VerdictSmoother()
    for t in times:
        label = smoother.update(_verdict("straight" if t < 1.0 else "banana", 0.9), t).label
        if label == "banana":
            return t
    raise AssertionError("never switched")


def test_switch_time_does_not_depend_on_frame_rate():
    # The same stream (straight for 1 s, then banana) at 15, 30, 60 fps and a variable rate.
    rates = {fps: [i / fps for i in range(int(2.0 * fps))] for fps in (15.0, 30.0, 60.0)}
    variable, t = [], 0.0
    while t < 2.0:
        variable.append(t)
        t += (1 / 20, 1 / 45, 1 / 30)[len(variable) % 3]
    switches = [_switch_time(times) for times in [*rates.values(), variable]]
    # The exact moment lies within one frame of the coarsest stream (15 fps) everywhere.
    assert max(switches) - min(switches) <= 1 / 15 + 1e-9
    assert 1.0 < min(switches) < 1.25


def test_short_unjudgeable_gap_keeps_label_long_gap_reports_unknown():
    smoother = VerdictSmoother(min_dwell=0.13)
    for i in range(10):
        smoother.update(_verdict("straight", 0.9), i / FPS)
    gap = [smoother.update(_verdict("straight", 0.9, can_judge=False,
                                    reason="turn sideways to the camera"), (10 + i) / FPS)
           for i in range(6)]
    assert gap[0].label == "straight" and gap[0].can_judge
    assert gap[-1].label == "unknown" and gap[-1].reason == "turn sideways to the camera"


def test_probabilities_are_smoothed_and_sum_to_one():
    smoother = VerdictSmoother(time_constant=0.1)
    smoother.update(_verdict("straight", 1.0), 0.0)
    # After one time constant the newest frame weighs 1 - 1/e.
    out = smoother.update(_verdict("banana", 1.0), 0.1)
    assert out.probabilities["straight"] == pytest.approx(0.36788, abs=1e-4)
    assert sum(out.probabilities.values()) == pytest.approx(1.0)
    assert smoother.last is out


def test_reset_and_bad_arguments():
    smoother = VerdictSmoother()
    for i in range(10):
        smoother.update(_verdict("banana", 0.9), i / FPS)
    smoother.reset()
    assert smoother.label == "unknown" and smoother.last is None
    with pytest.raises(ValueError):
        VerdictSmoother(time_constant=0.0)
    with pytest.raises(ValueError):
        VerdictSmoother(enter=0.3, exit=0.5)
    with pytest.raises(ValueError):
        VerdictSmoother(min_dwell=-1.0)


@pytest.mark.parametrize("fps", [15.0, 30.0, 60.0])
def test_hold_timer_times_seconds_at_any_frame_rate(fps):
    timer = HoldTimer(1 / fps)
    for i in range(int(3 * fps)):
        t = i / fps
        timer.update("straight" if 1.0 <= t < 2.5 else "banana", t)
    assert timer.best == pytest.approx(1.5, abs=1 / fps + 1e-9)
    assert timer.best_start == pytest.approx(1.0, abs=1 / fps + 1e-9)


def test_hold_timer_bridges_short_unknown_gaps_only():
    timer = HoldTimer(1 / FPS, bridge_seconds=0.3)
    labels = ["straight"] * 30 + ["unknown"] * 6 + ["straight"] * 30  # a 0.2 s gap
    for i, label in enumerate(labels):
        timer.update(label, i / FPS)
    assert timer.best == pytest.approx(len(labels) / FPS)
    timer = HoldTimer(1 / FPS, bridge_seconds=0.3)
    labels = ["straight"] * 30 + ["unknown"] * 12 + ["straight"] * 20  # a 0.4 s gap
    for i, label in enumerate(labels):
        timer.update(label, i / FPS)
    assert timer.best == pytest.approx(1.0)
    timer = HoldTimer(1 / FPS)
    for i, label in enumerate(["straight"] * 30 + ["banana"] + ["straight"] * 10):
        timer.update(label, i / FPS)
    assert timer.best == pytest.approx(1.0)  # a real fault ends the hold at once

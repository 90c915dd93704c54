"""EMA + hysteresis smoothing of form verdicts."""

from __future__ import annotations

import pytest

from engine.form import FORM_LABELS, FormVerdict
from engine.smoothing import VerdictSmoother


def _verdict(label: str, confidence: float = 0.8, can_judge: bool = True, reason: str = ""):
    rest = (1 - confidence) / (len(FORM_LABELS) - 1)
    probabilities = {name: confidence if name == label else rest for name in FORM_LABELS}
    return FormVerdict(probabilities, label if can_judge else "unknown", can_judge, reason)


def test_flickering_sequence_gives_stable_verdict():
    smoother = VerdictSmoother(alpha=0.3, enter=0.6, exit=0.4, min_dwell=5)
    outputs = []
    for i in range(60):
        # Mostly straight with every third frame a confident banana.
        frame = _verdict("banana", 0.9) if i % 3 == 2 else _verdict("straight", 0.85)
        outputs.append(smoother.update(frame).label)
    settled = outputs[5:]
    assert set(settled) == {"straight"}


def test_alternating_borderline_frames_do_not_flip():
    smoother = VerdictSmoother()
    outputs = [smoother.update(_verdict("straight" if i % 2 else "banana", 0.55)).label
               for i in range(40)]
    switches = sum(a != b for a, b in zip(outputs, outputs[1:], strict=False))
    assert switches <= 1


@pytest.mark.parametrize("alpha", [0.2, 0.3, 0.5])
def test_clean_change_gives_exactly_one_switch_within_bound(alpha):
    smoother = VerdictSmoother(alpha=alpha, min_dwell=5)
    labels = [smoother.update(_verdict("straight", 0.9)).label for _ in range(30)]
    assert labels[-1] == "straight"
    after = [smoother.update(_verdict("banana", 0.9)).label for _ in range(30)]
    switches = [i for i, (a, b) in enumerate(zip([labels[-1], *after], after, strict=False))
                if a != b]
    assert len(switches) == 1
    assert switches[0] < 10
    assert after[-1] == "banana"


def test_short_unjudgeable_gap_keeps_label_long_gap_reports_unknown():
    smoother = VerdictSmoother(min_dwell=4)
    for _ in range(10):
        smoother.update(_verdict("straight", 0.9))
    gap = [smoother.update(_verdict("straight", 0.9, can_judge=False,
                                    reason="turn sideways to the camera")) for _ in range(6)]
    assert gap[0].label == "straight" and gap[0].can_judge
    assert gap[-1].label == "unknown" and gap[-1].reason == "turn sideways to the camera"


def test_probabilities_are_smoothed_and_sum_to_one():
    smoother = VerdictSmoother(alpha=0.5)
    smoother.update(_verdict("straight", 1.0))
    out = smoother.update(_verdict("banana", 1.0))
    assert out.probabilities["straight"] == pytest.approx(0.5)
    assert sum(out.probabilities.values()) == pytest.approx(1.0)


def test_reset_and_bad_arguments():
    smoother = VerdictSmoother()
    for _ in range(10):
        smoother.update(_verdict("banana", 0.9))
    smoother.reset()
    assert smoother.label == "unknown"
    with pytest.raises(ValueError):
        VerdictSmoother(alpha=0.0)
    with pytest.raises(ValueError):
        VerdictSmoother(enter=0.3, exit=0.5)

"""What the form model says about a clip: the classes and the verdict record.

Kept free of torch so that the app's presenters, the smoother and the label store can use
them without loading the model's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FORM_LABELS: tuple[str, ...] = ("straight", "banana", "other_handstand", "not_handstand")
UNKNOWN_LABEL = "unknown"
# Verdicts on a line (the body held as one line, straight or arched) and verdicts that name a
# fault an athlete can be told about.
LINE_LABELS = frozenset({"straight", "banana"})
FAULT_LABELS = frozenset({"banana", "other_handstand"})


@dataclass(frozen=True)
class FormVerdict:
    """The form model's answer for one clip.

    Attributes:
        probabilities: class name -> calibrated probability over ``FORM_LABELS``.
        label: the most probable class, or ``"unknown"`` when the clip cannot be judged.
        can_judge: False when the view or the keypoints cannot show the form.
        reason: why it cannot judge (empty when it can).
    """

    probabilities: dict[str, float] = field(default_factory=dict)
    label: str = UNKNOWN_LABEL
    can_judge: bool = False
    reason: str = ""

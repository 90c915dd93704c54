"""What the form model says about a clip: the classes, their groups, their colours, the verdict.

The one label vocabulary of the project: the form classes and their indices, the groups the
app reasons with (handstand, line, fault), and the colours every view draws a label in (the
live overlay, the timeline plot, the labeler). Kept free of torch so that the app's presenters,
the smoother and the label store can use them without loading the model's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRAIGHT_LABEL = "straight"
BANANA_LABEL = "banana"
OTHER_HANDSTAND_LABEL = "other_handstand"
NOT_HANDSTAND_LABEL = "not_handstand"
# The model's classes, in its output order.
FORM_LABELS: tuple[str, ...] = (
    STRAIGHT_LABEL, BANANA_LABEL, OTHER_HANDSTAND_LABEL, NOT_HANDSTAND_LABEL
)
STRAIGHT_INDEX = FORM_LABELS.index(STRAIGHT_LABEL)
BANANA_INDEX = FORM_LABELS.index(BANANA_LABEL)
OTHER_HANDSTAND_INDEX = FORM_LABELS.index(OTHER_HANDSTAND_LABEL)
NOT_HANDSTAND_INDEX = FORM_LABELS.index(NOT_HANDSTAND_LABEL)
# No verdict (the clip cannot be judged), and a labeler's "cannot tell" (never trained on).
UNKNOWN_LABEL = "unknown"
UNSURE_LABEL = "unsure"

# Verdicts of an athlete upside down; the hold timer counts ``STRAIGHT_LABEL`` only.
HANDSTAND_LABELS = frozenset({STRAIGHT_LABEL, BANANA_LABEL, OTHER_HANDSTAND_LABEL})
# Verdicts on a line (the body held as one line, straight or arched): the hold phase of an
# attempt, where a worst moment is looked for.
LINE_LABELS = frozenset({STRAIGHT_LABEL, BANANA_LABEL})
# Verdicts that name a fault an athlete can be told about.
FAULT_LABELS = frozenset({BANANA_LABEL, OTHER_HANDSTAND_LABEL})

# RGB colour of each label wherever one is drawn (light text reads on all of them).
LABEL_COLORS: dict[str, tuple[int, int, int]] = {
    STRAIGHT_LABEL: (60, 160, 70),
    BANANA_LABEL: (215, 60, 40),
    OTHER_HANDSTAND_LABEL: (225, 150, 0),
    NOT_HANDSTAND_LABEL: (70, 95, 120),
    UNKNOWN_LABEL: (105, 105, 105),
    UNSURE_LABEL: (130, 130, 130),
}


def label_color_bgr(label: str) -> tuple[int, int, int]:
    """``LABEL_COLORS[label]`` in OpenCV's BGR order (``"unknown"``'s for any other label)."""
    red, green, blue = LABEL_COLORS.get(label, LABEL_COLORS[UNKNOWN_LABEL])
    return blue, green, red


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

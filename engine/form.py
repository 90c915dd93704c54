"""Form verdicts from the learned handstand form model.

Interface used by the app; the model itself is in ``engine/models/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

FORM_LABELS: tuple[str, ...] = ("straight", "banana", "other_handstand", "not_handstand")
UNKNOWN_LABEL = "unknown"
DEFAULT_FORM_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "form_handstand.pt"


class FormModelError(RuntimeError):
    """The form model cannot be loaded or run; the message is one line for the user."""


class FormModelNotInstalled(FormModelError):
    """No trained form model exists at the expected path."""


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


def load_form_model(path: Path | str = DEFAULT_FORM_WEIGHTS):
    """Loads the form model from ``path``.

    Raises:
        FormModelNotInstalled: no weights file at ``path``.
        FormModelError: the file is corrupt or does not match its model card.
    """
    path = Path(path)
    if not path.exists():
        raise FormModelNotInstalled(f"no form model installed (expected {path})")
    raise FormModelError(f"form model loading is not implemented yet ({path})")

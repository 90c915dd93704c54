"""Temporal smoothing of form verdicts: EMA over probabilities plus hysteresis.

Per-frame verdicts flicker on borderline poses and noisy keypoints. ``VerdictSmoother`` keeps
an exponential moving average of the class probabilities and changes its label only when a
new class is clearly ahead (its smoothed probability reaches ``enter`` while the held class
has fallen to ``exit`` or below) and the held label has lasted ``min_dwell`` frames.
Short "cannot judge" gaps keep the held label; ``min_dwell`` such frames in a row report
"unknown" with the latest reason.
"""

from __future__ import annotations

import numpy as np

from engine.verdict import FORM_LABELS, UNKNOWN_LABEL, FormVerdict


class VerdictSmoother:
    """Stateful smoother for a stream of ``FormVerdict`` (one per frame).

    Args:
        alpha: EMA weight of the newest probabilities, in (0, 1].
        enter: smoothed probability a class needs to become the label.
        exit: the held label is given up only when its smoothed probability is at most this.
        min_dwell: frames a label is held at least before it may change, and frames of
            "cannot judge" in a row before the output turns "unknown".
        labels: class order of the probability vectors.
    """

    def __init__(
        self,
        alpha: float = 0.3,
        enter: float = 0.6,
        exit: float = 0.4,  # noqa: A002 - the contract's name
        *,
        min_dwell: int = 5,
        labels: tuple[str, ...] = FORM_LABELS,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if not 0 <= exit <= enter <= 1:
            raise ValueError(f"need 0 <= exit <= enter <= 1, got exit={exit}, enter={enter}")
        self.alpha = alpha
        self.enter = enter
        self.exit = exit
        self.min_dwell = max(int(min_dwell), 0)
        self.labels = labels
        self.reset()

    def reset(self) -> None:
        """Forgets the history (call between unrelated clips)."""
        self._smoothed: np.ndarray | None = None
        self._label: str = UNKNOWN_LABEL
        self._held_frames = 0
        self._unjudged_frames = 0

    @property
    def label(self) -> str:
        """The label currently held ("unknown" before any class qualified)."""
        return self._label

    def update(self, verdict: FormVerdict) -> FormVerdict:
        """Feeds one frame's verdict and returns the smoothed verdict.

        Args:
            verdict: the per-frame verdict; its probabilities must name every class.

        Returns:
            A verdict with smoothed probabilities and the held label.
        """
        if not verdict.probabilities:
            return self._unjudged(verdict.reason or "no verdict")
        current = np.array([verdict.probabilities.get(name, 0.0) for name in self.labels])
        if self._smoothed is None:
            self._smoothed = current
        else:
            self._smoothed = self.alpha * current + (1 - self.alpha) * self._smoothed
        smoothed = {name: float(p) for name, p in zip(self.labels, self._smoothed, strict=True)}
        if not verdict.can_judge:
            return self._unjudged(verdict.reason, smoothed)
        self._unjudged_frames = 0
        self._held_frames += 1
        best = int(np.argmax(self._smoothed))
        best_label = self.labels[best]
        if best_label != self._label and self._smoothed[best] >= self.enter:
            held = (
                self._smoothed[self.labels.index(self._label)]
                if self._label in self.labels
                else 0.0
            )
            dwelt = self._label == UNKNOWN_LABEL or self._held_frames >= self.min_dwell
            if held <= self.exit and dwelt:
                self._label = best_label
                self._held_frames = 0
        if self._label == UNKNOWN_LABEL:
            return FormVerdict(smoothed, UNKNOWN_LABEL, False, "not sure yet")
        return FormVerdict(smoothed, self._label, True, "")

    def _unjudged(self, reason: str, smoothed: dict[str, float] | None = None) -> FormVerdict:
        self._unjudged_frames += 1
        probabilities = smoothed if smoothed is not None else {}
        if self._label != UNKNOWN_LABEL and self._unjudged_frames < max(self.min_dwell, 1):
            return FormVerdict(probabilities, self._label, True, "")
        self._label = UNKNOWN_LABEL
        self._held_frames = 0
        return FormVerdict(probabilities, UNKNOWN_LABEL, False, reason)

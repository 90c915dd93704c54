"""Temporal smoothing of form verdicts in stream time: EMA over probabilities plus hysteresis.

Per-frame verdicts flicker on borderline poses and noisy keypoints. ``VerdictSmoother`` keeps
an exponential moving average of the class probabilities and changes its label only when a
new class is clearly ahead (its smoothed probability reaches ``enter`` while the held class
has fallen to ``exit`` or below) and the held label has lasted ``min_dwell`` seconds.
"Cannot judge" stretches shorter than ``min_dwell`` keep the held label; longer ones report
"unknown" with the latest reason.

Every constant is in seconds and the EMA weight comes from the time between frames
(``1 - exp(-dt / time_constant)``), so the same motion gives the same labels at 15, 30 or
60 fps and on cameras with a variable frame rate.
"""

from __future__ import annotations

import math

import numpy as np

from engine.verdict import FORM_LABELS, UNKNOWN_LABEL, FormVerdict

# The duration the first frame of a stream stands for, before any interval has been seen.
_FIRST_FRAME_SECONDS = 1.0 / 30.0


class VerdictSmoother:
    """Stateful smoother for a stream of ``FormVerdict`` (one per frame, with its time).

    Args:
        time_constant: EMA time constant in seconds (> 0); 0.1 s weighs the newest frame of a
            30 fps stream by 0.28.
        enter: smoothed probability a class needs to become the label.
        exit: the held label is given up only when its smoothed probability is at most this.
        min_dwell: seconds a label is held at least before it may change, and seconds of
            "cannot judge" in a row before the output turns "unknown".
        labels: class order of the probability vectors.
    """

    def __init__(
        self,
        time_constant: float = 0.1,
        enter: float = 0.6,
        exit: float = 0.4,  # noqa: A002 - the contract's name
        *,
        min_dwell: float = 0.16,
        labels: tuple[str, ...] = FORM_LABELS,
    ) -> None:
        if not time_constant > 0:
            raise ValueError(f"time constant must be positive, got {time_constant}")
        if not 0 <= exit <= enter <= 1:
            raise ValueError(f"need 0 <= exit <= enter <= 1, got exit={exit}, enter={enter}")
        if not min_dwell >= 0:
            raise ValueError(f"min_dwell must be >= 0 seconds, got {min_dwell}")
        self.time_constant = float(time_constant)
        self.enter = enter
        self.exit = exit
        self.min_dwell = float(min_dwell)
        self.labels = labels
        self.reset()

    def reset(self) -> None:
        """Forgets the history (call between unrelated clips)."""
        self._smoothed: np.ndarray | None = None
        self._label: str = UNKNOWN_LABEL
        self._label_since = -math.inf
        self._unjudged_since: float | None = None
        self._last_time: float | None = None
        self._frame_seconds = _FIRST_FRAME_SECONDS
        self._last_output: FormVerdict | None = None

    @property
    def label(self) -> str:
        """The label currently held ("unknown" before any class qualified)."""
        return self._label

    @property
    def last(self) -> FormVerdict | None:
        """The most recent smoothed verdict (None before the first frame)."""
        return self._last_output

    def update(self, verdict: FormVerdict, timestamp: float) -> FormVerdict:
        """Feeds one frame's verdict and returns the smoothed verdict.

        Args:
            verdict: the per-frame verdict; its probabilities must name every class.
            timestamp: the frame's time in seconds (non-decreasing within a stream).

        Returns:
            A verdict with smoothed probabilities and the held label.
        """
        timestamp = float(timestamp)
        elapsed = None if self._last_time is None else max(timestamp - self._last_time, 0.0)
        if elapsed:
            self._frame_seconds = elapsed
        self._last_time = timestamp
        if not verdict.probabilities:
            return self._remember(self._unjudged(verdict.reason or "no verdict", timestamp))
        current = np.array([verdict.probabilities.get(name, 0.0) for name in self.labels])
        if self._smoothed is None or elapsed is None:
            self._smoothed = current
        else:
            weight = 1.0 - math.exp(-elapsed / self.time_constant)
            self._smoothed = weight * current + (1.0 - weight) * self._smoothed
        smoothed = {name: float(p) for name, p in zip(self.labels, self._smoothed, strict=True)}
        if not verdict.can_judge:
            return self._remember(self._unjudged(verdict.reason, timestamp, smoothed))
        self._unjudged_since = None
        best = int(np.argmax(self._smoothed))
        best_label = self.labels[best]
        if best_label != self._label and self._smoothed[best] >= self.enter:
            held = (
                self._smoothed[self.labels.index(self._label)]
                if self._label in self.labels
                else 0.0
            )
            # A small slack so a dwell of N frames passes on the N-th frame despite rounding.
            dwelt = (
                self._label == UNKNOWN_LABEL
                or timestamp - self._label_since >= self.min_dwell - 1e-6
            )
            if held <= self.exit and dwelt:
                self._label = best_label
                self._label_since = timestamp
        if self._label == UNKNOWN_LABEL:
            return self._remember(FormVerdict(smoothed, UNKNOWN_LABEL, False, "not sure yet"))
        return self._remember(FormVerdict(smoothed, self._label, True, ""))

    def _remember(self, verdict: FormVerdict) -> FormVerdict:
        self._last_output = verdict
        return verdict

    def _unjudged(
        self, reason: str, timestamp: float, smoothed: dict[str, float] | None = None
    ) -> FormVerdict:
        if self._unjudged_since is None:
            self._unjudged_since = timestamp
        probabilities = smoothed if smoothed is not None else {}
        lasted = timestamp - self._unjudged_since + self._frame_seconds
        if self._label != UNKNOWN_LABEL and lasted < max(self.min_dwell, 1e-6) - 1e-6:
            return FormVerdict(probabilities, self._label, True, "")
        self._label = UNKNOWN_LABEL
        self._label_since = timestamp
        return FormVerdict(probabilities, UNKNOWN_LABEL, False, reason)

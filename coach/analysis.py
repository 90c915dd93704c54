"""Per-frame analysis: pose -> clip buffer -> learned form model -> smoothed verdict -> hold timer.

One :class:`FrameAnalyzer` serves every front-end (live loop, video files, photos, benchmark), so
what the athlete sees, what is recorded and what is measured come from the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from engine.clip import ClipBuffer
from engine.glitches import PoseGlitchFilter
from engine.pose.base import PoseBackend
from engine.verdict import (
    FORM_LABELS,
    HANDSTAND_LABELS,
    STRAIGHT_LABEL,
    UNKNOWN_LABEL,
    FormVerdict,
)

NO_MODEL_TEXT = "no form model installed"
NO_PERSON_TEXT = "no person in view"
# Without a form model only the pose back-end's orientation hints at an inversion.
_INVERTED_ROTATION = 180
# Longest gap without a verdict (a lost or unjudgeable pose) a straight hold carries on through.
HOLD_BRIDGE_SECONDS = 0.3


@dataclass
class FrameAnalysis:
    """Everything the presenters need about one frame.

    Attributes:
        index: frame index in the source.
        timestamp: seconds since the source started.
        image_size: (w, h) of the analyzed frame.
        keypoints: (16, 3) pixel keypoints, or None when no person was found; after
            :meth:`FrameAnalyzer.judge`, the pose the form model judged (glitches repaired).
        rotation: orientation (0 or 180) the person was found in.
        raw: the form model's verdict on the current clip, None without a model.
        verdict: the smoothed verdict shown to the athlete, None without a model.
        status: one line for the banner when there is no verdict to show.
        hold_seconds: length of the current straight hold, 0 outside one.
        best_hold_seconds: longest straight hold of the session so far.
        ghost: (16, 3) ideal-pose keypoints fitted over the athlete, or None.
        timings: stage name -> milliseconds spent on this frame.
        pose_issue: what the glitch filter found wrong with the estimated pose ("" if nothing).
        pose_held: the frame's pose was implausible as a whole; the verdict was kept.
        estimated_keypoints: the pose back-end's keypoints when the glitch filter changed
            them (else None: ``keypoints`` are the estimate).
    """

    index: int
    timestamp: float
    image_size: tuple[int, int]
    keypoints: np.ndarray | None
    rotation: int = 0
    raw: FormVerdict | None = None
    verdict: FormVerdict | None = None
    status: str = ""
    hold_seconds: float = 0.0
    best_hold_seconds: float = 0.0
    ghost: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    pose_issue: str = ""
    pose_held: bool = False
    estimated_keypoints: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The smoothed label, ``"unknown"`` without a verdict."""
        return self.verdict.label if self.verdict is not None else UNKNOWN_LABEL

    @property
    def in_handstand(self) -> bool:
        """Whether the athlete appears inverted (verdict, or orientation without a model)."""
        if self.keypoints is None:
            return False
        if self.verdict is not None and self.verdict.can_judge:
            return self.verdict.label in HANDSTAND_LABELS
        return self.rotation == _INVERTED_ROTATION


class HoldTimer:
    """Counts seconds spent in a straight line (smoothed label ``straight``).

    The live window and the session summary both time holds with it, so they agree. Each
    frame stands for the time until the next one (the last interval seen), so holds come out
    the same at any frame rate. A hold survives a stretch of ``unknown`` frames (no person,
    a pose that cannot be judged) up to ``bridge_seconds`` long; any other label ends it.

    Args:
        frame_interval: duration the first frame stands for, before any interval was seen.
        bridge_seconds: longest "unknown" gap a hold carries on through.
    """

    def __init__(self, frame_interval: float, bridge_seconds: float = HOLD_BRIDGE_SECONDS) -> None:
        self.frame_interval = float(frame_interval)
        self.bridge_seconds = float(bridge_seconds)
        self._start: float | None = None
        self._last_end: float | None = None
        self._previous_time: float | None = None
        self._frame_seconds = self.frame_interval
        self.current = 0.0
        self.best = 0.0
        self.best_start: float | None = None
        self.best_end: float | None = None

    def update(self, label: str, timestamp: float) -> float:
        """Advances the timer with one frame's label; returns the current hold in seconds."""
        timestamp = float(timestamp)
        if self._previous_time is not None and timestamp > self._previous_time:
            self._frame_seconds = timestamp - self._previous_time
        self._previous_time = timestamp
        if label == STRAIGHT_LABEL:
            if self._start is None:
                self._start = timestamp
            self._last_end = timestamp + self._frame_seconds
            self.current = self._last_end - self._start
            if self.current > self.best:
                self.best = self.current
                self.best_start, self.best_end = self._start, self._last_end
        elif not (
            label == UNKNOWN_LABEL
            and self._last_end is not None
            and timestamp + self._frame_seconds - self._last_end <= self.bridge_seconds + 1e-6
        ):
            self.reset()
        return self.current

    def reset(self) -> None:
        """Ends the current hold (a pause or a new stream)."""
        self._start = None
        self._last_end = None
        self.current = 0.0


class FrameAnalyzer:
    """Turns frames into :class:`FrameAnalysis` objects.

    Args:
        pose: the pose back-end.
        classifier: the learned form model (``engine.form.FormClassifier``) or None when none
            is installed; then every frame says ``status`` instead of a verdict.
        smoother: ``engine.smoothing.VerdictSmoother``-like object with ``update(verdict)``;
            None shows the model's raw verdicts.
        ideal: ``engine.ideal.IdealPose``-like object with ``align(keypoints)``, or None.
        fps: frame rate of the stream (the duration of its first frame for the hold timer).
        no_model_status: banner text when ``classifier`` is None.
        glitches: the stream's pose-glitch filter (``engine.glitches.PoseGlitchFilter``), or
            None to judge every estimated pose as it comes (photos: no history to check).
    """

    def __init__(
        self,
        pose: PoseBackend,
        classifier=None,
        smoother=None,
        ideal=None,
        *,
        fps: float = 30.0,
        no_model_status: str = NO_MODEL_TEXT,
        glitches: PoseGlitchFilter | None = None,
    ) -> None:
        self.pose = pose
        self.classifier = classifier
        self.smoother = smoother
        self.ideal = ideal
        self.no_model_status = no_model_status
        self.glitches = glitches
        clip_length = int(getattr(classifier, "clip_length", 1) or 1)
        frame_rate = getattr(classifier, "frame_rate", None) if smoother is not None else None
        # Streams sample the clip at the model's frame rate; photos repeat one pose anyway.
        self.clip = ClipBuffer(clip_length, frame_rate)
        self.hold = HoldTimer(1.0 / max(fps, 1e-3))

    def analyze(self, bgr: np.ndarray, index: int, timestamp: float) -> FrameAnalysis:
        """Analyzes one frame of the stream: :meth:`estimate` then :meth:`judge`."""
        return self.judge(self.estimate(bgr, index, timestamp))

    def estimate(self, bgr: np.ndarray, index: int, timestamp: float) -> FrameAnalysis:
        """The pose stage: finds the athlete in one frame.

        The live loop runs this stage and :meth:`judge` in different threads so that pose
        estimation of frame n+1 overlaps the form model on frame n.
        """
        height, width = bgr.shape[:2]
        start = time.perf_counter()
        result = self.pose.estimate(bgr)
        return FrameAnalysis(
            index=index,
            timestamp=timestamp,
            image_size=(width, height),
            keypoints=result.keypoints,
            rotation=result.rotation,
            timings={"pose": (time.perf_counter() - start) * 1000.0},
        )

    def judge(self, analysis: FrameAnalysis) -> FrameAnalysis:
        """The form stage: clip buffer, form model, smoothing, hold timer and ideal pose.

        Must see the frames of a stream in order (the clip buffer keeps their history).
        """
        start = time.perf_counter()
        if self.glitches is not None:
            checked = self.glitches.update(analysis.keypoints, analysis.timestamp)
            if checked.issue:
                analysis.estimated_keypoints = analysis.keypoints
                analysis.keypoints = checked.keypoints
                analysis.pose_issue = checked.issue
                analysis.pose_held = checked.held
        keypoints = analysis.keypoints
        self.clip.push(keypoints, analysis.timestamp)
        if self.classifier is None:
            analysis.status = self.no_model_status
            if keypoints is None:
                analysis.status = f"{NO_PERSON_TEXT} - {self.no_model_status}"
        else:
            analysis.raw = self.classifier.predict(self.clip.as_array())
            verdict = analysis.raw
            if self.smoother is not None:
                held = self.smoother.last if analysis.pose_held else None
                # An implausible frame keeps the verdict shown: it tells nothing new.
                verdict = held or self.smoother.update(verdict, analysis.timestamp)
            analysis.verdict = verdict
            if keypoints is None:
                analysis.status = NO_PERSON_TEXT
        analysis.hold_seconds = self.hold.update(analysis.label, analysis.timestamp)
        analysis.best_hold_seconds = self.hold.best
        if self.ideal is not None and analysis.in_handstand:
            try:
                analysis.ghost = self.ideal.align(keypoints)
            except (ValueError, np.linalg.LinAlgError):
                analysis.ghost = None  # a degenerate pose has no fit; draw no ghost
        analysis.timings["form"] = (time.perf_counter() - start) * 1000.0
        return analysis

    def reset(self, pose: bool = True) -> None:
        """Forgets the stream's history (between unrelated inputs).

        Args:
            pose: also reset the pose back-end's tracking (not needed in image mode).
        """
        if pose:
            self.pose.reset()
        self.clip.clear()
        self.hold.reset()
        if self.glitches is not None:
            self.glitches.reset()
        reset_smoother = getattr(self.smoother, "reset", None)
        if reset_smoother is not None:
            reset_smoother()

    def close(self) -> None:
        """Releases the pose back-end."""
        self.pose.close()


def verdict_probabilities(verdict: FormVerdict | None) -> dict[str, float] | None:
    """The verdict's class probabilities in ``FORM_LABELS`` order, as plain floats."""
    if verdict is None:
        return None
    return {label: float(verdict.probabilities.get(label, 0.0)) for label in FORM_LABELS}

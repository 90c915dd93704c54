"""A session cut into attempts (walk-in -> kick-up -> hold -> come-down), with hold quality.

An attempt is a stretch of frames whose smoothed label is a handstand (straight, banana or
other handstand), bridging gaps of up to ``MAX_GAP_SECONDS`` (a lost pose, a one-off "not a
handstand"). For each attempt: when it started and ended, how long the athlete was inverted and
in a straight line, its longest straight hold (timed by the live window's ``HoldTimer``), the
share of banana and other-handstand time, the main fault, and the quality of the longest hold.

The verdicts come from the form model (the smoothed labels); the geometry here only measures
and words what the pose shows: how far the shoulders, hips and feet sit off the vertical
through the hands (the ideal line the window draws), in % of body height.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from coach.analysis import HoldTimer
from engine.explain import cues_from_deviations
from engine.ideal import body_height
from engine.skeleton import (
    HEAD_TOP,
    L_ANKLE,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    PELVIS,
    R_ANKLE,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
    UPPER_NECK,
)
from engine.verdict import (
    BANANA_LABEL,
    FAULT_LABELS,
    HANDSTAND_LABELS,
    LINE_LABELS,
    OTHER_HANDSTAND_LABEL,
    STRAIGHT_LABEL,
)

# Gaps in a handstand this short (seconds) belong to the same attempt.
MAX_GAP_SECONDS = 0.5
# Shorter inverted stretches are flickers, not attempts.
MIN_ATTEMPT_SECONDS = 0.3
# A part has left the line when it is this much (% of height) further off than during the hold.
BREAK_PERCENT = 3.0
# The parts whose offset from the vertical through the hands measures the line.
LINE_PARTS: dict[str, tuple[int, ...]] = {
    "shoulders": (R_SHOULDER, L_SHOULDER),
    "hips": (R_HIP, L_HIP),
    "feet": (R_ANKLE, L_ANKLE),
}
_STACKED_JOINTS = (THORAX, UPPER_NECK, HEAD_TOP, R_SHOULDER, L_SHOULDER, PELVIS, R_HIP, L_HIP,
                   R_KNEE, L_KNEE, R_ANKLE, L_ANKLE)
_SMOOTHING_FRAMES = 5


@dataclass(frozen=True)
class HoldQuality:
    """How well the longest straight hold of an attempt was held.

    Attributes:
        line_deviation_median_percent: median over the hold of the largest offset of
            shoulders, hips or feet from the vertical through the hands (% of body height).
        line_deviation_worst_percent: the same, worst frame.
        sway_percent_per_second: how fast hips and feet drift over the hands (mean speed of
            their offset, lightly smoothed; % of body height per second).
        broke_first: the part that left the line first when the hold ended (None when the
            hold lasted to the end of the clip or no part left the line).
    """

    line_deviation_median_percent: float | None
    line_deviation_worst_percent: float | None
    sway_percent_per_second: float | None
    broke_first: str | None


@dataclass(frozen=True)
class Attempt:
    """One attempt of a session (times in seconds of the stream).

    Attributes:
        start: first inverted frame; end: the end of the last inverted frame.
        walk_in_start: where the walk-in began (the previous attempt's end, or the stream's
            start).
        kick_up_seconds: from ``start`` to the first frame on a line, straight or banana
            (None: never on a line).
        inverted_seconds, straight_seconds: time inverted, and in a straight line.
        longest_hold_seconds, hold_start, hold_end: the longest straight hold.
        banana_share, other_share: share of the inverted time labeled banana / other.
        main_fault: the cue that applied to most faulty frames (banana / other) of the hold
            phase (first to last frame on a line), worded for its median frame; None when no
            frame there was faulty.
        main_fault_share: share of the faulty frames where it was the main cue.
        quality: the longest hold's quality (None without a hold).
    """

    start: float
    end: float
    walk_in_start: float
    kick_up_seconds: float | None
    inverted_seconds: float
    straight_seconds: float
    longest_hold_seconds: float
    hold_start: float | None
    hold_end: float | None
    banana_share: float
    other_share: float
    main_fault: str | None
    main_fault_share: float
    quality: HoldQuality | None

    def as_dict(self) -> dict:
        """The attempt as JSON-ready values (rounded)."""
        return _rounded(asdict(self))


def _rounded(value):
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float):
        return round(value, 3)
    return value


def line_offsets(keypoints: np.ndarray) -> np.ndarray:
    """Signed offsets of shoulders, hips and feet from the vertical through the hands.

    Args:
        keypoints: (16, 3) pixel keypoints.

    Returns:
        (3,) float offsets along image x in % of body height (``LINE_PARTS`` order); NaN where
        the hands or the part are missing.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    height = float(body_height(points))
    hands = np.nanmean(points[[R_WRIST, L_WRIST], 0])
    if not (np.isfinite(height) and height > 0 and np.isfinite(hands)):
        return np.full(len(LINE_PARTS), np.nan)
    return np.array([100.0 * (np.nanmean(points[list(joints), 0]) - hands) / height
                     for joints in LINE_PARTS.values()])


def stacked(keypoints: np.ndarray) -> np.ndarray:
    """The pose with its trunk, head and legs moved onto the vertical through the hands."""
    pose = np.array(keypoints, dtype=np.float64, copy=True)
    pose[list(_STACKED_JOINTS), 0] = np.nanmean(pose[[R_WRIST, L_WRIST], 0])
    return pose


def _durations(times: np.ndarray) -> np.ndarray:
    if len(times) < 2:
        return np.full(len(times), 1.0 / 30.0)
    steps = np.diff(times)
    return np.append(steps, np.median(steps))


def _runs(inverted: np.ndarray, times: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] frame index pairs of inverted stretches, short gaps bridged."""
    runs: list[list[int]] = []
    for index in np.flatnonzero(inverted):
        if runs and times[index] - times[runs[-1][1]] <= MAX_GAP_SECONDS + 1e-9:
            runs[-1][1] = int(index)
        else:
            runs.append([int(index), int(index)])
    return [(first, last) for first, last in runs]


def find_attempts(records: list[dict]) -> list[Attempt]:
    """Cuts timeline records (``coach.timeline.frame_record``) into attempts.

    Args:
        records: per frame dicts with ``time``, ``smoothed_label`` and ``keypoints``.

    Returns:
        The attempts in time order.
    """
    if not records:
        return []
    times = np.array([float(r["time"]) for r in records])
    labels = [r["smoothed_label"] for r in records]
    durations = _durations(times)
    inverted = np.array([label in HANDSTAND_LABELS for label in labels])
    attempts = []
    walk_in_start = float(times[0])
    with warnings.catch_warnings():
        # Unseen joints are NaN: an all-NaN part simply has no offset.
        warnings.simplefilter("ignore", RuntimeWarning)
        for first, last in _runs(inverted, times):
            end = float(times[last] + durations[last])
            if end - times[first] < MIN_ATTEMPT_SECONDS - 1e-9:
                continue
            attempts.append(
                _attempt(records, times, durations, labels, first, last, walk_in_start)
            )
            walk_in_start = end
    return attempts


def _attempt(records, times, durations, labels, first, last, walk_in_start) -> Attempt:
    frames = range(first, last + 1)
    inverted_time = sum(durations[i] for i in frames if labels[i] in HANDSTAND_LABELS)
    straight = [i for i in frames if labels[i] == STRAIGHT_LABEL]
    # The hold phase runs from the first to the last frame on a line (straight or banana); the
    # kick-up before it and the come-down after it are the way in and out, not faults.
    line = [i for i in frames if labels[i] in LINE_LABELS]
    timer = HoldTimer(float(durations[first]))
    for i in frames:
        timer.update(labels[i], float(times[i]))
    share = {label: sum(durations[i] for i in frames if labels[i] == label) / inverted_time
             for label in FAULT_LABELS} if inverted_time > 0 else {}
    held = range(line[0], line[-1] + 1) if line else range(0)
    fault, fault_share = _main_fault(records, [i for i in held if labels[i] in FAULT_LABELS])
    quality = None
    if timer.best_start is not None:
        quality = _quality(records, times, first, last, timer.best_start, timer.best_end)
    return Attempt(
        start=float(times[first]),
        end=float(times[last] + durations[last]),
        walk_in_start=walk_in_start,
        kick_up_seconds=float(times[line[0]] - times[first]) if line else None,
        inverted_seconds=float(inverted_time),
        straight_seconds=float(sum(durations[i] for i in straight)),
        longest_hold_seconds=float(timer.best),
        hold_start=timer.best_start,
        hold_end=timer.best_end,
        banana_share=float(share.get(BANANA_LABEL, 0.0)),
        other_share=float(share.get(OTHER_HANDSTAND_LABEL, 0.0)),
        main_fault=fault,
        main_fault_share=fault_share,
        quality=quality,
    )


def _main_fault(records: list[dict], faulty: list[int]) -> tuple[str | None, float]:
    """The part named first by the cues on most faulty frames, worded for its median frame."""
    cues: list[tuple[str, float, str]] = []
    for index in faulty:
        keypoints = records[index]["keypoints"]
        if keypoints is None:
            continue
        pose = np.asarray(keypoints, dtype=np.float64)
        height = float(body_height(pose))
        if not (np.isfinite(pose).all() and height > 0):
            continue
        worded = cues_from_deviations(pose, stacked(pose), height, max_cues=1)
        if worded:
            deviation = float(np.nanmax(np.abs(line_offsets(pose))))
            cues.append((worded[0].split()[0], deviation, worded[0]))
    if not cues:
        return None, 0.0
    part, count = Counter(part for part, _, _ in cues).most_common(1)[0]
    chosen = sorted((c for c in cues if c[0] == part), key=lambda c: c[1])
    return chosen[len(chosen) // 2][2], count / len(cues)


def _quality(records, times, first, last, hold_start, hold_end) -> HoldQuality:
    offsets = np.full((len(records), len(LINE_PARTS)), np.nan)
    for index in range(first, last + 1):
        if records[index]["keypoints"] is not None:
            offsets[index] = line_offsets(np.asarray(records[index]["keypoints"]))
    in_hold = (times >= hold_start - 1e-9) & (times < hold_end - 1e-9)
    hold = offsets[in_hold]
    worst_part = np.nanmax(np.abs(hold), axis=1) if np.isfinite(hold).any() else np.array([])
    worst_part = worst_part[np.isfinite(worst_part)]
    sway = None
    hold_times = times[in_hold]
    if len(hold_times) > _SMOOTHING_FRAMES:
        kernel = np.ones(_SMOOTHING_FRAMES) / _SMOOTHING_FRAMES
        speeds = []
        span = float(hold_times[-1] - hold_times[_SMOOTHING_FRAMES - 1])
        for column in (1, 2):  # hips and feet
            series = hold[:, column]
            if np.isfinite(series).all() and span > 0:
                smooth = np.convolve(series, kernel, mode="valid")  # times [k-1 .. n-1]
                speeds.append(float(np.abs(np.diff(smooth)).sum()) / span)
        sway = float(np.mean(speeds)) if speeds else None
    return HoldQuality(
        line_deviation_median_percent=float(np.median(worst_part)) if len(worst_part) else None,
        line_deviation_worst_percent=float(np.max(worst_part)) if len(worst_part) else None,
        sway_percent_per_second=sway,
        broke_first=_broke_first(offsets, times, in_hold, hold_end, last),
    )


def _broke_first(offsets, times, in_hold, hold_end, last) -> str | None:
    """The part whose offset first grew ``BREAK_PERCENT`` beyond its hold median after the hold."""
    baseline = np.nanmedian(np.abs(offsets[in_hold]), axis=0)
    after = np.flatnonzero((times >= hold_end - 1e-9) & (np.arange(len(times)) <= last))
    for index in after:
        grown = np.abs(offsets[index]) - baseline
        if np.isfinite(grown).any() and np.nanmax(grown) >= BREAK_PERCENT:
            return list(LINE_PARTS)[int(np.nanargmax(grown))]
    return None

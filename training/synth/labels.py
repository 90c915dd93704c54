"""Form labels from 3D geometry, with a margin band that marks ambiguous frames.

The definition (all on the clean 3D pose, floor at y = 0, H = body height):

1. **Hand balance** (needed by every handstand class): both wrists within 0.08 m of the floor
   and both elbows more than 0.13 H above it (hands, not forearms or head, carry the body), the
   head top more than 0.06 m off the floor, the torso pointing down (pelvis -> thorax within
   50 deg of straight down), at least one ankle more than 0.1 H above the pelvis, elbows bent
   less than 50 deg.
2. **Line candidate**: a hand balance with both ankles more than 0.3 H above the pelvis, knees
   bent less than 20 deg, thighs less than 20 deg apart (no split/straddle), elbows bent less
   than 20 deg, the wrist -> ankle axis within 25 deg of vertical and hip flexion ("pike",
   below) under 10 deg.
3. Body-line deviation ``dev``: the largest distance of the mid-shoulder, pelvis and mid-knee
   from the line through mid-wrist and mid-ankle, divided by the wrist-ankle distance.
   Hip flexion ``pike``: the signed angle between the thigh axis and the continued torso axis,
   positive when the legs come forward (anterior).
4. Labels: ``straight`` = line candidate with ``dev < 0.04``;
   ``banana`` = line candidate with ``dev >= 0.07`` (with the pike excluded, the bend comes
   from an arched back, extended hips or closed shoulders); ``other_handstand`` = any other hand
   balance (pike, straddle, split, tuck, bent arms, kick-up and come-down phases with a leg up);
   ``not_handstand`` = everything else (standing, arms-up poses, walking, headstand, forearm
   stand, crow, L-sit, floor poses).

Values inside the margin band above each threshold (``0.04 <= dev < 0.07``; elbows 0.10-0.13 H
up; torso 50-65 deg; ankle 0-0.1 H over the pelvis; elbow bend 50-70 / 20-35 deg; knees 20-35
deg; thighs 20-30 deg apart; axis 25-35 deg; pike 10-20 deg; both ankles 0.22-0.3 H up) make
the frame *ambiguous*: the generator never ends a clip on an ambiguous frame.
"""

from __future__ import annotations

import numpy as np

from engine.verdict import BANANA_INDEX, NOT_HANDSTAND_INDEX, OTHER_HANDSTAND_INDEX, STRAIGHT_INDEX
from training.synth.body import J

STRAIGHT_MAX_DEVIATION = 0.04
BANANA_MIN_DEVIATION = 0.07


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors (..., 3)."""
    cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1),
                                       1e-9)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def joint_bend(points: np.ndarray, a: str, b: str, c: str) -> np.ndarray:
    """Flexion (degrees) at point ``b`` of (..., NUM_POINTS, 3): 0 when a-b-c is straight."""
    return 180.0 - _angle(points[..., J[a], :] - points[..., J[b], :],
                          points[..., J[c], :] - points[..., J[b], :])


def _mid(points: np.ndarray, a: str, b: str) -> np.ndarray:
    return 0.5 * (points[..., J[a], :] + points[..., J[b], :])


def line_deviation(points: np.ndarray) -> np.ndarray:
    """Body-line deviation: max distance of shoulders/pelvis/knees from the wrist-ankle line.

    Args:
        points: (..., NUM_POINTS, 3) world points.

    Returns:
        (...,) deviation divided by the wrist-ankle distance.
    """
    wrist = _mid(points, "r_wrist", "l_wrist")
    ankle = _mid(points, "r_ankle", "l_ankle")
    axis = ankle - wrist
    length = np.maximum(np.linalg.norm(axis, axis=-1), 1e-9)
    unit = axis / length[..., None]
    deviations = []
    for point in (points[..., J["thorax"], :], points[..., J["pelvis"], :],
                  _mid(points, "r_knee", "l_knee")):
        rel = point - wrist
        perp = rel - (rel * unit).sum(-1, keepdims=True) * unit
        deviations.append(np.linalg.norm(perp, axis=-1))
    return np.max(deviations, axis=0) / length


def hip_pike(points: np.ndarray) -> np.ndarray:
    """Signed hip flexion (degrees): + legs forward of the torso line (pike), - behind (arch)."""
    pelvis = points[..., J["pelvis"], :]
    torso_continued = pelvis - points[..., J["thorax"], :]
    thigh = _mid(points, "r_knee", "l_knee") - pelvis
    anterior = points[..., J["pelvis_front"], :] - pelvis
    sign = np.where((thigh * anterior).sum(-1) >= 0, 1.0, -1.0)
    return sign * _angle(torso_continued, thigh)


def _band(value: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """(value < low, low <= value < high): the clear 'yes' and the ambiguous band."""
    return value < low, (value >= low) & (value < high)


def label_frames(points: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels frames by the definition in the module docstring.

    Args:
        points: (..., NUM_POINTS, 3) world points (floor at y = 0).
        height: (...,) body heights in metres.

    Returns:
        labels (...,) int (indices into ``engine.form.FORM_LABELS``) and ambiguous (...,) bool.
    """
    y = points[..., 1]
    up = np.array([0.0, 1.0, 0.0])
    conditions = []  # (clear yes, ambiguous) pairs for the hand-balance test

    wrist_high = np.maximum(y[..., J["r_wrist"]], y[..., J["l_wrist"]])
    conditions.append(_band(wrist_high, 0.08, 0.14))
    elbow_low = np.minimum(y[..., J["r_elbow"]], y[..., J["l_elbow"]]) / height
    conditions.append(_band(-elbow_low, -0.13, -0.1))
    conditions.append(_band(-y[..., J["head_top"]], -0.06, -0.03))
    torso_tilt = _angle(points[..., J["thorax"], :] - points[..., J["pelvis"], :], -up)
    conditions.append(_band(torso_tilt, 50.0, 65.0))
    ankle_high = (np.maximum(y[..., J["r_ankle"]], y[..., J["l_ankle"]])
                  - y[..., J["pelvis"]]) / height
    conditions.append(_band(-ankle_high, -0.1, 0.0))
    elbow_bend = np.maximum(joint_bend(points, "r_shoulder", "r_elbow", "r_wrist"),
                            joint_bend(points, "l_shoulder", "l_elbow", "l_wrist"))
    conditions.append(_band(elbow_bend, 50.0, 70.0))
    hand_balance = np.all([c[0] for c in conditions], axis=0)
    hand_balance_ambiguous = ~hand_balance & np.all([c[0] | c[1] for c in conditions], axis=0)

    line = []
    ankle_low = (np.minimum(y[..., J["r_ankle"]], y[..., J["l_ankle"]])
                 - y[..., J["pelvis"]]) / height
    line.append(_band(-ankle_low, -0.3, -0.22))
    knee_bend = np.maximum(joint_bend(points, "r_hip", "r_knee", "r_ankle"),
                           joint_bend(points, "l_hip", "l_knee", "l_ankle"))
    line.append(_band(knee_bend, 20.0, 35.0))
    thigh_gap = _angle(points[..., J["r_knee"], :] - points[..., J["r_hip"], :],
                       points[..., J["l_knee"], :] - points[..., J["l_hip"], :])
    line.append(_band(thigh_gap, 20.0, 30.0))
    line.append(_band(elbow_bend, 20.0, 35.0))
    axis_tilt = _angle(_mid(points, "r_ankle", "l_ankle") - _mid(points, "r_wrist", "l_wrist"), up)
    line.append(_band(axis_tilt, 25.0, 35.0))
    pike = hip_pike(points)
    line.append(_band(pike, 10.0, 20.0))
    line_candidate = np.all([c[0] for c in line], axis=0)
    line_ambiguous = ~line_candidate & np.all([c[0] | c[1] for c in line], axis=0)

    deviation = line_deviation(points)
    labels = np.full(y.shape[:-1], NOT_HANDSTAND_INDEX, dtype=np.int64)
    labels[hand_balance] = OTHER_HANDSTAND_INDEX
    straight = hand_balance & line_candidate & (deviation < STRAIGHT_MAX_DEVIATION)
    banana = hand_balance & line_candidate & (deviation >= BANANA_MIN_DEVIATION)
    labels[straight] = STRAIGHT_INDEX
    labels[banana] = BANANA_INDEX
    ambiguous = hand_balance_ambiguous | (hand_balance & line_ambiguous)
    ambiguous |= hand_balance & line_candidate & ~straight & ~banana
    return labels, ambiguous


def arch_visible(view_dirs: np.ndarray, lateral_axes: np.ndarray) -> np.ndarray:
    """Whether a camera sees the body from far enough to the side to show an arch.

    Front and back views look along the sagittal plane and cannot show the arch. A view counts
    as showing it when the line of sight is at least 30 degrees away from that plane.

    Args:
        view_dirs: (..., 3) unit vectors from the camera to the body.
        lateral_axes: (..., 3) unit vectors from the right to the left hip.

    Returns:
        (...,) bool.
    """
    return np.abs((view_dirs * lateral_axes).sum(-1)) >= 0.5

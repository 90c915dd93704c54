"""Pose-glitch filter for streams: keeps one BlazePose mistake from reaching the form model.

Pose estimators fail on inverted bodies in short, characteristic bursts: the far leg folds onto
the torso for a few frames, left and right trade places, or a fresh detection finds the person
the wrong way up. A real body cannot do any of these between two frames: its bones keep their
length (up to slow foreshortening) and it cannot turn half a turn in a thirtieth of a second.

``PoseGlitchFilter`` keeps a running estimate of this person's bone lengths and the last pose
it trusted, and for every new frame:

- **swapped sides** (the pose is much closer to the last trusted one with left and right
  exchanged): swaps them back;
- **one implausible limb** (a bone of an arm or a leg shorter or longer than its running length
  by more than ``bone_ratio_range`` while the other side's limb is fine, or a bone that turned
  by more than ``fold_degrees`` against the torso since the previous frame): redraws that limb
  from its last trusted shape, hung at the limb's current root joint, for at most
  ``max_limb_hold_s``;
- **an implausible frame** (the torso turned by more than ``flip_degrees`` faster than a body
  can turn, the torso's own length off, or three limbs off): hands on the last trusted pose
  for at most ``max_bridge_s`` and marks the frame as held, so the verdict is kept.

A condition that lasts longer than its tolerance is taken as real (the estimates start again
from the current pose): a glitch can delay the picture by at most the tolerance, never freeze
it. The checks look only at the pose's consistency over time; they never decide the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import skeleton

# Limb chains root -> middle -> end, and the opposite side's chain of each.
LIMBS: dict[str, tuple[int, int, int]] = {
    "right arm": (skeleton.R_SHOULDER, skeleton.R_ELBOW, skeleton.R_WRIST),
    "left arm": (skeleton.L_SHOULDER, skeleton.L_ELBOW, skeleton.L_WRIST),
    "right leg": (skeleton.R_HIP, skeleton.R_KNEE, skeleton.R_ANKLE),
    "left leg": (skeleton.L_HIP, skeleton.L_KNEE, skeleton.L_ANKLE),
}
_OTHER_SIDE = {
    "right arm": "left arm", "left arm": "right arm",
    "right leg": "left leg", "left leg": "right leg",
}
_TORSO = (skeleton.PELVIS, skeleton.THORAX)
# Bones whose lengths are tracked: the torso, then each limb's two bones.
_BONES: tuple[tuple[int, int], ...] = (_TORSO,) + tuple(
    bone for chain in LIMBS.values() for bone in ((chain[0], chain[1]), (chain[1], chain[2]))
)
_LIMB_JOINTS = np.array([joint for chain in LIMBS.values() for joint in chain])
# Each limb's two bones, as indices into ``_BONES``.
_LIMB_BONES: dict[str, list[int]] = {
    limb: [1 + 2 * index, 2 + 2 * index] for index, limb in enumerate(LIMBS)
}


@dataclass(frozen=True)
class GlitchConfig:
    """Tolerances of :class:`PoseGlitchFilter` (seconds are stream time).

    Attributes:
        bone_ratio_range: a bone's length over its running estimate (after the frame's overall
            scale change is divided out) outside this range makes its limb implausible, when
            it got there suddenly (below). BlazePose's folded far leg comes out at 0.1-0.5 of
            its length; a leg turning towards the camera shortens gradually.
        max_length_step: a bone changing length by more than this factor between two frames
            changed suddenly; one that drifted out of range slowly is taken as real.
        same_foreshortening: both limbs of a pair off by ratios within this factor of each
            other are foreshortened together (a pike seen from the front), not a glitch.
        fold_degrees: a limb bone turning by more than this against the torso between two
            frames at most ``fold_window_s`` apart has folded (the fastest real kick-up
            measured turns a leg by under 100 degrees between 30 fps frames) ...
        fold_window_s: ... (older comparisons are skipped: slow real turns can be large).
        flip_degrees: a torso turn larger than this ...
        max_turn_rate: ... faster than this (degrees per second) is an orientation flip; a
            fast kick-up turns the torso by about 400 degrees per second.
        swap_ratio: the pose with sides exchanged must be this much closer to the last trusted
            pose to count as a left/right swap ...
        min_swap_distance: ... and the pose as it came at least this far from it (mean joint
            distance in torso lengths), so legs held together never count as swapped.
        max_limb_hold_s: longest a limb is redrawn from its last trusted shape.
        max_bridge_s: longest a whole frame is replaced by the last trusted pose.
        bone_time_constant_s: how slowly the running bone lengths (the longest recent image
            length of each bone) are forgotten.
        forget_after_s: without a person for this long, the next person starts afresh.
    """

    bone_ratio_range: tuple[float, float] = (0.6, 1.6)
    max_length_step: float = 1.25
    same_foreshortening: float = 1.3
    fold_degrees: float = 120.0
    fold_window_s: float = 0.1
    flip_degrees: float = 100.0
    max_turn_rate: float = 1200.0
    swap_ratio: float = 0.5
    min_swap_distance: float = 0.25
    max_limb_hold_s: float = 0.5
    max_bridge_s: float = 0.3
    bone_time_constant_s: float = 3.0
    forget_after_s: float = 1.0


@dataclass(frozen=True)
class CheckedPose:
    """One frame after the glitch filter.

    Attributes:
        keypoints: (16, 3) float32 pose for the form model (repaired where a glitch was
            found), or None when no person was found.
        issue: what was wrong with the pose as estimated ("" when nothing was).
        held: the whole frame is the last trusted pose; its verdict should not move.
        repaired: the limbs redrawn from their last trusted shape.
    """

    keypoints: np.ndarray | None
    issue: str = ""
    held: bool = False
    repaired: tuple[str, ...] = ()


def bone_lengths(keypoints: np.ndarray) -> np.ndarray:
    """Image lengths of the tracked bones (torso, then two per limb).

    Args:
        keypoints: (..., 16, 3) keypoints.

    Returns:
        (..., 9) float lengths in pixels; NaN where a joint is missing.
    """
    points = np.asarray(keypoints, dtype=np.float64)[..., :2]
    parents = points[..., [bone[0] for bone in _BONES], :]
    children = points[..., [bone[1] for bone in _BONES], :]
    return np.linalg.norm(children - parents, axis=-1)


def torso_angle(keypoints: np.ndarray) -> float:
    """Direction of the pelvis -> thorax vector in the image, in degrees."""
    return _bone_angle(keypoints, skeleton.PELVIS, skeleton.THORAX)


def _bone_angle(keypoints: np.ndarray, parent: int, child: int) -> float:
    dx, dy = np.asarray(keypoints[child, :2], np.float64) - np.asarray(keypoints[parent, :2])
    return float(np.degrees(np.arctan2(dy, dx)))


def _mean_limb_distance(pose: np.ndarray, other: np.ndarray) -> float:
    offsets = pose[_LIMB_JOINTS, :2] - other[_LIMB_JOINTS, :2]
    return float(np.nanmean(np.linalg.norm(offsets, axis=1)))


def _angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


class PoseGlitchFilter:
    """Stateful per-stream filter; feed it every frame in order (see the module docstring).

    Args:
        config: tolerances; the defaults are documented in :class:`GlitchConfig`.
    """

    def __init__(self, config: GlitchConfig | None = None) -> None:
        self.config = config or GlitchConfig()
        self.reset()

    def reset(self) -> None:
        """Forgets the person (a new stream)."""
        self._reference: np.ndarray | None = None  # (9,) running bone lengths
        self._trusted: np.ndarray | None = None  # last trusted (16, 3) pose
        self._trusted_time = -np.inf
        self._limb_shapes: dict[str, np.ndarray] = {}  # last trusted chain, root-relative
        self._limb_times: dict[str, float] = {}
        self._last_seen = -np.inf
        self._previous_lengths: np.ndarray | None = None  # the previous frame's, as estimated
        self._off_bones = np.zeros(len(_BONES), bool)

    def update(self, keypoints: np.ndarray | None, timestamp: float) -> CheckedPose:
        """Checks one frame's pose against the stream so far.

        Args:
            keypoints: (16, 3) pixel keypoints, or None when no person was found.
            timestamp: the frame's time in seconds (increasing).

        Returns:
            The pose the form model should see and what was wrong with the estimate.
        """
        timestamp = float(timestamp)
        if keypoints is None:
            return CheckedPose(None)
        pose = np.asarray(keypoints, dtype=np.float32).copy()
        if not np.isfinite(pose[[*_TORSO], :2]).all():
            return CheckedPose(pose)  # nothing to measure against; pass it on as it is
        if timestamp - self._last_seen > self.config.forget_after_s:
            self._start_from(pose, timestamp)
            self._last_seen = timestamp
            return CheckedPose(pose)
        self._last_seen = timestamp
        issues: list[str] = []
        if self._swapped(pose):
            pose = pose[list(skeleton.FLIP_PERMUTATION)]
            issues.append("left/right swap")
        lengths = bone_lengths(pose)
        relative, scale = self._relative_lengths(lengths)
        low, high = self.config.bone_ratio_range
        off = ~((relative >= low) & (relative <= high))  # NaN counts as off
        off &= self._jumped(lengths) | self._off_bones
        self._off_bones = off.copy()
        self._previous_lengths = lengths
        bad_limbs = self._implausible_limbs(relative, off)
        for limb in self._folded_limbs(pose, timestamp):
            if limb not in bad_limbs:
                bad_limbs.append(limb)
        frame_issue = self._frame_issue(pose, timestamp, off[0], bad_limbs)
        if frame_issue:
            if timestamp - self._trusted_time <= self.config.max_bridge_s:
                return CheckedPose(self._trusted.copy(), frame_issue, held=True)
            self._start_from(pose, timestamp)  # it lasted: this is the body now
            return CheckedPose(pose, f"{frame_issue} (accepted)")
        repaired = []
        for limb in bad_limbs:
            if timestamp - self._limb_times.get(limb, -np.inf) <= self.config.max_limb_hold_s:
                self._redraw(pose, limb, scale)
                repaired.append(limb)
        self._learn(pose, lengths, off, bad_limbs, repaired, timestamp)
        if repaired:
            issues.append(f"implausible {' and '.join(repaired)}")
        return CheckedPose(pose, "; ".join(issues), repaired=tuple(repaired))

    def _start_from(self, pose: np.ndarray, timestamp: float) -> None:
        self._reference = bone_lengths(pose)
        self._previous_lengths = self._reference.copy()
        self._off_bones = np.zeros(len(_BONES), bool)
        self._trusted = pose.copy()
        self._trusted_time = timestamp
        for limb in LIMBS:
            self._keep_shape(pose, limb, timestamp)

    def _keep_shape(self, pose: np.ndarray, limb: str, timestamp: float) -> None:
        chain = list(LIMBS[limb])
        if np.isfinite(pose[chain, :2]).all():
            shape = pose[chain].copy()
            shape[:, :2] -= pose[chain[0], :2]
            self._limb_shapes[limb] = shape
            self._limb_times[limb] = timestamp

    def _swapped(self, pose: np.ndarray) -> bool:
        trusted = self._trusted
        torso = float(self._reference[0]) if self._reference is not None else 0.0
        if trusted is None or not torso > 0:
            return False
        mirrored = pose[list(skeleton.FLIP_PERMUTATION)]
        as_is = _mean_limb_distance(pose, trusted)
        exchanged = _mean_limb_distance(mirrored, trusted)
        return bool(
            as_is > self.config.min_swap_distance * torso
            and exchanged < self.config.swap_ratio * as_is
        )

    def _jumped(self, lengths: np.ndarray) -> np.ndarray:
        """Bones whose length changed suddenly since the previous frame (scale divided out).

        A glitch appears from one frame to the next; a bone that drifts out of its range
        slowly (an arm turning towards the camera) is real and becomes the running length.
        """
        if self._previous_lengths is None:
            return np.ones(len(_BONES), bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.log(lengths / self._previous_lengths)
        usable = np.isfinite(change)
        if usable.any():
            change -= np.median(change[usable])
        return ~(np.abs(change) <= np.log(self.config.max_length_step))

    def _relative_lengths(self, lengths: np.ndarray) -> tuple[np.ndarray, float]:
        """Each bone over its running length, with the frame's overall scale divided out."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = lengths / self._reference
        usable = np.isfinite(ratios) & (ratios > 0)
        scale = float(np.median(ratios[usable])) if usable.any() else 1.0
        return ratios / scale, scale

    def _implausible_limbs(self, relative: np.ndarray, off: np.ndarray) -> list[str]:
        # How far each off limb is off: the log ratio of its bone furthest from its length.
        offsets: dict[str, float] = {}
        for limb, bones in _LIMB_BONES.items():
            if off[bones].any():
                with np.errstate(divide="ignore", invalid="ignore"):
                    logs = np.log(relative[bones])
                offsets[limb] = float(logs[np.argmax(np.abs(logs))]) if np.isfinite(
                    logs).all() else np.nan
        together = np.log(self.config.same_foreshortening)
        return [
            limb for limb, offset in offsets.items()
            # Both sides shortened alike is foreshortening (a pike seen from the front).
            if not abs(offset - offsets.get(_OTHER_SIDE[limb], np.nan)) <= together
        ]

    def _folded_limbs(self, pose: np.ndarray, timestamp: float) -> list[str]:
        """Limbs with a bone that turned too far against the torso since the previous frame."""
        previous = self._trusted
        if previous is None or timestamp - self._trusted_time > self.config.fold_window_s:
            return []
        now, before = torso_angle(pose), torso_angle(previous)
        folded = []
        for limb, chain in LIMBS.items():
            for parent, child in zip(chain[:-1], chain[1:], strict=True):
                turn = _angle_between(
                    _bone_angle(pose, parent, child) - now,
                    _bone_angle(previous, parent, child) - before,
                )
                if turn > self.config.fold_degrees:
                    folded.append(limb)
                    break
        return folded

    def _frame_issue(
        self, pose: np.ndarray, timestamp: float, torso_off: bool, bad_limbs: list[str]
    ) -> str:
        if self._trusted is not None:
            turn = _angle_between(torso_angle(pose), torso_angle(self._trusted))
            elapsed = max(timestamp - self._trusted_time, 1e-6)
            if turn > self.config.flip_degrees and turn / elapsed > self.config.max_turn_rate:
                return "orientation flip"
        if torso_off:
            return "implausible torso"
        if len(bad_limbs) >= 3:
            return "implausible limbs"
        return ""

    def _redraw(self, pose: np.ndarray, limb: str, scale: float) -> None:
        chain = list(LIMBS[limb])
        shape = self._limb_shapes[limb]
        pose[chain[1:], :2] = pose[chain[0], :2] + shape[1:, :2] * scale
        pose[chain[1:], 2] = shape[1:, 2]

    def _learn(
        self,
        pose: np.ndarray,
        lengths: np.ndarray,
        off: np.ndarray,
        bad_limbs: list[str],
        repaired: list[str],
        timestamp: float,
    ) -> None:
        """Updates the bone lengths and the trusted shapes from the parts that passed.

        A bone's image length is at most its true length (turning it out of the image plane
        only shortens it), so the running length is the longest recent one, forgotten slowly:
        a limb turned towards the camera never drags it down, and glitches are kept out.
        """
        elapsed = max(timestamp - self._trusted_time, 0.0)
        self._reference *= np.exp(-elapsed / self.config.bone_time_constant_s)
        learn = np.isfinite(lengths) & ~off
        self._reference[learn] = np.maximum(self._reference[learn], lengths[learn])
        for limb, bones in _LIMB_BONES.items():
            if limb in bad_limbs and limb not in repaired:
                # Off for longer than the hold tolerance: real; only a new jump flags it again.
                self._off_bones[bones] = False
            if limb not in repaired:
                self._keep_shape(pose, limb, timestamp)
        self._trusted = pose.copy()
        self._trusted_time = timestamp

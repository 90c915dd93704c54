"""Nearest good pose: the smallest change of the athlete's pose the form model calls straight.

The pose is re-parametrized by 2D bone angles, rooted at the hands: the wrists stay where they
are, every bone keeps its length, and a change is a rotation of bones (each relative to its
parent, so turning the trunk carries the legs along). Gradient steps (Adam) through the learned
form model raise the model's straight score while a penalty keeps the joints close to where they
were, until the calibrated straight probability reaches the target; then whatever part of the
change the model does not need is taken back (all rotations scaled down together, then each on
its own). Nothing here decides the verdict: the model does; the geometry only words the cues
(which joints moved, which way, how far in % of the body height).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.features import (
    MIN_JOINT_CONFIDENCE,
    fill_missing_frames,
)
from engine.form import StraightScorer
from engine.ideal import body_height
from engine.skeleton import (
    BONES,
    HEAD_TOP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NUM_JOINTS,
    PELVIS,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    THORAX,
    UPPER_NECK,
)
from engine.verdict import NOT_HANDSTAND_LABEL, STRAIGHT_LABEL

# Bone angles that can change, each rotating its bone relative to its parent.
_PARAMETERS: tuple[str, ...] = (
    "r_forearm", "r_upper_arm", "l_forearm", "l_upper_arm", "trunk", "neck", "head",
    "pelvis", "r_thigh", "r_shin", "l_thigh", "l_shin",
)
NUM_ANGLES = len(_PARAMETERS)

# Groups of joints the cues speak about, with the joints whose mean offset they use.
_CUE_GROUPS: dict[str, tuple[int, ...]] = {
    "hips": (PELVIS, R_HIP, L_HIP),
    "feet": (R_ANKLE, L_ANKLE),
    "knees": (R_KNEE, L_KNEE),
    "shoulders": (THORAX, R_SHOULDER, L_SHOULDER),
    "head": (UPPER_NECK, HEAD_TOP),
}
# Groups judged relative to the joints carrying them: the knees against the line from the hips to
# the ankles, the head against the shoulders.
_CUE_PARENTS: dict[str, tuple[int, ...]] = {
    "knees": (R_HIP, L_HIP, R_ANKLE, L_ANKLE),
    "head": (THORAX,),
}
# The retry after a failed search takes steps this many times longer.
RETRY_STEP_FACTOR = 2.5
# Deviations below this (in % of body height) are not worth a cue.
MIN_CUE_PERCENT = 2.0


@dataclass(frozen=True)
class Explanation:
    """The nearest good pose of one moment and what differs from it.

    Attributes:
        original: (16, 3) float32 athlete keypoints of the explained frame (pixels).
        corrected: (16, 3) float32 nearest good pose of that frame (pixels, same confidences).
        corrected_clip: (T, 16, 3) the whole clip with the same correction applied.
        deviations: (16, 2) float32 corrected minus original, in % of body height.
        cues: short sentences for the athlete, largest deviation first.
        straight_before: calibrated P(straight) of the athlete's clip.
        straight_after: calibrated P(straight) of the corrected clip.
        reached: whether ``straight_after`` reached the target probability.
        steps: gradient steps taken.
        body_height: body height in pixels that the percentages refer to.
        angles: (12,) radians of the bone rotations that make the correction.
        not_searched: why no correction was searched (for example the model sees no
            handstand at all); empty when one was.
    """

    original: np.ndarray
    corrected: np.ndarray
    corrected_clip: np.ndarray
    deviations: np.ndarray
    cues: list[str] = field(default_factory=list)
    straight_before: float = 0.0
    straight_after: float = 0.0
    reached: bool = False
    steps: int = 0
    body_height: float = 0.0
    angles: np.ndarray = field(default_factory=lambda: np.zeros(NUM_ANGLES, np.float32))
    not_searched: str = ""

    @property
    def displacement_percent(self) -> np.ndarray:
        """(16,) length of each joint's deviation in % of body height."""
        return np.linalg.norm(self.deviations, axis=-1)


def _rotate(vectors: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(angle), torch.sin(angle)
    x, y = vectors[..., 0], vectors[..., 1]
    return torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1)


def _neighbours() -> list[list[int]]:
    neighbours: list[list[int]] = [[] for _ in range(NUM_JOINTS)]
    for parent, child in BONES:
        neighbours[parent].append(child)
        neighbours[child].append(parent)
    return neighbours


_NEIGHBOURS = _neighbours()


def _filled_positions(clip: np.ndarray) -> np.ndarray:
    """(T, 16, 2) positions where unseen joints are placed between their seen neighbours.

    Unseen joints (NaN, or below ``MIN_JOINT_CONFIDENCE``, e.g. zeros from a clip buffer) do
    not count for the form model, but the kinematic chain runs through them: a hidden elbow
    left at (0, 0) would swing the shoulder across the image. They are put at the mean of their
    seen skeleton neighbours (repeatedly, outwards), else at the mean of the frame's seen joints.
    """
    clip = np.asarray(clip, dtype=np.float64)
    xy = clip[..., :2].copy()
    seen = np.isfinite(xy).all(-1) & (np.nan_to_num(clip[..., 2]) >= MIN_JOINT_CONFIDENCE)
    for frame, known in zip(xy, seen, strict=True):
        known = known.copy()
        if not known.any():
            frame[:] = np.nan_to_num(frame)
            continue
        while not known.all():
            progress = False
            for joint in np.flatnonzero(~known):
                near = [n for n in _NEIGHBOURS[joint] if known[n]]
                if near:
                    frame[joint] = frame[near].mean(0)
                    known[joint] = progress = True
            if not progress:
                frame[~known] = frame[known].mean(0)
                break
    return xy


def pose_from_angles(original: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Forward kinematics from the hands: the original pose with its bones rotated.

    The wrists stay put; each arm is walked from its wrist to its shoulder; the thorax is the
    shoulders' midpoint (as in ``engine.skeleton``); neck, head and trunk hang from the thorax,
    the hips from the pelvis (rigidly, as one pelvis), the legs from the hips. Every bone keeps
    its original length except the shoulder width, which follows the two arms (the search
    penalizes changing it).

    Args:
        original: (T, 16, 2) original joint positions.
        angles: (12,) rotations in radians, one per entry of ``_PARAMETERS``, each relative to
            the parent bone.

    Returns:
        (T, 16, 2) positions.
    """
    p = original
    a = dict(zip(_PARAMETERS, angles, strict=True))
    out: list[torch.Tensor | None] = [None] * NUM_JOINTS
    out[R_WRIST], out[L_WRIST] = p[:, R_WRIST], p[:, L_WRIST]
    r_forearm, l_forearm = a["r_forearm"], a["l_forearm"]
    r_arm, l_arm = r_forearm + a["r_upper_arm"], l_forearm + a["l_upper_arm"]
    out[R_ELBOW] = out[R_WRIST] + _rotate(p[:, R_ELBOW] - p[:, R_WRIST], r_forearm)
    out[L_ELBOW] = out[L_WRIST] + _rotate(p[:, L_ELBOW] - p[:, L_WRIST], l_forearm)
    out[R_SHOULDER] = out[R_ELBOW] + _rotate(p[:, R_SHOULDER] - p[:, R_ELBOW], r_arm)
    out[L_SHOULDER] = out[L_ELBOW] + _rotate(p[:, L_SHOULDER] - p[:, L_ELBOW], l_arm)
    girdle = 0.5 * (r_arm + l_arm)
    # The thorax is the shoulders' midpoint; keep whatever offset from it the estimate had.
    thorax_offset = p[:, THORAX] - 0.5 * (p[:, R_SHOULDER] + p[:, L_SHOULDER])
    out[THORAX] = 0.5 * (out[R_SHOULDER] + out[L_SHOULDER]) + _rotate(thorax_offset, girdle)
    trunk = girdle + a["trunk"]
    neck = girdle + a["neck"]
    out[UPPER_NECK] = out[THORAX] + _rotate(p[:, UPPER_NECK] - p[:, THORAX], neck)
    out[HEAD_TOP] = out[UPPER_NECK] + _rotate(p[:, HEAD_TOP] - p[:, UPPER_NECK], neck + a["head"])
    out[PELVIS] = out[THORAX] + _rotate(p[:, PELVIS] - p[:, THORAX], trunk)
    pelvis = trunk + a["pelvis"]
    for hip, knee, ankle, thigh_name, shin_name in (
        (R_HIP, R_KNEE, R_ANKLE, "r_thigh", "r_shin"),
        (L_HIP, L_KNEE, L_ANKLE, "l_thigh", "l_shin"),
    ):
        thigh = trunk + a[thigh_name]
        out[hip] = out[PELVIS] + _rotate(p[:, hip] - p[:, PELVIS], pelvis)
        out[knee] = out[hip] + _rotate(p[:, knee] - p[:, hip], thigh)
        out[ankle] = out[knee] + _rotate(p[:, ankle] - p[:, knee], thigh + a[shin_name])
    return torch.stack(out, dim=1)


def apply_correction(clip: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Applies bone rotations found by ``nearest_good_pose`` to another pose, without a search.

    For example to the next frames of a stream while the athlete holds still.

    Args:
        clip: (T, 16, 3) or (16, 3) pixel keypoints.
        angles: (12,) rotations (``Explanation.angles``).

    Returns:
        Keypoints of the same shape with the rotations applied (confidences kept).
    """
    clip = np.asarray(clip, dtype=np.float32)
    frames = clip[None] if clip.ndim == 2 else clip
    original = torch.as_tensor(_filled_positions(frames), dtype=torch.float32)
    with torch.no_grad():
        moved = pose_from_angles(original, torch.as_tensor(angles, dtype=torch.float32))
    out = frames.copy()
    out[..., :2] = moved.numpy()
    return out[0] if clip.ndim == 2 else out


def nearest_good_pose(
    clip: np.ndarray,
    scorer: StraightScorer,
    *,
    target_probability: float = 0.6,
    displacement_weight: float = 2.0,
    shoulder_width_weight: float = 50.0,
    step_size: float = 0.03,
    penalty_decay: float = 0.97,
    max_steps: int = 150,
    initial_angles: np.ndarray | None = None,
) -> Explanation:
    """Searches the smallest bone rotation that makes the form model call the clip straight.

    The same rotations are applied to every frame of the clip (one correction for the moment
    being explained); a single photo is a clip of one frame. Minimizes
    ``-min(log-odds, target) + displacement_weight * mean squared joint displacement`` (in
    units of body height) with Adam, stopping as soon as the calibrated straight probability
    reaches ``target_probability``; the rotations found are then scaled back towards zero as
    far as the target still holds (bisection), then each rotation on its own (zeroed or
    halved), so that no more of the change is kept than the model needs.

    Args:
        clip: (T, 16, 3) or (16, 3) athlete keypoints in pixels with confidence.
        scorer: differentiable straight scorer, see ``FormClassifier.straight_scorer``.
        target_probability: stop when P(straight) reaches it.
        displacement_weight: how strongly large changes are penalized.
        shoulder_width_weight: penalty on changing the shoulder width.
        step_size: Adam learning rate in radians.
        penalty_decay: the displacement penalty shrinks by this factor every step, so that a
            pose far from any straight one still gets there (the final bisection takes back
            what is not needed).
        max_steps: steps per try; after a failed try one more is made with steps
            ``RETRY_STEP_FACTOR`` times longer (``reached`` is False when both fail).
        initial_angles: (12,) rotations to start from (a previous frame's ``angles``, for a
            live view); zeros when None.

    Returns:
        The explanation of the clip's last frame.

    Raises:
        ValueError: the clip holds no usable pose.
    """
    clip = np.asarray(clip, dtype=np.float32)
    if clip.ndim == 2:
        clip = clip[None]
    if clip.shape[1:] != (NUM_JOINTS, 3) or clip.shape[0] == 0:
        raise ValueError(f"expected keypoints (T, 16, 3), got {clip.shape}")
    # Frames where the person was lost hold the last seen pose, as the classifier's own input
    # preparation does; the search must score what the classifier will see.
    clip = fill_missing_frames(clip)
    positions = _filled_positions(clip)
    heights = body_height(positions)
    height = float(np.median(heights[np.isfinite(heights)])) if np.isfinite(heights).any() else 0
    if height <= 1e-6:
        raise ValueError("the pose has no body height to work with")
    confidence = torch.as_tensor(np.nan_to_num(clip[..., 2:3]), dtype=torch.float32)
    original = torch.as_tensor(positions, dtype=torch.float32)
    original_width = torch.linalg.norm(original[:, R_SHOULDER] - original[:, L_SHOULDER], dim=-1)
    target_logit = float(np.log(target_probability / (1.0 - target_probability)))
    start = np.zeros(NUM_ANGLES) if initial_angles is None else np.asarray(initial_angles)

    def evaluate(current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        moved = pose_from_angles(original, current)
        logit = scorer(torch.cat([moved, confidence], dim=-1))
        return moved, logit

    def loss_of(moved: torch.Tensor, logit: torch.Tensor, step: int) -> torch.Tensor:
        displacement = ((moved - original) ** 2).sum(-1).mean() / height**2
        width = torch.linalg.norm(moved[:, R_SHOULDER] - moved[:, L_SHOULDER], dim=-1)
        width_change = ((width - original_width) ** 2).mean() / height**2
        return (
            -torch.clamp(logit, max=target_logit + 0.5)
            + displacement_weight * penalty_decay**step * 100.0 * displacement
            + shoulder_width_weight * 100.0 * width_change
        )

    with torch.no_grad():
        before = float(torch.sigmoid(evaluate(torch.zeros(NUM_ANGLES))[1]))
    best_angles, best_probability, steps = torch.zeros(NUM_ANGLES), before, 0
    # A second, longer-stepping try for poses where the first gets stuck far from straight.
    for size in (step_size, RETRY_STEP_FACTOR * step_size):
        if best_probability >= target_probability:
            break
        angles = torch.tensor(start, dtype=torch.float32, requires_grad=True)
        optimizer = torch.optim.Adam([angles], lr=size)
        for step in range(max_steps + 1):
            moved, logit = evaluate(angles)
            probability = float(torch.sigmoid(logit.detach()))
            if probability > best_probability:
                best_probability, best_angles = probability, angles.detach().clone()
            if probability >= target_probability or step == max_steps:
                break
            optimizer.zero_grad()
            loss_of(moved, logit, step).backward()
            optimizer.step()
            steps += 1
    if best_probability >= target_probability and bool(best_angles.abs().sum() > 0):
        # Adam moves every angle at a similar pace, the needed ones and the others alike;
        # take back what the model does not need: first all together, then angle by angle.
        best_angles, best_probability = _shrink(
            best_angles, best_probability, target_probability, evaluate
        )
        best_angles, best_probability = _prune(
            best_angles, best_probability, target_probability, evaluate
        )
    with torch.no_grad():
        moved = pose_from_angles(original, best_angles).numpy()
    corrected_clip = clip.copy()
    corrected_clip[..., :2] = moved
    filled = clip.copy()
    filled[..., :2] = positions
    deviations = 100.0 * (moved[-1] - positions[-1]) / height
    return Explanation(
        original=filled[-1],
        corrected=corrected_clip[-1].copy(),
        corrected_clip=corrected_clip,
        deviations=deviations.astype(np.float32),
        cues=correction_cues(positions[-1], moved[-1], height,
                             reached=steps > 0 and best_probability >= target_probability),
        straight_before=before,
        straight_after=best_probability,
        reached=best_probability >= target_probability,
        steps=steps,
        body_height=height,
        angles=best_angles.numpy().astype(np.float32),
    )


def explain(keypoints: np.ndarray, classifier, **search) -> Explanation:
    """Nearest straight pose of a photo's pose or of a clip's last frame.

    When the model's likeliest class is ``not_handstand`` nothing is searched (turning a
    standing person into a handstand is no correction) and ``not_searched`` says why.

    Args:
        keypoints: (16, 3) pixel keypoints of one frame, or a (T, 16, 3) clip.
        classifier: the loaded ``engine.form.FormClassifier``.
        **search: options of ``nearest_good_pose``.

    Returns:
        The explanation.
    """
    clip = np.asarray(keypoints, np.float32).reshape(-1, NUM_JOINTS, 3)
    verdict = classifier.predict(clip)
    likeliest = max(verdict.probabilities, key=verdict.probabilities.get)
    not_searched = ""
    if likeliest == NOT_HANDSTAND_LABEL:
        search = {**search, "max_steps": 0}
        not_searched = (f"the model sees no handstand ({NOT_HANDSTAND_LABEL} "
                        f"{verdict.probabilities[NOT_HANDSTAND_LABEL] * 100:.0f} %): "
                        "nothing to correct")
    explanation = nearest_good_pose(keypoints, classifier.straight_scorer(), **search)
    # Report the classifier's own P(straight) (the search score may also hold the view check).
    after = verdict if not_searched else classifier.predict(explanation.corrected_clip)
    return dataclasses.replace(
        explanation,
        straight_before=float(verdict.probabilities.get(STRAIGHT_LABEL,
                                                        explanation.straight_before)),
        straight_after=float(after.probabilities.get(STRAIGHT_LABEL, explanation.straight_after)),
        not_searched=not_searched,
    )


def _shrink(
    angles: torch.Tensor,
    probability: float,
    target: float,
    evaluate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    rounds: int = 6,
) -> tuple[torch.Tensor, float]:
    """The smallest fraction of ``angles`` (bisection) that still reaches ``target``."""
    low, high, best = 0.0, 1.0, (angles, probability)
    with torch.no_grad():
        for _ in range(rounds):
            middle = 0.5 * (low + high)
            candidate = angles * middle
            candidate_probability = float(torch.sigmoid(evaluate(candidate)[1]))
            if candidate_probability >= target:
                high, best = middle, (candidate, candidate_probability)
            else:
                low = middle
    return best


def _prune(
    angles: torch.Tensor,
    probability: float,
    target: float,
    evaluate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, float]:
    """Sets each rotation to zero, else halves it, where ``target`` still holds (smallest first)."""
    angles = angles.clone()
    with torch.no_grad():
        for index in torch.argsort(angles.abs()).tolist():
            if float(angles[index]) == 0.0:
                continue
            for factor in (0.0, 0.5):
                candidate = angles.clone()
                candidate[index] *= factor
                candidate_probability = float(torch.sigmoid(evaluate(candidate)[1]))
                if candidate_probability >= target:
                    angles, probability = candidate, candidate_probability
                    break
    return angles, probability


def _front_direction(original: np.ndarray) -> np.ndarray | None:
    """Unit vector towards the athlete's belly side, from the shape of the original pose.

    The arch of a banana bulges towards the belly: the hips lie on the front side of the line
    from the shoulders to the feet. Returns None when the body is too straight to tell.
    """
    shoulders = original[[R_SHOULDER, L_SHOULDER]].mean(0)
    feet = original[[R_ANKLE, L_ANKLE]].mean(0)
    hips = original[[R_HIP, L_HIP]].mean(0)
    axis = feet - shoulders
    length = np.linalg.norm(axis)
    if length < 1e-6:
        return None
    normal = np.array([-axis[1], axis[0]]) / length
    bulge = float((hips - shoulders) @ normal)
    if abs(bulge) < 0.02 * length:
        return None
    return normal * np.sign(bulge)


_CUE_TEXT: dict[tuple[str, str], str] = {
    ("hips", "front"): "hips {p:.0f} % of your height ahead of the line: tuck your pelvis",
    ("hips", "back"): "hips {p:.0f} % of your height behind the line: open your hips",
    ("hips", "off"): "hips {p:.0f} % of your height off the line: stack them over your hands",
    ("feet", "back"): "feet {p:.0f} % of your height behind the line: bring your legs over you",
    ("feet", "front"): "feet {p:.0f} % of your height ahead of the line: reach them back up",
    ("feet", "off"): "feet {p:.0f} % of your height off the line: stack them over your hands",
    ("knees", "front"): "knees {p:.0f} % of your height off the line: straighten your legs",
    ("knees", "back"): "knees {p:.0f} % of your height off the line: straighten your legs",
    ("knees", "off"): "knees {p:.0f} % of your height off the line: straighten your legs",
    ("shoulders", "front"): "shoulders {p:.0f} % of your height ahead: open your shoulders",
    ("shoulders", "back"): "shoulders {p:.0f} % of your height behind your hands: lean in",
    ("shoulders", "off"): "shoulders {p:.0f} % of your height off: open your shoulders",
    ("head", "front"): "head {p:.0f} % of your height off: keep it between your arms",
    ("head", "back"): "head {p:.0f} % of your height off: keep it between your arms",
    ("head", "off"): "head {p:.0f} % of your height off: keep it between your arms",
}


def correction_cues(
    original: np.ndarray, corrected: np.ndarray, height: float, *, reached: bool
) -> list[str]:
    """Cues for a correction: ``cues_from_deviations``, never silent about a found fix.

    A clip the model calls banana can need only a fix below ``MIN_CUE_PERCENT`` everywhere
    (the model was nearly at the line); the athlete still gets one line saying so.

    Args:
        original: (16, 2+) athlete joints in pixels.
        corrected: (16, 2+) corrected joints in pixels.
        height: body height in pixels.
        reached: whether a change to the pose reached the straight target.

    Returns:
        Cues, largest deviation first.
    """
    cues = cues_from_deviations(original, corrected, height)
    if not cues and reached:
        cues = [f"nearly there: no part is {MIN_CUE_PERCENT:.0f} % of your height off the "
                "corrected line; squeeze and hold it"]
    return cues


def cues_from_deviations(
    original: np.ndarray, corrected: np.ndarray, height: float, *, max_cues: int = 3
) -> list[str]:
    """Short cues from the largest differences between a pose and its correction.

    Each joint group's offset from where the correction puts it is split into the part across
    the corrected body line (hands to feet) and the part along it; the wording follows the
    side of the line the group is on (front = belly side, judged from the arch of the original
    pose). Legs further apart than in the correction add "squeeze your legs together".

    Args:
        original: (16, 2+) athlete joints in pixels.
        corrected: (16, 2+) corrected joints in pixels.
        height: body height in pixels.
        max_cues: at most this many cues.

    Returns:
        Cues, largest deviation first; empty when nothing moved by ``MIN_CUE_PERCENT``.
    """
    original = np.asarray(original, dtype=np.float64)[:, :2]
    corrected = np.asarray(corrected, dtype=np.float64)[:, :2]
    front = _front_direction(original)
    scored: list[tuple[float, str]] = []
    for group, joints in _CUE_GROUPS.items():
        offset = (original[list(joints)] - corrected[list(joints)]).mean(0)
        parent = _CUE_PARENTS.get(group)
        if parent is not None:
            # Knees and head speak about their own bend, not about what carried them along.
            offset -= (original[list(parent)] - corrected[list(parent)]).mean(0)
        percent = 100.0 * float(np.linalg.norm(offset)) / height
        if percent < MIN_CUE_PERCENT:
            continue
        side = "off"
        if front is not None:
            across = float(offset @ front)
            if abs(across) >= 0.5 * np.linalg.norm(offset):
                side = "front" if across > 0 else "back"
        scored.append((percent, _CUE_TEXT[(group, side)].format(p=percent)))
    spread_before = np.linalg.norm(original[R_ANKLE] - original[L_ANKLE])
    spread_after = np.linalg.norm(corrected[R_ANKLE] - corrected[L_ANKLE])
    squeeze = 100.0 * float(spread_before - spread_after) / height
    if squeeze >= MIN_CUE_PERCENT:
        scored.append((squeeze, "squeeze your legs together"))
    scored.sort(key=lambda item: -item[0])
    return [text for _, text in scored[:max_cues]]

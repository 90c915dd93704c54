"""Pose families: sampled joint-angle vectors for handstands, standing, yoga and arm balances.

Every family is a function ``(n, rng) -> (n, NUM_PARAMS)``; ``POSE_FAMILIES`` lists them with
the label they are meant to produce (the real label always comes from the geometry, see
``training.synth.labels``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.synth.body import NUM_PARAMS, P

PoseSampler = Callable[[int, np.random.Generator], np.ndarray]


def _u(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, n)


def _set(pose: np.ndarray, name: str, value: np.ndarray | float) -> None:
    pose[:, P[name]] = value


def _both(pose: np.ndarray, name: str, value: np.ndarray | float, rng, spread: float) -> None:
    """Sets the right and left version of a joint, with a small left/right difference."""
    n = pose.shape[0]
    _set(pose, f"r_{name}", value + rng.normal(0.0, spread, n))
    _set(pose, f"l_{name}", value + rng.normal(0.0, spread, n))


def _neutral(n: int, rng: np.random.Generator) -> np.ndarray:
    pose = np.zeros((n, NUM_PARAMS))
    _set(pose, "roll", rng.normal(0.0, 1.5, n))
    _set(pose, "neck_flex", rng.normal(0.0, 8.0, n))
    _both(pose, "sh_abd", _u(rng, 0, 12, n), rng, 2.0)
    _both(pose, "elbow", _u(rng, 0, 20, n), rng, 3.0)
    _both(pose, "knee", _u(rng, 0, 6, n), rng, 2.0)
    _both(pose, "hip_abd", _u(rng, 0, 6, n), rng, 1.5)
    _both(pose, "plantar", _u(rng, -5, 10, n), rng, 2.0)
    _set(pose, "spine_lat", rng.normal(0.0, 2.0, n))
    return pose


def _handstand_base(n: int, rng: np.random.Generator) -> np.ndarray:
    pose = _neutral(n, rng)
    _set(pose, "pitch", 180.0)
    _set(pose, "balance", 1.0)
    _set(pose, "anchor_hands", 1.0)
    _both(pose, "sh_flex", _u(rng, 172, 192, n), rng, 1.5)
    _both(pose, "sh_abd", _u(rng, 2, 14, n), rng, 1.5)
    _both(pose, "elbow", _u(rng, 0, 6, n), rng, 1.5)
    _both(pose, "wrist_ext", _u(rng, 80, 95, n), rng, 3.0)
    _both(pose, "hip_flex", _u(rng, -3, 3, n), rng, 1.0)
    _both(pose, "hip_abd", _u(rng, 0, 4, n), rng, 1.0)
    _both(pose, "knee", _u(rng, 0, 5, n), rng, 1.0)
    _both(pose, "plantar", _u(rng, 50, 95, n), rng, 4.0)
    _set(pose, "lumbar_ext", _u(rng, -3, 3, n))
    _set(pose, "thoracic_ext", _u(rng, -3, 3, n))
    _set(pose, "neck_flex", _u(rng, -35, 15, n))
    _set(pose, "roll", rng.normal(0.0, 2.0, n))
    return pose


def handstand_straight(n: int, rng: np.random.Generator) -> np.ndarray:
    """A stacked line: open shoulders, neutral spine and hips, legs together."""
    return _handstand_base(n, rng)


def handstand_banana(n: int, rng: np.random.Generator) -> np.ndarray:
    """Arched: lumbar/thoracic extension, extended hips, often closed shoulders."""
    pose = _handstand_base(n, rng)
    style = rng.uniform(size=n)
    arch = _u(rng, 8, 45, n)
    closed = np.where(style < 0.25, _u(rng, 12, 32, n), _u(rng, -4, 18, n))
    arch = np.where(style < 0.25, _u(rng, 0, 20, n), arch)
    share = _u(rng, 0.25, 0.6, n)
    _set(pose, "lumbar_ext", arch * share)
    _set(pose, "thoracic_ext", arch * 0.2 * rng.uniform(size=n))
    _both(pose, "hip_flex", -arch * (1 - share), rng, 2.0)
    _both(pose, "sh_flex", 182 - closed, rng, 1.5)
    _both(pose, "knee", _u(rng, 0, 15, n), rng, 2.0)
    return pose


def handstand_pike(n: int, rng: np.random.Generator) -> np.ndarray:
    """Hips flexed (pike), legs together."""
    pose = _handstand_base(n, rng)
    _both(pose, "hip_flex", _u(rng, 25, 115, n), rng, 2.0)
    _set(pose, "lumbar_ext", _u(rng, -15, 5, n))
    _both(pose, "sh_flex", _u(rng, 165, 195, n), rng, 1.5)
    return pose


def handstand_straddle(n: int, rng: np.random.Generator) -> np.ndarray:
    """Legs apart sideways, hips straight or piked."""
    pose = _handstand_base(n, rng)
    _both(pose, "hip_abd", _u(rng, 20, 65, n), rng, 4.0)
    _both(pose, "hip_flex", _u(rng, -10, 60, n), rng, 3.0)
    return pose


def handstand_split(n: int, rng: np.random.Generator) -> np.ndarray:
    """One leg forward, one back (also the kick-up/come-down leg positions)."""
    pose = _handstand_base(n, rng)
    front = _u(rng, 30, 110, n)
    back = -_u(rng, 15, 60, n)
    right_front = rng.uniform(size=n) < 0.5
    _set(pose, "r_hip_flex", np.where(right_front, front, back))
    _set(pose, "l_hip_flex", np.where(right_front, back, front))
    _set(pose, "lumbar_ext", _u(rng, -5, 20, n))
    return pose


def handstand_tuck(n: int, rng: np.random.Generator) -> np.ndarray:
    """Knees to the chest."""
    pose = _handstand_base(n, rng)
    _both(pose, "hip_flex", _u(rng, 70, 140, n), rng, 4.0)
    _both(pose, "knee", _u(rng, 80, 150, n), rng, 4.0)
    return pose


def handstand_stag(n: int, rng: np.random.Generator) -> np.ndarray:
    """One knee bent, that thigh forward."""
    pose = _handstand_base(n, rng)
    right = rng.uniform(size=n) < 0.5
    bent_knee = _u(rng, 50, 130, n)
    bent_hip = _u(rng, 10, 70, n)
    _set(pose, "r_knee", np.where(right, bent_knee, pose[:, P["r_knee"]]))
    _set(pose, "l_knee", np.where(right, pose[:, P["l_knee"]], bent_knee))
    _set(pose, "r_hip_flex", np.where(right, bent_hip, pose[:, P["r_hip_flex"]]))
    _set(pose, "l_hip_flex", np.where(right, pose[:, P["l_hip_flex"]], bent_hip))
    return pose


def handstand_bent_arms(n: int, rng: np.random.Generator) -> np.ndarray:
    """Handstand with bent elbows (push-up phase)."""
    pose = _handstand_base(n, rng)
    _both(pose, "elbow", _u(rng, 25, 48, n), rng, 2.0)
    _both(pose, "sh_flex", _u(rng, 150, 180, n), rng, 2.0)
    _set(pose, "lumbar_ext", _u(rng, -5, 25, n))
    return pose


def stand(n: int, rng: np.random.Generator) -> np.ndarray:
    """Standing with arms anywhere from down to overhead (overhead = hard negative)."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", _u(rng, -4, 8, n))
    arms = rng.uniform(size=n)
    flex = np.where(arms < 0.5, _u(rng, 150, 190, n), _u(rng, -10, 120, n))
    _both(pose, "sh_flex", flex, rng, 4.0)
    _both(pose, "sh_abd", np.where(arms > 0.85, _u(rng, 60, 100, n), _u(rng, 0, 25, n)), rng, 3)
    _set(pose, "lumbar_ext", np.where(rng.uniform(size=n) < 0.3, _u(rng, 5, 30, n),
                                      _u(rng, -5, 5, n)))
    _both(pose, "hip_flex", _u(rng, -8, 8, n), rng, 3.0)
    _both(pose, "knee", _u(rng, 0, 15, n), rng, 3.0)
    return pose


def stand_one_leg(n: int, rng: np.random.Generator) -> np.ndarray:
    """Tree pose and other one-leg stands, arms often overhead."""
    pose = stand(n, rng)
    _set(pose, "r_hip_flex", _u(rng, 20, 90, n))
    _set(pose, "r_hip_abd", _u(rng, 0, 70, n))
    _set(pose, "r_knee", _u(rng, 40, 140, n))
    return pose


def lunge(n: int, rng: np.random.Generator) -> np.ndarray:
    """Warrior/lunge: front knee bent, back leg long, arms up or out."""
    pose = stand(n, rng)
    front, back = "r", "l"
    _set(pose, "pitch", _u(rng, -5, 30, n))
    _set(pose, f"{front}_hip_flex", _u(rng, 50, 100, n))
    _set(pose, f"{front}_knee", _u(rng, 40, 100, n))
    _set(pose, f"{back}_hip_flex", -_u(rng, 10, 40, n))
    _set(pose, f"{back}_knee", _u(rng, 0, 20, n))
    return pose


def forward_fold(n: int, rng: np.random.Generator) -> np.ndarray:
    """Standing forward bend, hands towards or on the floor (inverted torso, feet down)."""
    pose = _neutral(n, rng)
    pitch = _u(rng, 80, 160, n)
    _set(pose, "pitch", pitch)
    _both(pose, "hip_flex", pitch - _u(rng, -10, 25, n), rng, 3.0)
    _both(pose, "knee", _u(rng, 0, 30, n), rng, 3.0)
    _both(pose, "sh_flex", _u(rng, 60, 185, n), rng, 5.0)
    _both(pose, "wrist_ext", _u(rng, 0, 90, n), rng, 5.0)
    _set(pose, "lumbar_ext", -_u(rng, 0, 20, n))
    return pose


def downward_dog(n: int, rng: np.random.Generator) -> np.ndarray:
    """Hands and feet on the floor, hips high."""
    pose = _neutral(n, rng)
    pitch = _u(rng, 120, 150, n)
    _set(pose, "pitch", pitch)
    _both(pose, "hip_flex", pitch - _u(rng, 25, 55, n), rng, 3.0)
    _both(pose, "sh_flex", _u(rng, 165, 185, n), rng, 3.0)
    _both(pose, "wrist_ext", _u(rng, 70, 90, n), rng, 5.0)
    _both(pose, "knee", _u(rng, 0, 20, n), rng, 3.0)
    _set(pose, "anchor_hands", 0.5)
    return pose


def plank(n: int, rng: np.random.Generator) -> np.ndarray:
    """Plank, push-up, lying prone or supine."""
    pose = _neutral(n, rng)
    supine = rng.uniform(size=n) < 0.3
    _set(pose, "pitch", np.where(supine, -90.0, 90.0) + rng.normal(0, 8, n))
    _both(pose, "sh_flex", np.where(supine, _u(rng, 0, 180, n), _u(rng, 70, 100, n)), rng, 3)
    _both(pose, "elbow", np.where(supine, _u(rng, 0, 30, n), _u(rng, 0, 90, n)), rng, 3.0)
    _both(pose, "wrist_ext", _u(rng, 60, 90, n), rng, 5.0)
    _both(pose, "plantar", _u(rng, 0, 30, n), rng, 5.0)
    return pose


def wheel(n: int, rng: np.random.Generator) -> np.ndarray:
    """Bridge/wheel backbend: hands and feet down, belly up."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", -_u(rng, 100, 150, n))
    _set(pose, "lumbar_ext", _u(rng, 20, 45, n))
    _set(pose, "thoracic_ext", _u(rng, 10, 30, n))
    _both(pose, "sh_flex", _u(rng, 170, 200, n), rng, 3.0)
    _both(pose, "hip_flex", -_u(rng, 10, 40, n), rng, 3.0)
    _both(pose, "knee", _u(rng, 50, 100, n), rng, 4.0)
    _both(pose, "wrist_ext", _u(rng, 70, 95, n), rng, 4.0)
    return pose


def l_sit(n: int, rng: np.random.Generator) -> np.ndarray:
    """L-sit/sitting: torso upright, legs forward, hands by the hips."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", _u(rng, -15, 15, n))
    _both(pose, "hip_flex", _u(rng, 70, 110, n), rng, 3.0)
    _both(pose, "knee", np.where(rng.uniform(size=n) < 0.6, _u(rng, 0, 10, n),
                                 _u(rng, 30, 140, n)), rng, 3.0)
    _both(pose, "sh_flex", _u(rng, -10, 20, n), rng, 3.0)
    _both(pose, "wrist_ext", _u(rng, 60, 90, n), rng, 3.0)
    _both(pose, "plantar", _u(rng, 20, 80, n), rng, 5.0)
    _set(pose, "lumbar_ext", -_u(rng, 0, 20, n))
    return pose


def crow(n: int, rng: np.random.Generator) -> np.ndarray:
    """Crow/crane arm balance: bent arms, knees on the upper arms, torso near horizontal."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", _u(rng, 95, 130, n))
    _both(pose, "hip_flex", _u(rng, 110, 140, n), rng, 3.0)
    _both(pose, "knee", _u(rng, 100, 145, n), rng, 4.0)
    _both(pose, "sh_flex", _u(rng, 60, 100, n), rng, 3.0)
    _both(pose, "elbow", _u(rng, 60, 100, n), rng, 4.0)
    _both(pose, "wrist_ext", _u(rng, 70, 95, n), rng, 4.0)
    _set(pose, "lumbar_ext", -_u(rng, 5, 25, n))
    _set(pose, "balance", 1.0)
    _set(pose, "anchor_hands", 1.0)
    return pose


def headstand(n: int, rng: np.random.Generator) -> np.ndarray:
    """Headstand (head and forearms/hands on the floor) with any leg shape."""
    pose = _handstand_base(n, rng)
    _both(pose, "sh_flex", _u(rng, 95, 150, n), rng, 3.0)
    _both(pose, "elbow", _u(rng, 70, 120, n), rng, 4.0)
    _both(pose, "hip_flex", np.where(rng.uniform(size=n) < 0.6, _u(rng, -10, 10, n),
                                     _u(rng, 20, 120, n)), rng, 3.0)
    _set(pose, "lumbar_ext", _u(rng, -5, 20, n))
    _set(pose, "neck_flex", _u(rng, -10, 10, n))
    return pose


def forearm_stand(n: int, rng: np.random.Generator) -> np.ndarray:
    """Forearm stand (pincha): forearms flat on the floor, often arched."""
    pose = _handstand_base(n, rng)
    _both(pose, "sh_flex", _u(rng, 150, 185, n), rng, 3.0)
    _both(pose, "elbow", _u(rng, 80, 100, n), rng, 3.0)
    _set(pose, "lumbar_ext", _u(rng, 0, 40, n))
    _both(pose, "hip_flex", _u(rng, -20, 30, n), rng, 3.0)
    _both(pose, "wrist_ext", _u(rng, 0, 20, n), rng, 3.0)
    return pose


def warrior_three(n: int, rng: np.random.Generator) -> np.ndarray:
    """One-leg balance with the body horizontal (warrior III, arabesque, half moon)."""
    pose = _neutral(n, rng)
    pitch = _u(rng, 60, 100, n)
    _set(pose, "pitch", pitch)
    _set(pose, "r_hip_flex", pitch + _u(rng, -10, 10, n))
    _set(pose, "l_hip_flex", _u(rng, -25, 10, n))
    _set(pose, "r_knee", _u(rng, 0, 20, n))
    _both(pose, "sh_flex", np.where(rng.uniform(size=n) < 0.6, _u(rng, 150, 185, n),
                                    _u(rng, 0, 90, n)), rng, 5.0)
    _both(pose, "sh_abd", _u(rng, 0, 90, n), rng, 8.0)
    _set(pose, "roll", np.where(rng.uniform(size=n) < 0.3, _u(rng, 50, 90, n), 0.0))
    return pose


def wide_stance(n: int, rng: np.random.Generator) -> np.ndarray:
    """Triangle, side angle, star, wide squat: legs apart, side bends, arms out."""
    pose = stand(n, rng)
    _both(pose, "hip_abd", _u(rng, 15, 45, n), rng, 4.0)
    _set(pose, "spine_lat", rng.choice([-1.0, 1.0], n) * _u(rng, 0, 70, n))
    _both(pose, "sh_abd", _u(rng, 60, 120, n), rng, 8.0)
    _both(pose, "sh_flex", _u(rng, -10, 30, n), rng, 5.0)
    squat = rng.uniform(size=n) < 0.3
    _both(pose, "hip_flex", np.where(squat, _u(rng, 60, 100, n), 0.0), rng, 5.0)
    _both(pose, "knee", np.where(squat, _u(rng, 70, 120, n), _u(rng, 0, 40, n)), rng, 5.0)
    return pose


def seated(n: int, rng: np.random.Generator) -> np.ndarray:
    """Seated and kneeling poses: forward folds, boat, child's pose, kneeling, lotus-like."""
    pose = _neutral(n, rng)
    kind = rng.uniform(size=n)
    _set(pose, "pitch", np.where(kind < 0.3, _u(rng, 30, 100, n), _u(rng, -45, 20, n)))
    _both(pose, "hip_flex", pose[:, P["pitch"]] + _u(rng, 60, 100, n), rng, 5.0)
    _both(pose, "knee", np.where(kind > 0.6, _u(rng, 100, 160, n), _u(rng, 0, 40, n)), rng, 5.0)
    _both(pose, "hip_abd", np.where(kind > 0.8, _u(rng, 20, 50, n), _u(rng, 0, 10, n)), rng, 3.0)
    _both(pose, "sh_flex", _u(rng, 0, 180, n), rng, 8.0)
    _both(pose, "elbow", _u(rng, 0, 90, n), rng, 5.0)
    _set(pose, "lumbar_ext", -_u(rng, 0, 25, n))
    return pose


def prone_backbend(n: int, rng: np.random.Generator) -> np.ndarray:
    """Cobra, upward dog, locust, bow: lying face down with the back arched."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", _u(rng, 80, 95, n))
    _set(pose, "lumbar_ext", _u(rng, 15, 45, n))
    _set(pose, "thoracic_ext", _u(rng, 5, 25, n))
    _both(pose, "sh_flex", _u(rng, -20, 60, n), rng, 5.0)
    _both(pose, "elbow", _u(rng, 0, 60, n), rng, 5.0)
    _both(pose, "wrist_ext", _u(rng, 60, 90, n), rng, 5.0)
    _both(pose, "knee", np.where(rng.uniform(size=n) < 0.3, _u(rng, 60, 140, n), 0.0), rng, 5)
    _both(pose, "hip_flex", -_u(rng, 0, 20, n), rng, 3.0)
    _both(pose, "plantar", _u(rng, 40, 90, n), rng, 5.0)
    return pose


def side_plank(n: int, rng: np.random.Generator) -> np.ndarray:
    """Side plank and side-lying: the body turned 90 degrees about its long axis."""
    pose = plank(n, rng)
    _set(pose, "roll", rng.choice([-1.0, 1.0], n) * _u(rng, 60, 90, n))
    _set(pose, "r_sh_abd", _u(rng, 70, 100, n))
    _set(pose, "l_sh_abd", _u(rng, 60, 180, n))
    _both(pose, "elbow", _u(rng, 0, 15, n), rng, 3.0)
    return pose


def shoulder_stand(n: int, rng: np.random.Generator) -> np.ndarray:
    """Shoulder stand, plow and legs-up-the-wall: inverted on the upper back, head flat down.

    A hard negative: the legs can make the same vertical line as a straight handstand.
    """
    pose = _neutral(n, rng)
    kind = rng.uniform(size=n)
    _set(pose, "pitch", np.where(kind < 0.75, _u(rng, 160, 190, n), _u(rng, 115, 150, n)))
    _set(pose, "neck_flex", _u(rng, 60, 90, n))
    legs = rng.uniform(size=n)
    hip = np.where(legs < 0.5, _u(rng, -10, 15, n),
                   np.where(legs < 0.8, _u(rng, 130, 175, n), _u(rng, 40, 110, n)))
    _both(pose, "hip_flex", hip, rng, 6.0)
    _both(pose, "knee", np.where(rng.uniform(size=n) < 0.8, _u(rng, 0, 10, n),
                                 _u(rng, 40, 130, n)), rng, 4.0)
    _both(pose, "hip_abd", np.where(rng.uniform(size=n) < 0.2, _u(rng, 20, 50, n), 0.0), rng, 3)
    # Hands on the back (elbows on the floor) or arms flat on the floor behind.
    on_back = rng.uniform(size=n) < 0.6
    _both(pose, "sh_flex", np.where(on_back, -_u(rng, 40, 75, n), -_u(rng, 75, 100, n)), rng, 4)
    _both(pose, "elbow", np.where(on_back, _u(rng, 80, 130, n), _u(rng, 0, 15, n)), rng, 4.0)
    _both(pose, "plantar", _u(rng, 30, 90, n), rng, 5.0)
    return pose


def supine(n: int, rng: np.random.Generator) -> np.ndarray:
    """Lying on the back: corpse pose, happy baby, one leg up, knees to the chest, bridge prep."""
    pose = _neutral(n, rng)
    _set(pose, "pitch", -90.0 + rng.normal(0.0, 6.0, n))
    kind = rng.uniform(size=n)
    both_up = _u(rng, 70, 140, n)
    _both(pose, "hip_flex", np.where(kind < 0.3, _u(rng, -5, 10, n), both_up), rng, 5.0)
    _both(pose, "knee", np.where(kind < 0.55, _u(rng, 0, 20, n), _u(rng, 60, 130, n)), rng, 5)
    _both(pose, "hip_abd", np.where(rng.uniform(size=n) < 0.4, _u(rng, 20, 60, n),
                                    _u(rng, 0, 10, n)), rng, 4.0)
    one_leg = kind > 0.8
    _set(pose, "l_hip_flex", np.where(one_leg, _u(rng, -5, 10, n), pose[:, P["l_hip_flex"]]))
    _set(pose, "l_knee", np.where(one_leg, _u(rng, 0, 15, n), pose[:, P["l_knee"]]))
    _both(pose, "sh_flex", _u(rng, 0, 180, n), rng, 20.0)
    _both(pose, "sh_abd", _u(rng, 0, 90, n), rng, 10.0)
    _both(pose, "elbow", _u(rng, 0, 90, n), rng, 10.0)
    _set(pose, "neck_flex", _u(rng, -10, 40, n))
    return pose


def kneeling(n: int, rng: np.random.Generator) -> np.ndarray:
    """Kneeling: sitting on the heels, camel (arched back, hands to the heels), low lunge."""
    pose = _neutral(n, rng)
    kind = rng.uniform(size=n)
    camel = kind < 0.35
    on_heels = (kind >= 0.35) & (kind < 0.7)
    _set(pose, "pitch", np.where(camel, -_u(rng, 10, 40, n), _u(rng, -10, 20, n)))
    _set(pose, "lumbar_ext", np.where(camel, _u(rng, 20, 45, n), _u(rng, -10, 10, n)))
    _set(pose, "thoracic_ext", np.where(camel, _u(rng, 10, 30, n), 0.0))
    _set(pose, "neck_flex", np.where(camel, -_u(rng, 20, 60, n), _u(rng, -10, 20, n)))
    _both(pose, "hip_flex", np.where(on_heels, _u(rng, 70, 110, n), -_u(rng, 0, 25, n)), rng, 5)
    _both(pose, "knee", np.where(on_heels, _u(rng, 140, 160, n), _u(rng, 80, 110, n)), rng, 5)
    _both(pose, "sh_flex", np.where(camel, -_u(rng, 30, 70, n), _u(rng, 0, 185, n)), rng, 8)
    _both(pose, "elbow", np.where(camel, _u(rng, 0, 20, n), _u(rng, 0, 90, n)), rng, 5.0)
    # Low lunge: one knee down behind, the other foot forward.
    lunge_leg = kind > 0.85
    _set(pose, "r_hip_flex", np.where(lunge_leg, _u(rng, 70, 110, n), pose[:, P["r_hip_flex"]]))
    _set(pose, "r_knee", np.where(lunge_leg, _u(rng, 70, 110, n), pose[:, P["r_knee"]]))
    return pose


def free_pose(n: int, rng: np.random.Generator) -> np.ndarray:
    """Broad coverage of the yoga and floor poses no other family draws.

    Any base orientation (upright, leaning, lying, inverted on the back) with every limb angle
    sampled on its own, so left and right legs and arms do different things (compass, firefly,
    one-legged balances; the body model has no spinal twist, so true twists stay out of reach).
    """
    pose = _neutral(n, rng)
    base = rng.choice(np.array([0.0, 45.0, 90.0, -90.0, -45.0, 170.0]), n,
                      p=[0.3, 0.15, 0.2, 0.2, 0.1, 0.05])
    _set(pose, "pitch", base + rng.normal(0.0, 15.0, n))
    _set(pose, "roll", np.where(rng.uniform(size=n) < 0.2, rng.normal(0.0, 45.0, n),
                                pose[:, P["roll"]]))
    _set(pose, "lumbar_ext", _u(rng, -30, 35, n))
    _set(pose, "spine_lat", rng.normal(0.0, 15.0, n))
    _set(pose, "neck_flex", _u(rng, -40, 50, n))
    for side in ("r", "l"):
        _set(pose, f"{side}_sh_flex", _u(rng, -60, 200, n))
        _set(pose, f"{side}_sh_abd", _u(rng, 0, 120, n))
        _set(pose, f"{side}_elbow", _u(rng, 0, 140, n))
        _set(pose, f"{side}_hip_flex", _u(rng, -40, 150, n))
        _set(pose, f"{side}_hip_abd", _u(rng, 0, 70, n))
        _set(pose, f"{side}_knee", np.where(rng.uniform(size=n) < 0.5, _u(rng, 0, 15, n),
                                           _u(rng, 15, 160, n)))
        _set(pose, f"{side}_wrist_ext", _u(rng, 0, 90, n))
    return pose


def held_leg(n: int, rng: np.random.Generator) -> np.ndarray:
    """Poses with a hand holding a foot.

    Dancer (standing), bow (prone) and heron (seated, one leg held straight up).
    """
    pose = _neutral(n, rng)
    kind = rng.uniform(size=n)
    dancer, bow = kind < 0.4, (kind >= 0.4) & (kind < 0.7)
    heron = kind >= 0.7
    _set(pose, "pitch", np.where(dancer, _u(rng, 10, 60, n),
                                 np.where(bow, _u(rng, 80, 95, n), _u(rng, -20, 10, n))))
    _set(pose, "lumbar_ext", np.where(heron, -_u(rng, 0, 15, n), _u(rng, 15, 40, n)))
    _set(pose, "neck_flex", np.where(heron, _u(rng, -10, 20, n), -_u(rng, 0, 40, n)))
    # The held leg (right): behind and bent for the dancer and the bow, up and straight for
    # the heron; the hand on that side reaches it.
    _set(pose, "r_hip_flex", np.where(heron, _u(rng, 110, 160, n), -_u(rng, 20, 70, n)))
    _set(pose, "r_knee", np.where(heron, _u(rng, 0, 15, n), _u(rng, 90, 140, n)))
    _set(pose, "r_sh_flex", np.where(heron, _u(rng, 100, 150, n), -_u(rng, 30, 70, n)))
    _set(pose, "r_elbow", _u(rng, 0, 20, n))
    # The other leg stands (dancer), lies (bow) or rests bent on the floor (heron).
    _set(pose, "l_hip_flex", np.where(bow, pose[:, P["r_hip_flex"]] + rng.normal(0, 8, n),
                                      np.where(dancer, _u(rng, -5, 10, n), _u(rng, 60, 100, n))))
    _set(pose, "l_knee", np.where(bow, pose[:, P["r_knee"]] + rng.normal(0, 8, n),
                                  np.where(dancer, _u(rng, 0, 10, n), _u(rng, 100, 150, n))))
    _set(pose, "l_sh_flex", np.where(bow, pose[:, P["r_sh_flex"]] + rng.normal(0, 8, n),
                                     np.where(dancer, _u(rng, 90, 180, n), _u(rng, 90, 150, n))))
    return pose


HANDSTAND_FAMILIES: dict[str, PoseSampler] = {
    "straight": handstand_straight,
    "banana": handstand_banana,
}
OTHER_HANDSTAND_FAMILIES: dict[str, PoseSampler] = {
    "pike": handstand_pike,
    "straddle": handstand_straddle,
    "split": handstand_split,
    "tuck": handstand_tuck,
    "stag": handstand_stag,
    "bent_arms": handstand_bent_arms,
}
NOT_HANDSTAND_FAMILIES: dict[str, PoseSampler] = {
    "stand": stand,
    "stand_one_leg": stand_one_leg,
    "lunge": lunge,
    "forward_fold": forward_fold,
    "downward_dog": downward_dog,
    "plank": plank,
    "wheel": wheel,
    "l_sit": l_sit,
    "crow": crow,
    "headstand": headstand,
    "forearm_stand": forearm_stand,
    "warrior_three": warrior_three,
    "wide_stance": wide_stance,
    "seated": seated,
    "prone_backbend": prone_backbend,
    "side_plank": side_plank,
    "shoulder_stand": shoulder_stand,
    "supine": supine,
    "kneeling": kneeling,
    "free_pose": free_pose,
    "held_leg": held_leg,
}

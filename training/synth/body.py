"""A 3D kinematic human: sampled anthropometry, joint angles and forward kinematics.

World frame: metres, ``y`` up, floor at ``y = 0``. Body frame (standing, before the root
rotation): ``y`` along the spine, ``z`` out of the chest (anterior), ``x`` to the person's
left. The right side of the body is at ``-x``.

Poses are vectors of joint angles in degrees (see ``PARAM_NAMES``); all functions are
vectorized over any number of leading dimensions.
"""

from __future__ import annotations

import numpy as np

# Joint angles and placement controls of one frame, in degrees unless stated.
PARAM_NAMES: tuple[str, ...] = (
    "pitch",  # whole-body rotation about the lateral axis: 0 upright, 90 bent forward, 180 inverted
    "roll",  # whole-body lateral tilt
    "yaw",  # facing direction in the world
    "lumbar_ext",  # lower-spine extension (+ arches the back)
    "thoracic_ext",  # upper-spine extension
    "spine_lat",  # lateral spine bend
    "neck_flex",  # + chin to chest, - head back (in a handstand: looking at the floor)
    "r_sh_flex",  # shoulder flexion: 0 arm down, 90 forward, 180 overhead, > 180 open shoulders
    "l_sh_flex",
    "r_sh_abd",  # shoulder abduction (arm out to the side)
    "l_sh_abd",
    "r_elbow",  # elbow flexion
    "l_elbow",
    "r_wrist_ext",  # wrist extension (90: hand flat on the floor in a handstand)
    "l_wrist_ext",
    "r_hip_flex",  # hip flexion: + leg forward (pike), - leg behind (extension, arch)
    "l_hip_flex",
    "r_hip_abd",  # hip abduction (straddle)
    "l_hip_abd",
    "r_knee",  # knee flexion
    "l_knee",
    "r_plantar",  # ankle plantar flexion (90: pointed toes)
    "l_plantar",
    "balance",  # 0..1: share of the turn about the hands that puts the centre of mass above them
    "sway",  # pitch added after balancing (balance sway in a hold)
    "anchor_hands",  # 0..1: horizontal anchor blends feet (0) to hands (1)
    "root_x",  # metres: where the anchor sits on the floor
    "root_z",
)
P: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
NUM_PARAMS = len(PARAM_NAMES)

# 3D points produced by forward kinematics.
POINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle", "spine_mid",
    "thorax", "r_shoulder", "l_shoulder", "r_elbow", "l_elbow", "r_wrist", "l_wrist",
    "head_center", "nose", "r_ear", "l_ear", "head_top", "r_toe", "l_toe", "r_heel", "l_heel",
    "r_hand", "l_hand", "pelvis_front", "chest_front",
)  # fmt: skip
J: dict[str, int] = {name: i for i, name in enumerate(POINT_NAMES)}
NUM_POINTS = len(POINT_NAMES)

# Body dimensions, in metres, per person.
DIM_NAMES: tuple[str, ...] = (
    "height", "hip_half", "thigh", "shank", "ankle_height", "foot", "lumbar", "thoracic",
    "shoulder_half", "shoulder_drop", "shoulder_elevation", "upper_arm", "forearm", "hand",
    "neck", "head_radius",
    "ear_half", "nose_forward", "head_back",
)  # fmt: skip
D: dict[str, int] = {name: i for i, name in enumerate(DIM_NAMES)}

# Segment lengths as fractions of body height, started from Winter's segment-length table
# (Biomechanics and Motor Control of Human Movement) and moved to where BlazePose puts its
# landmarks: on the dev photos BlazePose's torso (mid-shoulder to mid-hip) is longer and its
# neck-to-head distance larger than the anatomical ones (see benchmarks/bench_synth_realism.py).
_DIM_FRACTIONS: dict[str, float] = {
    "hip_half": 0.052,
    "thigh": 0.245,
    "shank": 0.24,
    "ankle_height": 0.039,
    "foot": 0.13,
    "lumbar": 0.14,
    "thoracic": 0.17,
    "shoulder_half": 0.082,
    "shoulder_drop": 0.0,
    "shoulder_elevation": 0.04,
    "upper_arm": 0.186,
    "forearm": 0.155,
    "hand": 0.09,
    "neck": 0.13,
    "head_radius": 0.07,
    "ear_half": 0.043,
    "nose_forward": 0.055,
    "head_back": 0.055,
}

# Centre-of-mass model: (point a, point b, mass fraction) with the segment centre at the midpoint.
_MASS_SEGMENTS: tuple[tuple[str, str, float], ...] = (
    ("head_center", "head_center", 0.081),
    ("pelvis", "spine_mid", 0.25),
    ("spine_mid", "thorax", 0.25),
    ("r_shoulder", "r_elbow", 0.028),
    ("l_shoulder", "l_elbow", 0.028),
    ("r_elbow", "r_wrist", 0.022),
    ("l_elbow", "l_wrist", 0.022),
    ("r_hip", "r_knee", 0.1),
    ("l_hip", "l_knee", 0.1),
    ("r_knee", "r_ankle", 0.061),
    ("l_knee", "l_ankle", 0.061),
)

# How far each contact point sits above the floor when it touches it (metres).
_FLOOR_CLEARANCE: dict[str, float] = {
    "r_wrist": 0.035, "l_wrist": 0.035, "r_hand": 0.01, "l_hand": 0.01,
    "r_elbow": 0.04, "l_elbow": 0.04, "r_knee": 0.05, "l_knee": 0.05,
    "r_toe": 0.015, "l_toe": 0.015, "r_heel": 0.015, "l_heel": 0.015,
    "head_top": 0.0, "pelvis": 0.1,
}  # fmt: skip


def sample_bodies(n: int, rng: np.random.Generator) -> np.ndarray:
    """Samples ``n`` people: height and per-segment proportions.

    Args:
        n: number of people.
        rng: random generator.

    Returns:
        (n, len(DIM_NAMES)) float64 body dimensions in metres.
    """
    dims = np.empty((n, len(DIM_NAMES)))
    height = np.clip(rng.normal(1.70, 0.1, n), 1.45, 2.0)
    dims[:, D["height"]] = height
    # Correlated proportions: long-legged vs long-torso people, broad vs narrow.
    leg_factor = rng.normal(1.0, 0.035, n)
    width_factor = rng.normal(1.0, 0.07, n)
    for name, fraction in _DIM_FRACTIONS.items():
        factor = rng.normal(1.0, 0.03, n)
        if name in ("thigh", "shank"):
            factor *= leg_factor
        elif name in ("lumbar", "thoracic"):
            factor *= 2.0 - leg_factor
        elif name in ("hip_half", "shoulder_half"):
            factor *= width_factor
        elif name == "head_back":
            # How far people let the head sit back between the arms varies a lot.
            factor = rng.normal(1.0, 0.35, n)
        dims[:, D[name]] = fraction * height * factor
    return dims


def rot_x(deg: np.ndarray) -> np.ndarray:
    """Rotation matrices about x; (...,) degrees -> (..., 3, 3)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(a.shape + (3, 3))


def rot_y(deg: np.ndarray) -> np.ndarray:
    """Rotation matrices about y; (...,) degrees -> (..., 3, 3)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(a.shape + (3, 3))


def rot_z(deg: np.ndarray) -> np.ndarray:
    """Rotation matrices about z; (...,) degrees -> (..., 3, 3)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(a.shape + (3, 3))


def _apply(rotation: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", rotation, vector)


def _vec(x: np.ndarray | float, y: np.ndarray | float, z: np.ndarray | float, like: np.ndarray):
    shape = like.shape
    return np.stack(
        [np.broadcast_to(x, shape), np.broadcast_to(y, shape), np.broadcast_to(z, shape)], -1
    )


def local_points(params: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Forward kinematics in the body frame (no root rotation, pelvis at the origin).

    Args:
        params: (..., NUM_PARAMS) joint angles.
        dims: (..., len(DIM_NAMES)) body dimensions, broadcastable to ``params``.

    Returns:
        (..., NUM_POINTS, 3) points in metres.
    """
    p = {name: params[..., i] for name, i in P.items()}
    d = {name: np.broadcast_to(dims[..., i], params.shape[:-1]) for name, i in D.items()}
    zero = np.zeros(params.shape[:-1])
    out = np.zeros(params.shape[:-1] + (NUM_POINTS, 3))

    # Legs hang from the pelvis frame (the identity here).
    for side, sign in (("r", -1.0), ("l", 1.0)):
        hip = _vec(sign * d["hip_half"], zero, zero, zero)
        r_thigh = rot_x(-p[f"{side}_hip_flex"]) @ rot_z(sign * p[f"{side}_hip_abd"])
        knee = hip + _apply(r_thigh, _vec(zero, -d["thigh"], zero, zero))
        r_shank = r_thigh @ rot_x(p[f"{side}_knee"])
        ankle = knee + _apply(r_shank, _vec(zero, -d["shank"], zero, zero))
        toe_angle = np.deg2rad(20.0 + 0.78 * p[f"{side}_plantar"])
        toe = ankle + _apply(
            r_shank,
            _vec(zero, -np.sin(toe_angle) * d["foot"], np.cos(toe_angle) * d["foot"], zero),
        )
        heel = ankle + _apply(
            r_shank, _vec(zero, -d["ankle_height"], -0.25 * d["foot"], zero)
        )
        out[..., J[f"{side}_hip"], :] = hip
        out[..., J[f"{side}_knee"], :] = knee
        out[..., J[f"{side}_ankle"], :] = ankle
        out[..., J[f"{side}_toe"], :] = toe
        out[..., J[f"{side}_heel"], :] = heel

    r_lumbar = rot_x(-p["lumbar_ext"]) @ rot_z(0.5 * p["spine_lat"])
    spine_mid = _apply(r_lumbar, _vec(zero, d["lumbar"], zero, zero))
    r_chest = r_lumbar @ rot_x(-p["thoracic_ext"]) @ rot_z(0.5 * p["spine_lat"])
    thorax = spine_mid + _apply(r_chest, _vec(zero, d["thoracic"], zero, zero))
    out[..., J["spine_mid"], :] = spine_mid
    out[..., J["thorax"], :] = thorax
    out[..., J["pelvis_front"], :] = _vec(zero, zero, 0.1 * d["height"], zero)
    out[..., J["chest_front"], :] = thorax + _apply(
        r_chest, _vec(zero, zero, 0.1 * d["height"], zero)
    )

    # With both arms raised overhead the head sits back between them: on real photos
    # BlazePose's nose lies on the shoulder-hip line in a handstand, about 0.14 torso lengths
    # behind where a neutral head would put it ("nose from the shoulder-hip line" in
    # benchmarks/bench_synth_realism.py).
    arms_raised = np.clip((0.5 * (p["r_sh_flex"] + p["l_sh_flex"]) - 90.0) / 90.0, 0.0, 1.0)
    head_forward = 0.01 * d["height"] - arms_raised * d["head_back"]
    r_neck = r_chest @ rot_x(0.5 * p["neck_flex"])
    head_center = thorax + _apply(r_neck, _vec(zero, d["neck"], head_forward, zero))
    r_head = r_neck @ rot_x(0.5 * p["neck_flex"])
    out[..., J["head_center"], :] = head_center
    out[..., J["nose"], :] = head_center + _apply(
        r_head, _vec(zero, -0.015 * d["height"], d["nose_forward"], zero)
    )
    out[..., J["r_ear"], :] = head_center + _apply(r_head, _vec(-d["ear_half"], zero, zero, zero))
    out[..., J["l_ear"], :] = head_center + _apply(r_head, _vec(d["ear_half"], zero, zero, zero))
    out[..., J["head_top"], :] = head_center + _apply(
        r_head, _vec(zero, d["head_radius"], zero, zero)
    )

    for side, sign in (("r", -1.0), ("l", 1.0)):
        shoulder = thorax + _apply(r_chest, _vec(sign * d["shoulder_half"], -d["shoulder_drop"],
                                                 zero, zero))
        r_upper = r_chest @ rot_x(-p[f"{side}_sh_flex"]) @ rot_z(sign * p[f"{side}_sh_abd"])
        elbow = shoulder + _apply(r_upper, _vec(zero, -d["upper_arm"], zero, zero))
        r_fore = r_upper @ rot_x(-p[f"{side}_elbow"])
        wrist = elbow + _apply(r_fore, _vec(zero, -d["forearm"], zero, zero))
        r_hand = r_fore @ rot_x(p[f"{side}_wrist_ext"])
        hand = wrist + _apply(r_hand, _vec(zero, -d["hand"], zero, zero))
        # BlazePose's shoulder landmark rides up with the shoulder girdle when the arm is
        # raised (scapulohumeral rhythm); the arm itself hangs from the joint.
        raise_share = np.clip((p[f"{side}_sh_flex"] - 60.0) / 120.0, 0.0, 1.0)
        out[..., J[f"{side}_shoulder"], :] = shoulder + _apply(
            r_chest, _vec(zero, raise_share * d["shoulder_elevation"], zero, zero))
        out[..., J[f"{side}_elbow"], :] = elbow
        out[..., J[f"{side}_wrist"], :] = wrist
        out[..., J[f"{side}_hand"], :] = hand
    return out


def center_of_mass(points: np.ndarray) -> np.ndarray:
    """(..., NUM_POINTS, 3) -> (..., 3) whole-body centre of mass."""
    total = np.zeros(points.shape[:-2] + (3,))
    weight = 0.0
    for a, b, mass in _MASS_SEGMENTS:
        total += mass * 0.5 * (points[..., J[a], :] + points[..., J[b], :])
        weight += mass
    return total / weight


def world_points(params: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Forward kinematics into the world: root rotation, balance over the hands, floor contact.

    Args:
        params: (..., NUM_PARAMS) joint angles and placement controls.
        dims: (..., len(DIM_NAMES)) body dimensions, broadcastable to ``params``.

    Returns:
        (..., NUM_POINTS, 3) points in metres, y up, lowest contact point on the floor.
    """
    local = local_points(params, dims)
    pre = rot_x(params[..., P["pitch"]]) @ rot_z(params[..., P["roll"]])
    points = np.einsum("...ij,...kj->...ki", pre, local)
    # Rotate about the hands (in the sagittal y-z plane) so the centre of mass lies above them.
    wrists = 0.5 * (points[..., J["r_wrist"], :] + points[..., J["l_wrist"], :])
    offset = center_of_mass(points) - wrists
    tilt = np.rad2deg(np.arctan2(offset[..., 2], np.maximum(offset[..., 1], 1e-6)))
    correction = -params[..., P["balance"]] * tilt + params[..., P["sway"]]
    # Balancing on the hands also levels them: both wrists carry the body.
    across = points[..., J["l_wrist"], :] - points[..., J["r_wrist"], :]
    level = np.rad2deg(np.arctan2(across[..., 1], np.abs(across[..., 0]) + 1e-6))
    level *= np.sign(across[..., 0] + 1e-9) * params[..., P["balance"]]
    post = rot_y(params[..., P["yaw"]]) @ rot_x(correction) @ rot_z(-level)
    points = np.einsum("...ij,...kj->...ki", post, points - wrists[..., None, :])

    contact = [J[name] for name in _FLOOR_CLEARANCE]
    clearance = np.array(list(_FLOOR_CLEARANCE.values()))
    floor = (points[..., contact, 1] - clearance).min(axis=-1)
    anchor_weight = params[..., P["anchor_hands"], None]
    hands = 0.5 * (points[..., J["r_wrist"], :] + points[..., J["l_wrist"], :])
    feet = 0.5 * (points[..., J["r_ankle"], :] + points[..., J["l_ankle"], :])
    anchor = anchor_weight * hands + (1.0 - anchor_weight) * feet
    shift = np.stack(
        [params[..., P["root_x"]] - anchor[..., 0], -floor,
         params[..., P["root_z"]] - anchor[..., 2]],
        axis=-1,
    )
    return points + shift[..., None, :]

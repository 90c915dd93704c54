"""2D side-view stick handstands for the explanation tests (straight and banana), and checks.

Shared by tests/test_explain_*.py: a small generator that needs nothing outside the tests, so
these tests keep working whatever the synthetic 3D generator does.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from engine.ideal import body_height
from engine.skeleton import (
    HEAD_TOP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
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

# Segment lengths in units of body height (head top to ankle along the bones is ~1).
FOREARM, UPPER_ARM, TRUNK, NECK, HEAD, THIGH, SHIN = 0.15, 0.17, 0.31, 0.06, 0.13, 0.25, 0.25
HALF_HIPS, HALF_SHOULDERS = 0.015, 0.02
TINY_CLIP_LENGTH = 4


def _direction(degrees: float) -> np.ndarray:
    """Unit vector pointing up the image (-y), turned ``degrees`` towards +x."""
    radians = np.deg2rad(degrees)
    return np.array([np.sin(radians), -np.cos(radians)])


def stick_handstand(
    rng: np.random.Generator, *, banana: bool, size: tuple[int, int] = (480, 640)
) -> np.ndarray:
    """One side-view handstand as (16, 3) pixel keypoints with confidence 1.

    Angles are measured from the vertical towards the athlete's front. Straight: arms,
    trunk and legs within a few degrees of one line. Banana: closed shoulders (trunk leaning
    forward of the arms) and an arched lower back (legs falling behind).

    Args:
        rng: randomness.
        banana: which form.
        size: (w, h) image size the pose is placed in.
    """
    arms = rng.normal(0.0, 2.0)
    if banana:
        trunk = arms + rng.uniform(8.0, 20.0)
        legs = trunk - rng.uniform(30.0, 55.0)
    else:
        trunk = arms + rng.uniform(-4.0, 4.0)
        legs = trunk + rng.uniform(-4.0, 4.0)
    head = trunk + rng.uniform(-10.0, 10.0) + 180.0
    pose = np.zeros((16, 2))
    for wrist, elbow, shoulder in ((R_WRIST, R_ELBOW, R_SHOULDER), (L_WRIST, L_ELBOW, L_SHOULDER)):
        pose[wrist] = 0.0
        pose[elbow] = pose[wrist] + FOREARM * _direction(arms + rng.normal(0, 1))
        pose[shoulder] = pose[elbow] + UPPER_ARM * _direction(arms + rng.normal(0, 1))
    pose[R_SHOULDER, 0] += HALF_SHOULDERS
    pose[L_SHOULDER, 0] -= HALF_SHOULDERS
    pose[THORAX] = pose[[R_SHOULDER, L_SHOULDER]].mean(0)
    pose[UPPER_NECK] = pose[THORAX] + NECK * _direction(head)
    pose[HEAD_TOP] = pose[UPPER_NECK] + HEAD * _direction(head)
    pose[PELVIS] = pose[THORAX] + TRUNK * _direction(trunk)
    pose[R_HIP] = pose[PELVIS] + [HALF_HIPS, 0.0]
    pose[L_HIP] = pose[PELVIS] - [HALF_HIPS, 0.0]
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        pose[knee] = pose[hip] + THIGH * _direction(legs + rng.normal(0, 1.5))
        pose[ankle] = pose[knee] + SHIN * _direction(legs + rng.normal(0, 1.5))
    if rng.random() < 0.5:  # facing left instead of right
        pose[:, 0] = -pose[:, 0]
    width, height = size
    scale = rng.uniform(0.45, 0.6) * height
    position = np.array([width * rng.uniform(0.4, 0.6), height * rng.uniform(0.8, 0.9)])
    out = np.ones((16, 3), dtype=np.float32)
    out[:, :2] = pose * scale + position
    out[:, :2] += rng.normal(0.0, 0.003 * scale, size=(16, 2))
    return out


def stick_dataset(
    n: int, rng: np.random.Generator, size: tuple[int, int] = (480, 640)
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` poses, half straight half banana: ``(keypoints (n, 16, 3), labels (n,))``.

    Labels index ``FORM_LABELS``: 0 straight, 1 banana.
    """
    labels = np.arange(n) % 2
    poses = np.stack([stick_handstand(rng, banana=bool(label), size=size) for label in labels])
    return poses, labels


def test_stick_poses_have_unit_height_before_scaling():
    rng = np.random.default_rng(0)
    poses, labels = stick_dataset(20, rng)
    heights = body_height(poses)
    assert np.all(heights > 100) and np.all(heights < 500)
    assert set(labels.tolist()) == {0, 1}


def test_banana_hips_lie_off_the_hand_to_feet_line():
    rng = np.random.default_rng(1)

    def bulge(pose):
        hands = pose[[R_WRIST, L_WRIST], :2].mean(0)
        feet = pose[[R_ANKLE, L_ANKLE], :2].mean(0)
        hips = pose[[R_HIP, L_HIP], :2].mean(0)
        axis = (feet - hands) / np.linalg.norm(feet - hands)
        rel = hips - hands
        return abs(rel[0] * axis[1] - rel[1] * axis[0]) / body_height(pose)

    straight = [bulge(stick_handstand(rng, banana=False)) for _ in range(20)]
    banana = [bulge(stick_handstand(rng, banana=True)) for _ in range(20)]
    assert max(straight) < min(banana)


@functools.lru_cache(maxsize=1)
def tiny_classifier():
    """A ``FormClassifier`` around the tiny FormNet trained on stick poses (about 3 s, cached).

    Separable task: straight (0) versus banana (1); the view head learns that every stick pose
    is a side view.
    """
    from engine.features import normalize_clip
    from engine.form import FormClassifier, InputChecks
    from engine.models import create_model

    torch.manual_seed(0)
    poses, labels = stick_dataset(400, np.random.default_rng(100))
    features = torch.as_tensor(np.stack([normalize_clip(pose[None]) for pose in poses]))
    features = features.repeat(1, TINY_CLIP_LENGTH, 1, 1)
    targets = torch.as_tensor(labels)
    model = create_model("form_handstand_test")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        batch = torch.randint(0, len(features), (64,), generator=generator)
        logits, view_logit, _ = model(features[batch])
        loss = torch.nn.functional.cross_entropy(logits, targets[batch])
        loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
            view_logit, torch.ones_like(view_logit)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return FormClassifier(
        model, temperature=1.0, clip_length=TINY_CLIP_LENGTH, checks=InputChecks(view_threshold=0.0)
    )

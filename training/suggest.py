"""Which item to label next: the form model's uncertainty, so the first labels teach the most.

``python -m training.label PATH... --suggest`` puts the unlabeled items in the order of

    score = entropy + disagreement

- **entropy** (nats, 0 .. ln 4 = 1.39) of the 4-class probabilities the app would show for the
  item's pose (the shipped or ``--weights`` model, mirror-averaged and calibrated);
- **disagreement** (nats, 0 .. ln 3 = 1.10): the Jensen-Shannon divergence between the model's
  probabilities for three views of the same frame: the pose as found, the pose BlazePose finds
  with the frame turned by 180 degrees (the other orientation pass, mapped back to the frame's
  pixels; handstands are upside down, so the two passes often disagree exactly where the pose
  is doubtful), and the mirror image of the pose. A view that is not available (no person in
  the other orientation, a back-end without orientation passes) is left out.

Items whose pose has no person come after every scored item (the model cannot be uncertain
about them and training skips them), labeled items last. ``suggest_items`` gathers the poses
(cached in the label store, or computed and cached) and orders the labeler's items; the rest is
pure numpy/torch on given poses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.features import flip_features, prepare_clip
from engine.media import FrameReader
from engine.skeleton import NUM_JOINTS
from training.label_session import Item
from training.store import CachedPose, LabelStore

VIEW_NAMES = ("as is", "180 deg", "mirror")


@dataclass(frozen=True)
class Uncertainty:
    """Why an item is where it is in the suggested order.

    Attributes:
        entropy: nats, of the app's calibrated class probabilities.
        disagreement: nats, Jensen-Shannon divergence among the available views.
        top_labels: view name -> the most probable class in that view.
    """

    entropy: float
    disagreement: float
    top_labels: dict[str, str]

    @property
    def score(self) -> float:
        """The ranking key: entropy + disagreement (higher is asked first)."""
        return self.entropy + self.disagreement

    def reason(self) -> str:
        """One line for the labeling window."""
        views = ", ".join(f"{name}: {label}" for name, label in self.top_labels.items())
        return (f"uncertainty {self.score:.2f} = entropy {self.entropy:.2f} + "
                f"disagreement {self.disagreement:.2f} ({views})")


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats.

    Args:
        probabilities: (..., C), each row summing to 1.

    Returns:
        (...) float64.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=-1)


def disagreement(views: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence among views: entropy of their mean minus their mean entropy.

    Args:
        views: (N, V, C) probabilities; a view row of NaN is missing and left out.

    Returns:
        (N,) float64 nats (0 when fewer than two views are present).
    """
    views = np.asarray(views, dtype=np.float64)
    present = np.isfinite(views).all(axis=-1)  # (N, V)
    filled = np.where(present[..., None], views, 0.0)
    count = present.sum(axis=1)
    mean = filled.sum(axis=1) / np.maximum(count, 1)[:, None]
    mean_entropy = np.where(present, entropy(filled), 0.0).sum(axis=1) / np.maximum(count, 1)
    return np.where(count >= 2, np.maximum(entropy(mean) - mean_entropy, 0.0), 0.0)


def _raw_probabilities(classifier, features: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of features without the mirror averaging: (N, C)."""
    with torch.no_grad():
        logits, _, _ = classifier.model(torch.from_numpy(np.ascontiguousarray(features)))
    return torch.softmax(logits.float() / classifier.temperature, dim=-1).numpy()


def uncertainties(
    classifier,
    keypoints: np.ndarray,
    rotated: np.ndarray | None = None,
) -> list[Uncertainty]:
    """The uncertainty of the form model about each pose.

    Args:
        classifier: an ``engine.form.FormClassifier`` (its eager ``model``, ``temperature``,
            ``clip_length``, ``checks`` and ``scores`` are used).
        keypoints: (N, 16, 3) float32 poses as found (one photo or frame each).
        rotated: (N, 16, 3) the poses of the other orientation pass, NaN where none.

    Returns:
        One ``Uncertainty`` per pose, in order.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    count = len(keypoints)
    if count == 0:
        return []

    def features(poses: np.ndarray) -> np.ndarray:
        return np.stack([
            prepare_clip(pose[None], classifier.clip_length, classifier.checks.min_confidence)
            for pose in poses
        ]).astype(np.float32)

    as_is = features(keypoints)
    app, _ = classifier.scores(as_is)
    views = np.full((count, len(VIEW_NAMES), app.shape[1]), np.nan)
    views[:, 0] = _raw_probabilities(classifier, as_is)
    views[:, 2] = _raw_probabilities(classifier, flip_features(as_is))
    if rotated is not None:
        rotated = np.asarray(rotated, dtype=np.float32)
        has = np.isfinite(rotated[..., :2]).all(axis=(1, 2)) & (
            np.nan_to_num(rotated[..., 2]) > 0).any(axis=1)
        if has.any():
            views[has, 1] = _raw_probabilities(classifier, features(rotated[has]))
    spread = disagreement(views)
    uncertain = entropy(app)
    labels = classifier.labels
    result = []
    for i in range(count):
        tops = {name: labels[int(np.argmax(views[i, v]))]
                for v, name in enumerate(VIEW_NAMES) if np.isfinite(views[i, v]).all()}
        result.append(Uncertainty(float(uncertain[i]), float(spread[i]), tops))
    return result


def suggested_order(
    scores: Sequence[Uncertainty | None], labeled: Sequence[bool]
) -> list[int]:
    """Indices of items in the order to label them.

    Args:
        scores: per item, its uncertainty, or None when its pose has no person.
        labeled: per item, whether it already has a label.

    Returns:
        Unlabeled scored items by decreasing score (ties keep their order), then unlabeled
        items without a person, then labeled items, each group in its original order.
    """
    def key(index: int) -> tuple[int, float, int]:
        if labeled[index]:
            return (2, 0.0, index)
        if scores[index] is None:
            return (1, 0.0, index)
        return (0, -scores[index].score, index)

    return sorted(range(len(scores)), key=key)


def suggest_items(
    store: LabelStore,
    items: Sequence[Item],
    classifier,
    backend,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Item], dict[int, str]]:
    """Orders the labeler's items by the model's uncertainty (see the module docstring).

    The pose of each unlabeled item is taken from the store (``backend``'s cached pose) or
    computed and cached; with a back-end that has ``estimate_in_orientation`` (BlazePose), the
    other orientation's pose is computed too (not cached: it only serves the ranking).

    Args:
        store: the label store.
        items: the items, in their plain order.
        classifier: the form model (``engine.form.FormClassifier``).
        backend: a ``PoseBackend`` in image mode.
        progress: called with (done, total) after each unlabeled item.

    Returns:
        ``(items in the suggested order, frame id -> why the item is where it is)``.
    """
    labeled_ids = store.labeled_frame_ids()
    labeled = [item.frame_id in labeled_ids for item in items]
    todo = [i for i, done in enumerate(labeled) if not done]
    name, version = str(backend.name), str(getattr(backend, "version", ""))
    other_pass = getattr(backend, "estimate_in_orientation", None)
    poses: dict[int, CachedPose] = {}
    rotated: dict[int, np.ndarray] = {}
    fresh: list[tuple[int, np.ndarray | None, tuple[int, int], int]] = []
    reader = FrameReader()
    try:
        for number, index in enumerate(todo, start=1):
            item = items[index]
            pose = store.get_pose(item.frame_id, name, version)
            if pose is None or (other_pass is not None and pose.keypoints is not None):
                bgr = reader.read(item.media.path, item.media.kind, item.frame_index)
                if bgr is not None:
                    if getattr(backend, "stream", False):
                        backend.reset()  # unrelated photos: no tracking across them
                    if pose is None:
                        found = backend.estimate(bgr)
                        height, width = bgr.shape[:2]
                        pose = CachedPose(found.keypoints, (width, height), int(found.rotation))
                        fresh.append((item.frame_id, pose.keypoints, pose.image_size,
                                      pose.rotation))
                    if other_pass is not None and pose.keypoints is not None:
                        other = other_pass(bgr, 180 - pose.rotation)
                        if other.keypoints is not None:
                            rotated[index] = np.asarray(other.keypoints, np.float32)
            if pose is not None:
                poses[index] = pose
            if progress is not None:
                progress(number, len(todo))
    finally:
        reader.close()
        store.put_poses(fresh, name, version)  # a cache: the labeling window finds them
    scored = [i for i in todo if i in poses and poses[i].keypoints is not None]
    missing = np.full((NUM_JOINTS, 3), np.nan, np.float32)
    found = uncertainties(
        classifier,
        np.stack([poses[i].keypoints for i in scored]) if scored else np.zeros((0, NUM_JOINTS, 3)),
        np.stack([rotated.get(i, missing) for i in scored]) if scored else None,
    )
    scores: list[Uncertainty | None] = [None] * len(items)
    for index, uncertainty in zip(scored, found, strict=True):
        scores[index] = uncertainty
    order = suggested_order(scores, labeled)
    reasons: dict[int, str] = {}
    for rank, index in enumerate(order, start=1):
        if labeled[index]:
            continue
        score = scores[index]
        reasons[items[index].frame_id] = (
            f"suggested #{rank}: {score.reason()}" if score is not None
            else f"suggested #{rank}: no person found, so the model cannot say"
        )
    return [items[i] for i in order], reasons

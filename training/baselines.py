"""Baselines the learned form model is compared with, all fitted on the same training data.

Each baseline judges a single frame of canonical keypoints ``(16, 3)`` (the last frame of a
clip; a photo is a one-frame clip) and predicts an index into ``FORM_LABELS``:

- ``MajorityBaseline``: always the most frequent training class.
- ``HipAngleRule``: "inverted" (ankles above shoulders in the image) and the
  shoulder-hip-ankle angle at or above a threshold -> straight, below -> banana; upright ->
  not_handstand. The threshold maximizes straight-vs-banana balanced accuracy on the training
  set. It never predicts other_handstand. This is the kind of hand-written angle rule the
  project must beat.
- ``KnnEmbeddingBaseline``: ML Kit pose-classification style: pose centred on the hips,
  scaled by max(2.5 x torso, farthest joint), embedded as joint-pair difference vectors,
  k-NN with a max-distance prefilter (30) then mean-distance top 10, the mirrored pose also
  tried.
- ``KeypointMlpBaseline``: the TF-Lite pose-classification tutorial's MLP on the same
  normalized keypoints: Dense 128 (ReLU6) - Dropout 0.5 - Dense 64 (ReLU6) - Dropout 0.5 -
  softmax.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from engine.features import clean_confidence
from engine.form import FORM_LABELS
from engine.skeleton import (
    FLIP_PERMUTATION,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
)
from engine.verdict import BANANA_INDEX, NOT_HANDSTAND_INDEX, STRAIGHT_INDEX


def _clean(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 16, 3) -> xy with missing joints at 0 (N, 16, 2), confidence (N, 16)."""
    confidence = clean_confidence(frames)
    xy = np.where(confidence[..., None] > 0, np.nan_to_num(frames[..., :2]), 0.0)
    return xy.astype(np.float32), confidence


def mlkit_normalize(frames: np.ndarray) -> np.ndarray:
    """ML Kit / TF-Lite tutorial normalization of single frames, keeping the image axes.

    Args:
        frames: (N, 16, 3) keypoints in pixels.

    Returns:
        (N, 16, 2) coordinates centred on the mid-hips and divided by the pose size
        max(2.5 * torso length, largest joint distance from the centre).
    """
    xy, confidence = _clean(np.asarray(frames, dtype=np.float32))
    hips = (xy[:, R_HIP] + xy[:, L_HIP]) / 2
    shoulders = (xy[:, R_SHOULDER] + xy[:, L_SHOULDER]) / 2
    torso = np.linalg.norm(shoulders - hips, axis=-1)
    centered = xy - hips[:, None]
    farthest = np.max(np.linalg.norm(centered, axis=-1) * (confidence > 0), axis=-1)
    size = np.maximum(np.maximum(torso * 2.5, farthest), 1e-3)
    return (centered / size[:, None, None] * (confidence[..., None] > 0)).astype(np.float32)


_EMBEDDING_PAIRS: tuple[tuple[int, int], ...] = (
    (R_SHOULDER, R_ELBOW), (L_SHOULDER, L_ELBOW), (R_ELBOW, R_WRIST), (L_ELBOW, L_WRIST),
    (R_HIP, R_KNEE), (L_HIP, L_KNEE), (R_KNEE, R_ANKLE), (L_KNEE, L_ANKLE),
    (R_SHOULDER, R_WRIST), (L_SHOULDER, L_WRIST), (R_HIP, R_ANKLE), (L_HIP, L_ANKLE),
    (R_HIP, R_WRIST), (L_HIP, L_WRIST), (R_SHOULDER, R_ANKLE), (L_SHOULDER, L_ANKLE),
    (R_ELBOW, L_ELBOW), (R_KNEE, L_KNEE), (R_WRIST, L_WRIST), (R_ANKLE, L_ANKLE),
    (R_HIP, R_SHOULDER), (L_HIP, L_SHOULDER),
)


def mlkit_embedding(frames: np.ndarray) -> np.ndarray:
    """ML Kit-style pose embedding: normalized joint-pair difference vectors, (N, 44)."""
    xy = mlkit_normalize(frames)
    pairs = np.array(_EMBEDDING_PAIRS)
    return (xy[:, pairs[:, 1]] - xy[:, pairs[:, 0]]).reshape(len(xy), -1)


class MajorityBaseline:
    """Predicts the most frequent training class."""

    def fit(self, frames: np.ndarray, labels: np.ndarray) -> MajorityBaseline:
        """Remembers the majority class of ``labels``."""
        self.label = int(np.bincount(labels, minlength=len(FORM_LABELS)).argmax())
        return self

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(N, 16, 3) -> (N,) class indices."""
        return np.full(len(frames), self.label, dtype=np.int64)


def hip_angle_degrees(frames: np.ndarray) -> np.ndarray:
    """Shoulder-hip-ankle angle at the hip, degrees, averaged over the sides seen; NaN if none.

    Args:
        frames: (N, 16, 3) keypoints.
    """
    xy, confidence = _clean(np.asarray(frames, dtype=np.float32))
    angles = []
    for shoulder, hip, ankle in ((R_SHOULDER, R_HIP, R_ANKLE), (L_SHOULDER, L_HIP, L_ANKLE)):
        a, b = xy[:, shoulder] - xy[:, hip], xy[:, ankle] - xy[:, hip]
        cosine = np.sum(a * b, -1) / np.maximum(
            np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-6
        )
        angle = np.degrees(np.arccos(np.clip(cosine, -1, 1)))
        seen = (confidence[:, shoulder] > 0) & (confidence[:, hip] > 0) & (confidence[:, ankle] > 0)
        angles.append(np.where(seen, angle, np.nan))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no side seen: NaN is the answer
        return np.nanmean(np.stack(angles), axis=0)


def _inverted(frames: np.ndarray) -> np.ndarray:
    xy, confidence = _clean(np.asarray(frames, dtype=np.float32))

    def mean_y(joints):
        weight = (confidence[:, joints] > 0).astype(np.float32)
        return np.sum(xy[:, joints, 1] * weight, -1) / np.maximum(weight.sum(-1), 1)

    return mean_y([R_ANKLE, L_ANKLE]) < mean_y([R_SHOULDER, L_SHOULDER])


class HipAngleRule:
    """Inversion check plus a hip-angle threshold fitted for straight vs banana."""

    threshold: float = 170.0

    def fit(self, frames: np.ndarray, labels: np.ndarray) -> HipAngleRule:
        """Picks the threshold with the best straight-vs-banana balanced accuracy."""
        angles = hip_angle_degrees(frames)
        keep = np.isin(labels, (STRAIGHT_INDEX, BANANA_INDEX)) & np.isfinite(angles)
        angles, is_straight = angles[keep], labels[keep] == STRAIGHT_INDEX
        best = -1.0
        for threshold in np.arange(120.0, 180.5, 0.5):
            predicted = angles >= threshold
            score = 0.5 * (predicted[is_straight].mean() + (~predicted[~is_straight]).mean())
            if score > best:
                best, self.threshold = score, float(threshold)
        return self

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(N, 16, 3) -> (N,) class indices (never other_handstand)."""
        angles = np.nan_to_num(hip_angle_degrees(frames), nan=0.0)
        out = np.where(angles >= self.threshold, STRAIGHT_INDEX, BANANA_INDEX)
        return np.where(_inverted(frames), out, NOT_HANDSTAND_INDEX).astype(np.int64)


class KnnEmbeddingBaseline:
    """ML Kit-style k-NN over pose embeddings (max-distance prefilter, mean-distance vote).

    Args:
        top_by_max: candidates kept by the maximum per-dimension distance.
        top_by_mean: neighbours that vote, chosen by the mean per-dimension distance.
    """

    def __init__(self, top_by_max: int = 30, top_by_mean: int = 10) -> None:
        self.top_by_max = top_by_max
        self.top_by_mean = top_by_mean

    def fit(self, frames: np.ndarray, labels: np.ndarray) -> KnnEmbeddingBaseline:
        """Stores the embeddings of the training frames."""
        self.embeddings = mlkit_embedding(frames)
        self.labels = np.asarray(labels, dtype=np.int64)
        return self

    def _distances(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        difference = np.abs(self.embeddings[None] - query[:, None])
        return difference.max(-1), difference.mean(-1)

    def predict(self, frames: np.ndarray, chunk: int = 64) -> np.ndarray:
        """(N, 16, 3) -> (N,) class indices."""
        frames = np.asarray(frames, dtype=np.float32)
        mirrored = frames[:, list(FLIP_PERMUTATION)].copy()
        mirrored[..., 0] *= -1
        out = np.empty(len(frames), dtype=np.int64)
        for start in range(0, len(frames), chunk):
            query = mlkit_embedding(frames[start : start + chunk])
            query_mirrored = mlkit_embedding(mirrored[start : start + chunk])
            max_a, mean_a = self._distances(query)
            max_b, mean_b = self._distances(query_mirrored)
            max_d, mean_d = np.minimum(max_a, max_b), np.minimum(mean_a, mean_b)
            for row in range(len(query)):
                candidates = np.argsort(max_d[row], kind="stable")[: self.top_by_max]
                nearest = candidates[np.argsort(mean_d[row, candidates], kind="stable")]
                votes = np.bincount(
                    self.labels[nearest[: self.top_by_mean]], minlength=len(FORM_LABELS)
                )
                out[start + row] = int(votes.argmax())
        return out


class KeypointMlpBaseline:
    """The TF-Lite pose-classification tutorial's MLP on normalized keypoints.

    Args:
        epochs: passes over the training set.
        seed: torch seed for the initialization, dropout and batch order.
    """

    def __init__(self, epochs: int = 30, seed: int = 0) -> None:
        self.epochs = epochs
        self.seed = seed

    @staticmethod
    def _inputs(frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(mlkit_normalize(frames).reshape(len(frames), -1))

    def fit(self, frames: np.ndarray, labels: np.ndarray) -> KeypointMlpBaseline:
        """Trains with Adam and cross-entropy, batch 64."""
        generator = torch.Generator().manual_seed(self.seed)
        # nn.Linear's initialization and nn.Dropout take no generator: they draw from torch's
        # global one, seeded here inside a fork so the caller's random state is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = nn.Sequential(
                nn.Linear(32, 128), nn.ReLU6(), nn.Dropout(0.5),
                nn.Linear(128, 64), nn.ReLU6(), nn.Dropout(0.5),
                nn.Linear(64, len(FORM_LABELS)),
            )
            inputs, targets = self._inputs(frames), torch.as_tensor(labels, dtype=torch.long)
            optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
            self.model.train()
            for _ in range(self.epochs):
                order = torch.randperm(len(inputs), generator=generator)
                for start in range(0, len(order), 64):
                    batch = order[start : start + 64]
                    loss = nn.functional.cross_entropy(self.model(inputs[batch]),
                                                       targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.model.eval()
        return self

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """(N, 16, 3) -> (N,) class indices."""
        with torch.inference_mode():
            return self.model(self._inputs(frames)).argmax(-1).numpy().astype(np.int64)


def fit_baselines(frames: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, object]:
    """Fits every baseline on the same frames.

    Args:
        frames: (N, 16, 3) training keypoints (pixels).
        labels: (N,) indices into ``FORM_LABELS``.
        seed: seed for the MLP.

    Returns:
        Name -> fitted baseline with ``predict(frames) -> (N,) indices``.
    """
    return {
        "majority": MajorityBaseline().fit(frames, labels),
        "hip_angle_rule": HipAngleRule().fit(frames, labels),
        "mlkit_knn": KnnEmbeddingBaseline().fit(frames, labels),
        "tflite_mlp": KeypointMlpBaseline(seed=seed).fit(frames, labels),
    }

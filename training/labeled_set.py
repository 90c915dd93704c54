"""The user's labels as a training set: labeled frames of the label store with cached poses.

``load_labeled_set`` reads every frame with a trainable label and a pose (through the store's
public API); ``compute_missing_poses`` fills the pose cache first
(``python -m training.store poses``). Used by ``training.train_form --store`` and
``training.build_ideal --store``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.media import FrameReader
from engine.skeleton import NUM_JOINTS
from engine.verdict import FORM_LABELS
from training.store import LabelStore, group_of


@dataclass
class LabeledSet:
    """Labeled frames with cached poses, ready for training.

    Attributes:
        keypoints: (N, 16, 3) float32 canonical keypoints in image pixels with confidence.
        image_sizes: (N, 2) float32 (width, height) of each frame.
        labels: (N,) str, each one of ``engine.verdict.FORM_LABELS``.
        groups: (N,) str split groups (``training.store.group_of``): frames of one video or
            one person.
        files: (N,) str media paths (for a video frame, ``path#frame_index``).
        confidences: (N,) float32 labeler confidence, NaN where none was given.
        frame_ids: (N,) int64 frame ids in the store.
    """

    keypoints: np.ndarray
    image_sizes: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    files: np.ndarray
    confidences: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    frame_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.labels)


def load_labeled_set(
    db_path: str | Path,
    *,
    backend: str | None = None,
    backend_version: str | None = None,
) -> LabeledSet:
    """Loads every frame that has a trainable label and a cached pose with a person.

    A frame counts when its newest label is one of ``FORM_LABELS`` (``unsure`` is left out) and
    a pose is cached for it (from ``backend``/``backend_version`` when given, else the newest
    pose of any back-end) in which a person was found. Run ``compute_missing_poses`` first
    (``python -m training.store poses``) to fill poses for newly imported labels.

    Args:
        db_path: the label store file.
        backend: only use poses of this back-end name.
        backend_version: only use poses of this back-end version.

    Returns:
        A ``LabeledSet``; arrays are empty (N = 0) when nothing qualifies.

    Raises:
        StoreError: the store is missing, corrupt or locked.
    """
    with LabelStore(db_path, create=False) as store:
        pairs = store.labeled_poses(
            FORM_LABELS, backend=backend, backend_version=backend_version
        )
    count = len(pairs)
    keypoints = np.zeros((count, NUM_JOINTS, 3), np.float32)
    image_sizes = np.zeros((count, 2), np.float32)
    confidences = np.full(count, np.nan, np.float32)
    for i, (record, pose) in enumerate(pairs):
        keypoints[i] = pose.keypoints
        image_sizes[i] = pose.image_size
        if record.confidence is not None:
            confidences[i] = record.confidence
    return LabeledSet(
        keypoints=keypoints,
        image_sizes=image_sizes,
        labels=np.asarray([record.label for record, _ in pairs], dtype=str),
        groups=np.asarray([group_of(record.path, record.kind) for record, _ in pairs], dtype=str),
        files=np.asarray(
            [f"{record.path}#{record.frame_index}" if record.kind == "video" else record.path
             for record, _ in pairs],
            dtype=str,
        ),
        confidences=confidences,
        frame_ids=np.asarray([record.frame_id for record, _ in pairs], dtype=np.int64),
    )


def compute_missing_poses(
    store: LabelStore,
    backend,
    *,
    labeled_only: bool = True,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 16,
) -> int:
    """Runs ``backend`` on every frame that has no pose cached for it and caches the result.

    Frames are treated as unrelated photos, i.e. image mode: pass
    ``BlazePoseBackend(stream=False)`` (a back-end with ``stream=True`` is reset before each
    frame). Results are committed in small batches, so an interrupted run keeps what it
    computed.

    Args:
        store: the label store.
        backend: a ``PoseBackend`` (``name``, ``version``, ``estimate``, ``reset``).
        labeled_only: only frames whose label is trainable (not ``unsure``).
        progress: called with (done, total) after each frame.
        batch_size: poses per commit.

    Returns:
        The number of frames processed (unreadable frames are skipped and not counted).
    """
    name, version = str(backend.name), str(getattr(backend, "version", ""))
    todo = store.frames_without_pose(name, version, labeled_only=labeled_only)
    reader = FrameReader()
    batch: list[tuple[int, np.ndarray | None, tuple[int, int], int]] = []
    done = 0
    try:
        for number, (frame_id, path, kind, frame_index) in enumerate(todo, start=1):
            image = reader.read(path, kind, frame_index)
            if image is not None:
                if getattr(backend, "stream", False):
                    backend.reset()  # a tracking back-end must not carry state across frames
                result = backend.estimate(image)
                height, width = image.shape[:2]
                batch.append((frame_id, result.keypoints, (width, height), result.rotation))
                done += 1
            if len(batch) >= batch_size:
                store.put_poses(batch, name, version)
                batch = []
            if progress is not None:
                progress(number, len(todo))
    finally:
        store.put_poses(batch, name, version)
        reader.close()
    return done

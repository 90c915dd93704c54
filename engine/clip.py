"""The temporal clip buffer: the last ``T`` poses of a stream, fed to the form model."""

from __future__ import annotations

from collections import deque

import numpy as np

from engine.skeleton import NUM_JOINTS


class ClipBuffer:
    """Keeps the most recent ``length`` poses of one stream in arrival order.

    Frames without a person are kept as all-zero keypoints (confidence 0), so the clip keeps
    the stream's timing: the form model sees a gap rather than two poses glued together.

    Args:
        length: number of frames ``T`` a full clip holds (the form model's ``clip_length``).
    """

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"clip length must be >= 1, got {length}")
        self.length = int(length)
        self._poses: deque[np.ndarray] = deque(maxlen=self.length)
        self._timestamps: deque[float] = deque(maxlen=self.length)

    def push(self, keypoints: np.ndarray | None, timestamp: float) -> None:
        """Appends one frame's pose, dropping the oldest when the buffer is full.

        Args:
            keypoints: (16, 3) pixel keypoints with confidence, or None when no person was found.
            timestamp: the frame's time in seconds.
        """
        if keypoints is None:
            pose = np.zeros((NUM_JOINTS, 3), dtype=np.float32)
        else:
            pose = np.asarray(keypoints, dtype=np.float32)
            if pose.shape != (NUM_JOINTS, 3):
                raise ValueError(f"keypoints must be ({NUM_JOINTS}, 3), got {pose.shape}")
            # NaN marks a missing joint elsewhere in the project; the clip stores it as conf 0.
            missing = ~np.isfinite(pose).all(axis=1)
            if missing.any():
                pose = pose.copy()
                pose[missing] = 0.0
        self._poses.append(pose)
        self._timestamps.append(float(timestamp))

    def as_array(self) -> np.ndarray:
        """Returns the buffered clip, oldest frame first.

        Returns:
            (T, 16, 3) float32 with ``T = len(self)`` (<= ``length``); (0, 16, 3) when empty.
        """
        if not self._poses:
            return np.zeros((0, NUM_JOINTS, 3), dtype=np.float32)
        return np.stack(self._poses).astype(np.float32, copy=False)

    def timestamps(self) -> np.ndarray:
        """Returns the buffered frames' times in seconds, (T,) float64."""
        return np.asarray(self._timestamps, dtype=np.float64)

    @property
    def num_found(self) -> int:
        """How many buffered frames hold a person."""
        return sum(1 for pose in self._poses if pose[:, 2].any())

    def clear(self) -> None:
        """Forgets every buffered frame (a new stream or a long gap)."""
        self._poses.clear()
        self._timestamps.clear()

    def __len__(self) -> int:
        return len(self._poses)

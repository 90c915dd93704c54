"""The temporal clip buffer: the last ``T`` poses of a stream, fed to the form model.

The form model learned motion at one frame rate (the synthetic generator's 30 fps). Given that
rate, the buffer keeps the stream's recent history by time and samples the clip at the model's
rate from the frames' timestamps, so a camera at 15, 30 or 60 fps (or a variable rate) shows the
model the same motion over the same stretch of time.
"""

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
        frame_rate: the form model's frame rate; the clip is then sampled every
            ``1 / frame_rate`` seconds back from the newest frame (linear interpolation between
            two frames with a person, else the nearest frame). None keeps the last ``length``
            frames as they came.
    """

    def __init__(self, length: int, frame_rate: float | None = None) -> None:
        if length < 1:
            raise ValueError(f"clip length must be >= 1, got {length}")
        if frame_rate is not None and not frame_rate > 0:
            raise ValueError(f"frame rate must be positive, got {frame_rate}")
        self.length = int(length)
        self.frame_rate = None if frame_rate is None else float(frame_rate)
        count_limit = self.length if self.frame_rate is None else None
        self._poses: deque[np.ndarray] = deque(maxlen=count_limit)
        self._timestamps: deque[float] = deque(maxlen=count_limit)

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
        timestamp = float(timestamp)
        if self._timestamps and timestamp < self._timestamps[-1]:
            timestamp = self._timestamps[-1]  # a clock that steps back must not reorder frames
        self._poses.append(pose)
        self._timestamps.append(timestamp)
        if self.frame_rate is not None:
            # Keep one frame at or before the earliest sample time, for interpolation.
            earliest = timestamp - (self.length - 1) / self.frame_rate
            while len(self._timestamps) >= 2 and self._timestamps[1] <= earliest:
                self._poses.popleft()
                self._timestamps.popleft()

    def as_array(self) -> np.ndarray:
        """Returns the buffered clip, oldest frame first.

        Returns:
            (T, 16, 3) float32 with ``T <= length``: every buffered frame without a frame rate,
            else the samples that fall inside the buffered stretch of time; (0, 16, 3) when
            empty.
        """
        if not self._poses:
            return np.zeros((0, NUM_JOINTS, 3), dtype=np.float32)
        poses = np.stack(self._poses).astype(np.float32, copy=False)
        if self.frame_rate is None:
            return poses
        return resample_clip(poses, self.timestamps(), self.length, self.frame_rate)

    def timestamps(self) -> np.ndarray:
        """Returns the buffered frames' times in seconds, (T,) float64."""
        return np.asarray(self._timestamps, dtype=np.float64)

    def clear(self) -> None:
        """Forgets every buffered frame (a new stream or a long gap)."""
        self._poses.clear()
        self._timestamps.clear()

    def __len__(self) -> int:
        return len(self._poses)


def resample_clip(
    poses: np.ndarray, timestamps: np.ndarray, length: int, frame_rate: float
) -> np.ndarray:
    """Samples a pose sequence at a fixed rate, backwards from its newest frame.

    Args:
        poses: (N, 16, 3) float32 poses in time order; all-zero rows mean nobody was found.
        timestamps: (N,) their times in seconds, non-decreasing.
        length: the most samples to return.
        frame_rate: samples per second.

    Returns:
        (T, 16, 3) float32, T <= ``length``, oldest sample first; sample k lies at
        ``timestamps[-1] - (T - 1 - k) / frame_rate``. Between two frames with a person the pose
        is interpolated linearly; next to a frame without one, the nearer frame is used.
    """
    times = timestamps[-1] - np.arange(length - 1, -1, -1, dtype=np.float64) / frame_rate
    # Half a sample of slack so a stream at exactly the model's rate keeps its first frame.
    times = times[times >= timestamps[0] - 0.5 / frame_rate]
    found = poses[:, :, 2].any(axis=1)
    out = np.empty((len(times), poses.shape[1], 3), dtype=np.float32)
    for row, time in enumerate(times):
        after = int(np.searchsorted(timestamps, time, side="left"))
        if after >= len(timestamps):
            after = len(timestamps) - 1
        before = max(after - 1, 0)
        span = timestamps[after] - timestamps[before]
        if after == before or span <= 0 or time <= timestamps[before]:
            out[row] = poses[before if time <= timestamps[before] else after]
            continue
        weight = float(np.clip((time - timestamps[before]) / span, 0.0, 1.0))
        if found[before] and found[after]:
            out[row] = (1.0 - weight) * poses[before] + weight * poses[after]
        else:
            out[row] = poses[after] if weight >= 0.5 else poses[before]
    return out

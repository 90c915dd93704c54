"""The pose back-end interface every estimator implements (BlazePose, DeepHAR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class PoseBackendError(RuntimeError):
    """A pose back-end cannot be created or run; the message is one line for the user."""


@dataclass(frozen=True)
class PoseResult:
    """What a back-end found in one frame.

    Attributes:
        keypoints: (16, 3) float32 canonical keypoints in image pixels with confidence, or
            None when no person was found.
        rotation: 0 or 180, the image orientation in which the person was found.
    """

    keypoints: np.ndarray | None
    rotation: int = 0

    @property
    def found(self) -> bool:
        """Whether a person was detected."""
        return self.keypoints is not None


class PoseBackend(Protocol):
    """A single-person 2D pose estimator on BGR frames."""

    name: str
    version: str

    def estimate(self, bgr: np.ndarray) -> PoseResult:
        """Estimates the pose of the main person in ``bgr`` ((H, W, 3) uint8)."""
        ...

    def reset(self) -> None:
        """Forgets tracking state (call between unrelated images or streams)."""
        ...

    def close(self) -> None:
        """Releases the back-end's resources."""
        ...

"""Generated pose data for tests and smoke runs: coloured discs at random joint positions.

Each joint gets its own colour, so the network can learn where every joint is. Items have the
same keys as ``MPIIDataset`` items, so training and evaluation code run on either unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from engine.skeleton import NUM_JOINTS
from training.transforms import make_crop_sample


def joint_colours(num_joints: int = NUM_JOINTS) -> np.ndarray:
    """(J, 3) uint8 distinct RGB colours (evenly spaced hues)."""
    hsv = np.zeros((1, num_joints, 3), np.uint8)
    hsv[0, :, 0] = np.arange(num_joints) * 180 // num_joints
    hsv[0, :, 1:] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


class BlobPoseDataset(Dataset):
    """``size`` fixed images (seeded) of ``image_size`` pixels with one disc per joint."""

    def __init__(
        self, size: int, *, input_size: int = 64, image_size: int = 96, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        colours = joint_colours()
        self.input_size = input_size
        self.samples = []
        for _ in range(size):
            image = np.full((image_size, image_size, 3), 30, np.uint8)
            keypoints = np.ones((NUM_JOINTS, 3))
            keypoints[:, :2] = rng.uniform(0.15, 0.85, (NUM_JOINTS, 2)) * (image_size - 1)
            for (x, y, _), colour in zip(keypoints, colours, strict=True):
                cv2.circle(image, (round(x), round(y)), max(2, image_size // 24),
                           tuple(int(c) for c in colour), -1)
            center = np.array([(image_size - 1) / 2.0] * 2)
            self.samples.append((image, keypoints, center, float(image_size)))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, keypoints, center, side = self.samples[index]
        sample = make_crop_sample(image, keypoints, center, side, self.input_size)
        return {
            "image": torch.from_numpy(sample.image),
            "coords": torch.from_numpy(sample.coords),
            "visible": torch.from_numpy(sample.visible),
            "matrix": torch.from_numpy(sample.matrix),
            "flip": torch.tensor(False),
            "index": torch.tensor(index),
            "keypoints": torch.from_numpy(keypoints),
            "head_size": torch.tensor(side / 8.0),
        }

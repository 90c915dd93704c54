"""Layers shared by the DeepHAR pose network and the action / form streams."""

from __future__ import annotations

import torch
from torch import nn

# Keras BatchNormalization defaults, used throughout the authors' cvpr18 code: Keras momentum
# 0.99 weighs the running statistics, PyTorch's momentum weighs the new batch (1 - 0.99).
KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01


class BiasOnlyBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with a learned shift (beta) and no learned scale, like Keras ``scale=False``.

    The running statistics stay buffers, like Keras' non-trainable BN weights, so
    ``parameters()`` counts match the authors' trainable counts one to one.
    """

    def __init__(
        self, num_features: int, *, eps: float = KERAS_BN_EPS, momentum: float = KERAS_BN_MOMENTUM
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=False)
        self.bias = nn.Parameter(torch.zeros(num_features))


def batch_norm2d(channels: int, *, eps: float, momentum: float, scale: bool) -> nn.BatchNorm2d:
    """A BatchNorm2d with a learned scale (PyTorch's affine BN) or without (Keras ``scale=False``).

    Args:
        channels: features normalized.
        eps: added to the variance.
        momentum: PyTorch convention (weight of the new batch in the running statistics).
        scale: learn a per-channel scale (gamma) as well as the shift.
    """
    if scale:
        return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    return BiasOnlyBatchNorm2d(channels, eps=eps, momentum=momentum)

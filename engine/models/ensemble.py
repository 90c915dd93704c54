"""A seed ensemble: several models of one architecture whose outputs are averaged.

Models trained from different seeds disagree most where the data is thin (real people in
poses the synthetic generator draws rarely); averaging their logits removes that seed
variance at the cost of one forward pass per member. Exported to ONNX as one graph. This is
the trainable form; for inference ``engine.runtime`` runs an ensemble of form models as one
``engine.models.form_net.StackedFormNet``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ModelAverage(nn.Module):
    """Averages every output tensor of its members (same architecture, same inputs).

    Args:
        members: the models; each returns a tensor or a tuple of tensors of one shape.

    Attributes:
        num_classes, num_joints, in_channels: copied from the first member (callers size
            their inputs from them).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        first = members[0]
        for name in ("num_classes", "num_joints", "in_channels"):
            if hasattr(first, name):
                setattr(self, name, getattr(first, name))

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Runs every member on ``inputs`` and returns the mean of each output."""
        outputs = [member(*inputs) for member in self.members]
        if isinstance(outputs[0], torch.Tensor):
            return torch.stack(outputs).mean(dim=0)
        return tuple(torch.stack(parts).mean(dim=0) for parts in zip(*outputs, strict=True))

"""DeepHAR's pose-based action recognition stream, adapted to handstand form.

Luvizon et al. (CVPR 2018), ``deephar_spec.md`` section 1.7: a clip of T frames of J joints is
read as a "pose image" of T rows, J columns and one channel per coordinate; a small
Inception-like stem and max+min pooling lead into action prediction blocks, each producing
an action heatmap whose global max+min gives that block's class scores, re-injected into the
next block. The last heatmap of each stream goes through a 1x1 separable convolution
(identity at initialization); the streams are summed and globally max+min pooled into the
final class scores.

``FormNet``'s defaults are the authors' Penn Action PoseAR v1 exactly (cvpr18 ``action.py``
``build_pose_model``; 852,864 trainable parameters for 15 actions, deephar_spec.md section 9).
The handstand form model (``form_handstand``) departs from it through keyword arguments, each
for a CPU-sized clip model trained from scratch on synthetic clips:

- ``stem_widths``, ``mixed_width``, ``mixed_reduce_width``: narrower (the paper's Penn v1 is
  ``(8, 16, 24)``, 56 and 32, blocks at 112 channels; the form model runs blocks at 32 with a
  1x1 reduction to half the mixed width);
- ``in_channels=3``: the pose image is (x * c, y * c, c), coordinates masked by the joint
  confidence as in the paper's ``y * p``, plus the confidence itself (the paper has the two
  masked coordinates only);
- ``bn_eps=1e-5, bn_momentum=0.1, bn_scale=True``: PyTorch's BatchNorm defaults with a learned
  scale (the authors use Keras' eps 1e-3, momentum 0.99, i.e. 0.01 here, and no scale);
- ``view_head=True``: global max+min of the last block's features, then a linear layer,
  predicts whether the camera view can show an arched back at all (not in the paper);
- the appearance stream takes per-joint appearance features ``(B, T, J, F)`` (the paper pools
  the pose network's features under each joint's heatmap); it exists only when
  ``appearance_channels > 0``.

The time axis is padded at the start by repeating the first frame up to the multiple of 4 that
the two 2x2 poolings need, so a single photo (T = 1) works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from engine.models.layers import KERAS_BN_EPS, KERAS_BN_MOMENTUM, batch_norm2d
from engine.models.registry import register_model

Norm = Callable[[int], nn.Module]


def max_min_pool2d(x: torch.Tensor) -> torch.Tensor:
    """DeepHAR's 2x2 max+min pooling, stride 2 (``maxpool(x) - maxpool(-x)``)."""
    return F.max_pool2d(x, 2, 2, ceil_mode=True) - F.max_pool2d(-x, 2, 2, ceil_mode=True)


def global_max_min(x: torch.Tensor) -> torch.Tensor:
    """Per-channel spatial max plus spatial min: (B, C, H, W) -> (B, C)."""
    return x.amax(dim=(2, 3)) + x.amin(dim=(2, 3))


class _ConvBN(nn.Sequential):
    """Conv (no bias, 'same' padding) -> BN, optionally followed by ReLU."""

    def __init__(
        self, cin: int, cout: int, kernel: tuple[int, int], relu: bool, norm: Norm
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, padding=(kernel[0] // 2, kernel[1] // 2), bias=False),
            norm(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class _ReluConvBN(nn.Sequential):
    """Pre-activation unit "RCB": ReLU -> conv (no bias) -> BN."""

    def __init__(self, cin: int, cout: int, kernel: int, norm: Norm) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
            norm(cout),
        )


class ActionPredictionBlock(nn.Module):
    """One action prediction block (spec 1.7, ``build_act_pred_block``).

    Args:
        channels: input and output channels C.
        num_classes: actions A.
        last: the last block returns no re-injected features.
        norm: builds the BatchNorm of a given width.
    """

    def __init__(self, channels: int, num_classes: int, last: bool, *, norm: Norm) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            _ReluConvBN(channels, channels // 2, 1, norm),
            _ReluConvBN(channels // 2, channels, 3, norm),
        )
        self.features = _ReluConvBN(channels, channels, 3, norm)
        self.heatmap = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, num_classes, 3, padding=1, bias=False)
        )
        self.reinject = None if last else nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            _ReluConvBN(num_classes, channels, 3, norm),
        )

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Runs the block.

        Args:
            x: (B, C, H, W) features, H and W even.

        Returns:
            ``(heatmap (B, A, H/2, W/2), features (B, C, H, W), next input or None)``.
        """
        residual = x + self.residual(x)
        features = self.features(residual)
        heatmap = self.heatmap(max_min_pool2d(features))
        if self.reinject is None:
            return heatmap, features, None
        return heatmap, features, residual + features + self.reinject(heatmap)


class _Aggregation(nn.Module):
    """Trainable 1x1 separable conv, no bias, initialized to the identity (spec 1.7)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(num_classes, num_classes, 1, groups=num_classes, bias=False)
        self.pointwise = nn.Conv2d(num_classes, num_classes, 1, bias=False)
        nn.init.ones_(self.depthwise.weight)
        with torch.no_grad():
            self.pointwise.weight.copy_(torch.eye(num_classes)[:, :, None, None])

    def forward(self, heatmap: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(heatmap))


class FormNet(nn.Module):
    """DeepHAR pose-based action stream with an optional view head and appearance stream.

    The defaults build the authors' Penn Action PoseAR v1; see the module docstring for the
    arguments the handstand form model changes and why.

    Args:
        num_classes: classes A (15 Penn actions; 4 form classes).
        num_joints: joints J per frame.
        in_channels: channels per joint of the pose image (2: x * p, y * p).
        stem_widths: widths of the three parallel stem convolutions (3x1, 3x3, 3x5).
        mixed_width: width of each of the two mixed branches; blocks run at twice this.
        mixed_reduce_width: width of the 1x1 convolution opening the second mixed branch.
        num_blocks: action prediction blocks per stream.
        appearance_channels: per-joint appearance features F; 0 disables that stream.
        appearance_width: block width of the appearance stream (the paper's: 256).
        bn_eps: BatchNorm epsilon (Keras' 1e-3).
        bn_momentum: BatchNorm momentum, PyTorch convention (Keras 0.99 = 0.01 here).
        bn_scale: BatchNorms learn a scale as well as a shift (Keras ``scale=False``: no).
        view_head: add the view head; without it ``forward`` returns None as the view logit.
    """

    def __init__(
        self,
        *,
        num_classes: int = 15,
        num_joints: int = 16,
        in_channels: int = 2,
        stem_widths: tuple[int, int, int] = (8, 16, 24),
        mixed_width: int = 56,
        mixed_reduce_width: int = 32,
        num_blocks: int = 4,
        appearance_channels: int = 0,
        appearance_width: int = 256,
        bn_eps: float = KERAS_BN_EPS,
        bn_momentum: float = KERAS_BN_MOMENTUM,
        bn_scale: bool = False,
        view_head: bool = False,
    ) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError("num_blocks must be >= 1")
        self.num_classes = num_classes
        self.num_joints = num_joints
        self.in_channels = in_channels
        self.appearance_channels = appearance_channels
        norm = functools.partial(batch_norm2d, eps=bn_eps, momentum=bn_momentum, scale=bn_scale)
        w1, w2, w3 = stem_widths
        self.stem = nn.ModuleList([
            _ConvBN(in_channels, w1, (3, 1), relu=True, norm=norm),
            _ConvBN(in_channels, w2, (3, 3), relu=True, norm=norm),
            _ConvBN(in_channels, w3, (3, 5), relu=True, norm=norm),
        ])
        stem_out = w1 + w2 + w3
        self.mixed_a = _ConvBN(stem_out, mixed_width, (3, 3), relu=False, norm=norm)
        self.mixed_b = nn.Sequential(
            _ConvBN(stem_out, mixed_reduce_width, (1, 1), relu=False, norm=norm),
            _ConvBN(mixed_reduce_width, mixed_width, (3, 3), relu=False, norm=norm),
        )
        channels = 2 * mixed_width
        self.pose_blocks = nn.ModuleList(
            ActionPredictionBlock(channels, num_classes, last=i == num_blocks - 1, norm=norm)
            for i in range(num_blocks)
        )
        self.pose_aggregation = _Aggregation(num_classes)
        self.view_head = nn.Linear(channels, 1) if view_head else None
        if appearance_channels > 0:
            self.appearance_entry = _ConvBN(
                appearance_channels, appearance_width, (1, 1), relu=False, norm=norm
            )
            self.appearance_blocks = nn.ModuleList(
                ActionPredictionBlock(
                    appearance_width, num_classes, last=i == num_blocks - 1, norm=norm
                )
                for i in range(num_blocks)
            )
            self.appearance_aggregation = _Aggregation(num_classes)

    @staticmethod
    def _to_image(clip: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) -> (B, C, T', J') with T' and J' multiples of 4, T' >= 4."""
        frames, joints = clip.shape[1], clip.shape[2]
        pad_frames = max(4, -(-frames // 4) * 4) - frames
        if pad_frames:
            clip = torch.cat([clip[:, :1].expand(-1, pad_frames, -1, -1), clip], dim=1)
        pad_joints = -(-joints // 4) * 4 - joints
        image = clip.permute(0, 3, 1, 2)
        if pad_joints:
            image = F.pad(image, (0, pad_joints))
        return image

    @staticmethod
    def _run_blocks(
        x: torch.Tensor, blocks: nn.ModuleList
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        heatmaps = []
        features = x
        for block in blocks:
            heatmap, features, following = block(x)
            heatmaps.append(heatmap)
            if following is not None:
                x = following
        return heatmaps, heatmaps[-1], features

    def forward(
        self, pose: torch.Tensor, appearance: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Scores clips.

        Args:
            pose: (B, T, J, C) normalized pose features (see ``engine.features``), T >= 1.
            appearance: (B, T, J, F) per-joint appearance features; only when the model was
                built with ``appearance_channels > 0``.

        Returns:
            ``(logits (B, A), view_logit (B,), block_logits (B, S * num_blocks, A))``: the
            aggregated class scores, the logit that the view can show an arch (None without a
            view head), and every block's intermediate scores (S streams) for deep
            supervision.
        """
        image = self._to_image(pose)
        x = torch.cat([branch(image) for branch in self.stem], dim=1)
        x = max_min_pool2d(torch.cat([self.mixed_a(x), self.mixed_b(x)], dim=1))
        heatmaps, last, features = self._run_blocks(x, self.pose_blocks)
        aggregated = self.pose_aggregation(last)
        view_logit = (
            None if self.view_head is None
            else self.view_head(global_max_min(features)).squeeze(-1)
        )
        if self.appearance_channels > 0:
            if appearance is None:
                raise ValueError("this FormNet has an appearance stream: pass `appearance`")
            visual = F.max_pool2d(
                self.appearance_entry(self._to_image(appearance)), 2, 2, ceil_mode=True
            )
            visual_heatmaps, visual_last, _ = self._run_blocks(visual, self.appearance_blocks)
            heatmaps = heatmaps + visual_heatmaps
            aggregated = aggregated + self.appearance_aggregation(visual_last)
        elif appearance is not None:
            raise ValueError("this FormNet has no appearance stream (appearance_channels=0)")
        block_logits = torch.stack([global_max_min(h) for h in heatmaps], dim=1)
        return global_max_min(aggregated), view_logit, block_logits


# The handstand form model's departures from the paper's PoseAR (see the module docstring).
_FORM_ADAPTATIONS = {
    "num_classes": 4,
    "in_channels": 3,
    "bn_eps": 1e-5,
    "bn_momentum": 0.1,
    "bn_scale": True,
    "view_head": True,
}


@register_model
def form_handstand(**kwargs) -> FormNet:
    """The shipped handstand form model: CPU-sized DeepHAR pose stream, 4 blocks at 32 channels.

    About 77k parameters (the paper's Penn v1 stream runs 4 blocks at 112 channels, 853k).
    """
    config = {
        **_FORM_ADAPTATIONS,
        "stem_widths": (8, 16, 24), "mixed_width": 16, "mixed_reduce_width": 8, "num_blocks": 4,
        "appearance_width": 64,
    }
    config.update(kwargs)
    return FormNet(**config)


@register_model
def form_handstand_test(**kwargs) -> FormNet:
    """Tiny variant for tests."""
    config = {
        **_FORM_ADAPTATIONS,
        "stem_widths": (4, 4, 8), "mixed_width": 8, "mixed_reduce_width": 4, "num_blocks": 2,
        "appearance_width": 64,
    }
    config.update(kwargs)
    return FormNet(**config)


class _StackedConv(nn.Module):
    """One conv unit of N members as one grouped conv with member-major channels.

    A unit is a ``Conv2d``, or an ``nn.Sequential`` of [ReLU] -> Conv2d -> [BatchNorm2d] ->
    [ReLU]; each member's batch norm is folded into its conv (eval-mode statistics).

    Args:
        units: the same unit of every member.
        shared_input: every member reads the same input (the stem reads the pose image), so
            the conv reads all input channels; otherwise member k reads its own block k of
            the input channels.
    """

    def __init__(self, units: Sequence[nn.Module], shared_input: bool = False) -> None:
        super().__init__()
        parts = [_conv_unit_parts(unit) for unit in units]
        self.relu_before, _, _, self.relu_after = parts[0]
        convs = _folded_convs(parts)
        first = convs[0]
        if shared_input and first.groups != 1:
            raise ValueError("a conv on an input the members share must not be grouped")
        members = len(convs)
        self.conv = nn.Conv2d(
            first.in_channels * (1 if shared_input else members),
            first.out_channels * members,
            first.kernel_size,
            stride=first.stride,
            padding=first.padding,
            dilation=first.dilation,
            groups=first.groups * (1 if shared_input else members),
            bias=True,
        )
        with torch.no_grad():
            self.conv.weight.copy_(torch.cat([conv.weight for conv in convs]))
            self.conv.bias.copy_(_concatenated_biases(convs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.relu(x) if self.relu_before else x)
        return F.relu(x) if self.relu_after else x


def _conv_unit_parts(
    unit: nn.Module,
) -> tuple[bool, nn.Conv2d, nn.BatchNorm2d | None, bool]:
    """``(ReLU before, conv, batch norm or None, ReLU after)`` of a conv unit.

    Raises:
        ValueError: ``unit`` is not a conv unit (see ``_StackedConv``).
    """
    layers = list(unit) if isinstance(unit, nn.Sequential) else [unit]
    relu_before = bool(layers) and isinstance(layers[0], nn.ReLU)
    relu_after = len(layers) > 1 and isinstance(layers[-1], nn.ReLU)
    middle = layers[int(relu_before):len(layers) - int(relu_after)]
    if not middle or not isinstance(middle[0], nn.Conv2d) or len(middle) > 2 or (
        len(middle) == 2 and not isinstance(middle[1], nn.BatchNorm2d)
    ):
        raise ValueError(f"not a conv unit: {unit}")
    norm = middle[1] if len(middle) == 2 else None
    return relu_before, middle[0], norm, relu_after


def _folded_convs(
    parts: Sequence[tuple[bool, nn.Conv2d, nn.BatchNorm2d | None, bool]],
) -> list[nn.Conv2d]:
    """Each unit's conv with its batch norm (if any) folded in, from ``_conv_unit_parts``."""
    return [fuse_conv_bn_eval(conv, norm) if norm is not None else conv
            for _, conv, norm, _ in parts]


def _concatenated_biases(convs: Sequence[nn.Conv2d]) -> torch.Tensor:
    """The convs' biases (zeros for a conv without one) end to end, (sum of out channels,)."""
    return torch.cat([conv.bias if conv.bias is not None
                      else conv.weight.new_zeros(conv.out_channels) for conv in convs])


def _side_by_side(units: Sequence[nn.Module]) -> nn.Sequential:
    """Parallel conv units on one input as one conv whose output is their channel concat.

    Batch norms are folded; smaller kernels are zero-padded to the largest, which keeps each
    unit's 'same' padding (odd kernels, centred).

    Args:
        units: conv units (see ``_StackedConv``) with odd kernels, 'same' padding, no groups,
            and all with or all without a closing ReLU, none with an opening one.

    Returns:
        Conv2d [-> ReLU], the conv with a bias.
    """
    parts = [_conv_unit_parts(unit) for unit in units]
    if len({(before, after) for before, _, _, after in parts}) != 1 or parts[0][0]:
        raise ValueError("side-by-side units need the same closing ReLU and no opening one")
    convs = _folded_convs(parts)
    kernel = tuple(max(conv.kernel_size[axis] for conv in convs) for axis in (0, 1))
    joined = nn.Conv2d(convs[0].in_channels, sum(conv.out_channels for conv in convs), kernel,
                       padding=(kernel[0] // 2, kernel[1] // 2), bias=True)
    with torch.no_grad():
        joined.weight.copy_(torch.cat([
            F.pad(conv.weight, (
                (kernel[1] - conv.kernel_size[1]) // 2, (kernel[1] - conv.kernel_size[1]) // 2,
                (kernel[0] - conv.kernel_size[0]) // 2, (kernel[0] - conv.kernel_size[0]) // 2,
            ))
            for conv in convs
        ]))
        joined.bias.copy_(_concatenated_biases(convs))
    return nn.Sequential(joined, nn.ReLU()) if parts[0][3] else nn.Sequential(joined)


def _member_major_cat(parts: Sequence[torch.Tensor], members: int) -> torch.Tensor:
    """Per-member channel concat of member-major tensors.

    Args:
        parts: (B, N * C_i, H, W) tensors, member k's channels in block k of each.
        members: N.

    Returns:
        (B, N * sum(C_i), H, W): member k's block holds its channels of every part in order,
        as ``torch.cat(dim=1)`` inside member k would.
    """
    # Channel slices, not a reshape to (B, N, C, H, W): slices keep a channels-last layout.
    blocks = [part.shape[1] // members for part in parts]
    return torch.cat([part[:, k * block:(k + 1) * block]
                      for k in range(members) for part, block in zip(parts, blocks, strict=True)],
                     dim=1)


def _member_mean(x: torch.Tensor, members: int) -> torch.Tensor:
    """(B, N * C) member-major -> (B, C) mean over the members."""
    return x.reshape(x.shape[0], members, -1).mean(dim=1)


class StackedFormNet(nn.Module):
    """A seed ensemble of ``FormNet`` pose streams run as one network, for inference only.

    Each conv (+ batch norm, folded) of every member becomes one block of a grouped conv, so
    the ensemble runs one operator per layer instead of one per layer and member, which saves
    the per-operator overhead a clip model this small pays on the CPU. The arithmetic stays:
    ONNX Runtime computes a grouped conv group by group (measured: two members x1.8 one
    member's time stacked, x2.1 one by one; three members x2.6).
    Channels are member-major (member k's channels form block k). The outputs equal
    ``ModelAverage(members)``'s in eval mode up to floating-point rounding. Batch norms are
    folded with their running statistics, so this never trains; training uses
    ``ModelAverage``.

    Args:
        members: ``FormNet``s of one architecture without an appearance stream, in eval mode.

    Attributes:
        num_classes, num_joints, in_channels: the members' (callers size inputs from them).

    Raises:
        ValueError: no members, a member with an appearance stream, or members of different
            architectures.
    """

    def __init__(self, members: Sequence[FormNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("StackedFormNet needs at least one member")
        if any(member.appearance_channels > 0 for member in members):
            raise ValueError("StackedFormNet does not stack appearance streams")
        shapes = {tuple((key, tuple(value.shape)) for key, value in member.state_dict().items())
                  for member in members}
        if len(shapes) != 1:
            raise ValueError("StackedFormNet needs members of one architecture")
        first = members[0]
        self.members = len(members)
        self.num_classes = first.num_classes
        self.num_joints = first.num_joints
        self.in_channels = first.in_channels
        # The three parallel stem convs of a member as one (kernels zero-padded to 3x5).
        self.stem = _StackedConv([_side_by_side(member.stem) for member in members],
                                 shared_input=True)
        self.mixed_a = _StackedConv([member.mixed_a for member in members])
        self.mixed_b = nn.Sequential(*(
            _StackedConv([member.mixed_b[i] for member in members])
            for i in range(len(first.mixed_b))
        ))
        self.blocks = nn.ModuleList()
        for i, block in enumerate(first.pose_blocks):
            same_block = [member.pose_blocks[i] for member in members]
            stacked = nn.ModuleDict({
                "residual_reduce": _StackedConv([b.residual[0] for b in same_block]),
                "residual_expand": _StackedConv([b.residual[1] for b in same_block]),
                "features": _StackedConv([b.features for b in same_block]),
                "heatmap": _StackedConv([b.heatmap for b in same_block]),
            })
            if block.reinject is not None:
                # reinject[0] is the nearest 2x upsampling, done in forward.
                stacked["reinject"] = _StackedConv([b.reinject[1] for b in same_block])
            self.blocks.append(stacked)
        self.aggregation = nn.Sequential(
            _StackedConv([member.pose_aggregation.depthwise for member in members]),
            _StackedConv([member.pose_aggregation.pointwise for member in members]),
        )
        # The view heads as one (N, C) weight applied per member block of the pooled features.
        view = first.view_head is not None
        self.register_buffer("view_weight", torch.cat(
            [member.view_head.weight.detach() for member in members]) if view else None)
        self.register_buffer("view_bias", torch.cat(
            [member.view_head.bias.detach() for member in members]) if view else None)
        self.requires_grad_(False)

    def forward(
        self, pose: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Scores clips as ``ModelAverage(members)`` does.

        Args:
            pose: (B, T, J, C) normalized pose features, T >= 1.

        Returns:
            ``(logits (B, A), view_logit (B,) or None, block_logits (B, num_blocks, A))``,
            each the mean over the members of ``FormNet.forward``'s.
        """
        n = self.members
        image = FormNet._to_image(pose)
        x = self.stem(image)
        x = max_min_pool2d(_member_major_cat([self.mixed_a(x), self.mixed_b(x)], n))
        heatmaps = []
        for block in self.blocks:
            residual = x + block["residual_expand"](block["residual_reduce"](x))
            features = block["features"](residual)
            heatmap = block["heatmap"](max_min_pool2d(features))
            heatmaps.append(heatmap)
            if "reinject" in block:
                upsampled = F.interpolate(heatmap, scale_factor=2.0, mode="nearest")
                x = residual + features + block["reinject"](upsampled)
        logits = _member_mean(global_max_min(self.aggregation(heatmaps[-1])), n)
        view_logit = None
        if self.view_weight is not None:
            pooled = global_max_min(features).reshape(pose.shape[0], n, -1)  # (B, N, C)
            view_logit = ((pooled * self.view_weight).sum(-1) + self.view_bias).mean(-1)
        block_logits = torch.stack([_member_mean(global_max_min(h), n) for h in heatmaps], 1)
        return logits, view_logit, block_logits

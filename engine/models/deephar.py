"""DeepHAR pose network (Luvizon, Picard, Tabia, CVPR 2018), re-implemented in PyTorch.

The network follows the authors' cvpr18 code as described in
``shared/reference/deephar_spec.md`` §1:

- an Inception-v4-like stem taking the input to 1/8 resolution with ``width`` channels;
- K prediction blocks, each a 3-level hourglass of separable residual units ("rBlock"), a
  separable conv, and a 1x1 conv producing heatmap logits (per joint one specialized map and
  ``num_context`` context maps); the heatmaps are re-injected into the next block through a
  1x1 conv ("fReMap"); the next block's input is rBlock + SepConv + fReMap;
- soft-argmax (softmax over positions, no temperature, grid ``linspace(0, 1, W)``) turns each
  map into coordinates in [0, 1] crop units; the joint probability is the sigmoid of the map's
  maximum logit; context maps are aggregated into the joint estimate with alpha = 0.8;
- optionally a depth branch (Human3.6M layout): ``num_depth_bins`` maps per joint, x, y from the
  depth-averaged logits and z from the space-averaged logits, two separate softmaxes.

Details kept from the authors' Keras code: no conv has a bias; every BatchNorm has a learned
shift but **no scale** (``BiasOnlyBatchNorm2d``, Keras ``scale=False``), with Keras' eps 1e-3
and momentum 0.99; stride-2 convs and the stem's 3x3 max-pool use TensorFlow "same" padding,
which puts the extra row and column at the bottom/right. With these, ``parameters()`` of
``deephar_mpii`` hold exactly the 14,669,952 trainable values of the authors' Keras model; the
BatchNorm running statistics are buffers, like Keras' non-trainable BN weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from engine.models.form_net import FormNet
from engine.models.layers import BiasOnlyBatchNorm2d
from engine.models.registry import create_model, register_model
from engine.skeleton import NUM_JOINTS

CONTEXT_ALPHA = 0.8


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) for one axis; the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SamePadConv2d(nn.Conv2d):
    """Bias-free conv with TensorFlow "same" padding for any stride (asymmetric when strided)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        # Stride 1 with odd kernels: "same" is symmetric, so the conv pads by itself (faster).
        self._pad_inline = stride == 1 and kh % 2 == 1 and kw % 2 == 1
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False,
            padding=(kh // 2, kw // 2) if self._pad_inline else 0,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pads like TensorFlow for this input size, then convolves."""
        if self._pad_inline:
            return super().forward(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = _same_padding(int(x.shape[-2]), kh, sh)
        left, right = _same_padding(int(x.shape[-1]), kw, sw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class SameMaxPool2d(nn.Module):
    """Max-pool with TensorFlow "same" padding (pads with -inf, extra pixel bottom/right)."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pads with -inf like TensorFlow, then pools."""
        top, bottom = _same_padding(int(x.shape[-2]), self.kernel_size, self.stride)
        left, right = _same_padding(int(x.shape[-1]), self.kernel_size, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class ConvBN(nn.Sequential):
    """conv -> BN, optionally with ReLU after ("CBR") or before ("RCB", pre-activation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        relu: str = "after",
    ) -> None:
        if relu not in ("after", "before", "none"):
            raise ValueError(f"relu must be 'after', 'before' or 'none', got {relu!r}")
        layers: list[nn.Module] = [nn.ReLU()] if relu == "before" else []
        layers += [
            SamePadConv2d(in_channels, out_channels, kernel_size, stride=stride),
            BiasOnlyBatchNorm2d(out_channels),
        ]
        if relu == "after":
            layers.append(nn.ReLU())
        super().__init__(*layers)


class SeparableConv2d(nn.Sequential):
    """Depthwise k x k (multiplier 1) then pointwise 1x1, both bias-free, nothing between."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            SamePadConv2d(in_channels, in_channels, kernel_size, groups=in_channels),
            SamePadConv2d(in_channels, out_channels, 1),
        )


class SeparableResidual(nn.Module):
    """Separable residual unit: shortcut + (ReLU -> separable conv -> BN), no final activation.

    The shortcut is the identity when the widths match, else ReLU -> 1x1 conv -> BN. A narrower
    output first reduces the main path with ReLU -> 1x1 conv -> BN.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else ConvBN(in_channels, out_channels, 1, relu="before")
        )
        self.reduce: nn.Module = (
            ConvBN(in_channels, out_channels, 1, relu="before")
            if out_channels < in_channels
            else nn.Identity()
        )
        main_in = min(in_channels, out_channels)
        self.main = nn.Sequential(
            nn.ReLU(),
            SeparableConv2d(main_in, out_channels, kernel_size),
            BiasOnlyBatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W)."""
        return self.shortcut(x) + self.main(self.reduce(x))


class Stem(nn.Module):
    """Entry flow: input (B, 3, S, S) -> (B, width, S/8, S/8).

    Base widths 32/32/64/96/64/96 are multiplied by ``scale`` for smaller variants.
    """

    def __init__(self, width: int = 576, *, scale: float = 1.0, kernel_size: int = 3) -> None:
        super().__init__()

        def ch(base: int) -> int:
            return max(8, int(round(base * scale / 8)) * 8)

        c32, c64, c96 = ch(32), ch(64), ch(96)
        self.entry = nn.Sequential(
            ConvBN(3, c32, 3, stride=2), ConvBN(c32, c32, 3), ConvBN(c32, c64, 3)
        )
        self.down1_conv = ConvBN(c64, c96, 3, stride=2)
        self.down1_pool = SameMaxPool2d(3, 2)
        mixed = c96 + c64
        self.mix_a = nn.Sequential(ConvBN(mixed, c64, 1), ConvBN(c64, c96, 3, relu="none"))
        self.mix_b = nn.Sequential(
            ConvBN(mixed, c64, 1),
            ConvBN(c64, c64, (5, 1)),
            ConvBN(c64, c64, (1, 5)),
            ConvBN(c64, c96, 3, relu="none"),
        )
        self.down2_conv = ConvBN(2 * c96, 2 * c96, 3, stride=2, relu="before")
        self.down2_pool = nn.MaxPool2d(2, 2)
        self.out = SeparableResidual(4 * c96, width, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, width, S/8, S/8)."""
        x = self.entry(x)
        x = torch.cat([self.down1_conv(x), self.down1_pool(x)], dim=1)
        # The second down-sampling pools the concatenation before any ReLU (authors' wiring).
        x = torch.cat([self.mix_a(x), self.mix_b(x)], dim=1)
        x = torch.cat([self.down2_conv(x), self.down2_pool(x)], dim=1)
        return self.out(x)


class ReceptionBlock(nn.Module):
    """The "rBlock": a 3-level hourglass of separable residual units at 1, 1/2 and 1/4 size."""

    def __init__(self, width: int, kernel_size: int) -> None:
        super().__init__()
        half = width // 2
        self.level1 = SeparableResidual(width, width, kernel_size)
        self.down = nn.Sequential(
            nn.MaxPool2d(2, 2),
            ConvBN(width, half, 1, relu="before"),
            SeparableResidual(half, half, kernel_size),
        )
        self.level2 = SeparableResidual(half, half, kernel_size)
        self.level3 = nn.Sequential(
            nn.MaxPool2d(2, 2),
            *(SeparableResidual(half, half, kernel_size) for _ in range(3)),
            nn.Upsample(scale_factor=2, mode="nearest"),
        )
        self.up = nn.Sequential(
            SeparableResidual(half, width, kernel_size),
            nn.Upsample(scale_factor=2, mode="nearest"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width, h, w) -> (B, width, h, w)."""
        low = self.down(x)
        return self.level1(x) + self.up(self.level2(low) + self.level3(low))


class PredictionBlock(nn.Module):
    """One prediction block: rBlock, SepConv, heatmap logits, and (not last) re-injection."""

    def __init__(self, width: int, num_maps: int, kernel_size: int, *, last: bool) -> None:
        super().__init__()
        self.reception = ReceptionBlock(width, kernel_size)
        self.sepconv = nn.Sequential(
            nn.ReLU(), SeparableConv2d(width, width, kernel_size), BiasOnlyBatchNorm2d(width)
        )
        self.regmap = nn.Sequential(nn.ReLU(), SamePadConv2d(width, num_maps, 1))
        self.remap: nn.Module | None = (
            None if last else ConvBN(num_maps, width, 1, relu="before")
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns (heatmap logits, rBlock output, next block input or None when last)."""
        reception = self.reception(x)
        features = self.sepconv(reception)
        logits = self.regmap(features)
        if self.remap is None:
            return logits, reception, None
        return logits, reception, reception + features + self.remap(logits)


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Expected (x, y) under the spatial softmax of each map.

    Args:
        logits: (B, C, H, W) raw heatmap logits.

    Returns:
        (B, C, 2) coordinates in [0, 1]: column 0 maps to 0 and column W-1 to 1 (the cvpr18
        endpoint-inclusive grid); same for rows.
    """
    b, c, h, w = logits.shape
    prob = torch.softmax(logits.reshape(b, c, h * w), dim=-1).reshape(b, c, h, w)
    xs = torch.linspace(0.0, 1.0, w, device=logits.device, dtype=prob.dtype)
    ys = torch.linspace(0.0, 1.0, h, device=logits.device, dtype=prob.dtype)
    x = (prob.sum(dim=2) * xs).sum(dim=-1)
    y = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def max_logit(logits: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) spatial maximum of each map."""
    return logits.flatten(2).amax(dim=-1)


@dataclass
class DeepHAROutputs:
    """Everything one forward pass produces, for training and for the action stream.

    Attributes:
        poses: (B, K, J, D+1) per block: coordinates in [0, 1] crop units (D = 2, or 3 with
            depth) followed by the joint probability.
        joint_logits: (B, K, J) max logit of each joint's specialized map (probability =
            sigmoid of it, 2D); the action stream uses sigmoid(4 * logit).
        last_heatmaps: (B, J, h, w) specialized heatmap logits of the last block (depth-averaged
            for 3D).
        features: (B, width, h, w) output of the first rBlock (appearance features).
    """

    poses: torch.Tensor
    joint_logits: torch.Tensor
    last_heatmaps: torch.Tensor
    features: torch.Tensor


class DeepHAR(nn.Module):
    """DeepHAR multi-block pose regression network (2D, or 3D with ``num_depth_bins``).

    Calling the module returns only the per-block poses ``(B, K, J, D+1)`` so it exports to
    ONNX as one tensor; ``forward_all`` also returns heatmaps and features.
    """

    def __init__(
        self,
        *,
        num_joints: int = NUM_JOINTS,
        num_blocks: int = 8,
        width: int = 576,
        kernel_size: int = 5,
        num_context: int = 2,
        num_depth_bins: int | None = None,
        stem_scale: float = 1.0,
        input_size: int = 256,
    ) -> None:
        """Builds the network.

        Args:
            num_joints: J, joints predicted (16 canonical; 17 for the Human3.6M layout).
            num_blocks: K prediction blocks, each supervised.
            width: channels of the block features (576 in the paper).
            kernel_size: separable conv kernel in the blocks (5 in every trained model).
            num_context: context maps per joint (2D only; 0 disables aggregation).
            num_depth_bins: N_d depth maps per joint for the 3D branch; None for 2D.
            stem_scale: multiplier on the stem's base widths (1.0 = paper).
            input_size: square input side; must be a multiple of 32 (three halvings in the
                stem and two in each hourglass).
        """
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        if width % 2:
            raise ValueError(f"width must be even, got {width}")
        self.num_joints = num_joints
        self.num_blocks = num_blocks
        self.width = width
        self.input_size = input_size
        self.num_depth_bins = num_depth_bins
        self.num_context = 0 if num_depth_bins else num_context
        if num_depth_bins:
            num_maps = num_joints * num_depth_bins
        else:
            num_maps = num_joints * (1 + self.num_context)
        self.num_maps = num_maps
        self.stem = Stem(width, scale=stem_scale)
        self.blocks = nn.ModuleList(
            PredictionBlock(width, num_maps, kernel_size, last=b == num_blocks - 1)
            for b in range(num_blocks)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # Keras' default kernel initializer (Glorot uniform).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)

    @property
    def output_dim(self) -> int:
        """Values per joint in ``poses``: 3 for 2D (x, y, p), 4 for 3D (x, y, z, p)."""
        return 4 if self.num_depth_bins else 3

    def _decode(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heatmap logits -> (pose (B, J, D+1), joint logit (B, J), specialized maps)."""
        j = self.num_joints
        if self.num_depth_bins:
            b, _, h, w = logits.shape
            volume = logits.reshape(b, self.num_depth_bins, j, h, w)  # channel = d * J + j
            xy_logits = volume.mean(dim=1)
            z_logits = volume.mean(dim=(3, 4)).transpose(1, 2)  # (B, J, N_d)
            zs = torch.linspace(0.0, 1.0, self.num_depth_bins, device=logits.device)
            z = (torch.softmax(z_logits, dim=-1) * zs.to(z_logits.dtype)).sum(dim=-1)
            joint_logit = max_logit(xy_logits) + z_logits.amax(dim=-1)
            coords = torch.cat([soft_argmax(xy_logits), z.unsqueeze(-1)], dim=-1)
            pose = torch.cat([coords, torch.sigmoid(joint_logit).unsqueeze(-1)], dim=-1)
            return pose, joint_logit, xy_logits
        specialized = logits[:, :j]
        joint_logit = max_logit(specialized)
        coords = soft_argmax(specialized)
        if self.num_context:
            context = logits[:, j:]  # joint k owns channels J + n_c * k ... J + n_c * k + n_c - 1
            b = context.shape[0]
            context_xy = soft_argmax(context).reshape(b, j, self.num_context, 2)
            weight = torch.sigmoid(max_logit(context)).reshape(b, j, self.num_context, 1)
            context_mean = (weight * context_xy).sum(dim=2) / weight.sum(dim=2)
            coords = CONTEXT_ALPHA * coords + (1.0 - CONTEXT_ALPHA) * context_mean
        pose = torch.cat([coords, torch.sigmoid(joint_logit).unsqueeze(-1)], dim=-1)
        return pose, joint_logit, specialized

    def forward_all(self, images: torch.Tensor) -> DeepHAROutputs:
        """Runs the network.

        Args:
            images: (B, 3, S, S) RGB crops scaled to [-1, 1], S = ``input_size``.

        Returns:
            DeepHAROutputs with every block's poses, joint logits, the last block's specialized
            heatmaps and the first rBlock's features.
        """
        x = self.stem(images)
        poses, joint_logits = [], []
        features = heatmaps = x
        for index, block in enumerate(self.blocks):
            logits, reception, x = block(x)
            if index == 0:
                features = reception
            pose, joint_logit, heatmaps = self._decode(logits)
            poses.append(pose)
            joint_logits.append(joint_logit)
        return DeepHAROutputs(
            poses=torch.stack(poses, dim=1),
            joint_logits=torch.stack(joint_logits, dim=1),
            last_heatmaps=heatmaps,
            features=features,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> poses (B, K, J, D+1) per block (see ``forward_all``)."""
        return self.forward_all(images).poses


@register_model
def deephar_mpii(**kwargs: object) -> DeepHAR:
    """The paper's MPII model: 256x256 input, K = 8 blocks, 16 joints, 2 context maps."""
    return DeepHAR(**{"num_blocks": 8, "input_size": 256, **kwargs})  # type: ignore[arg-type]


@register_model
def deephar_penn(**kwargs: object) -> DeepHAR:
    """The pose part of the authors' action models: as ``deephar_mpii`` with K = 4 blocks."""
    return DeepHAR(**{"num_blocks": 4, "input_size": 256, **kwargs})  # type: ignore[arg-type]


@register_model
def deephar_h36m(**kwargs: object) -> DeepHAR:
    """The 3D model (Human3.6M layout): 17 joints, 16 depth bins, K = 8 blocks."""
    defaults = {"num_joints": 17, "num_blocks": 8, "num_depth_bins": 16, "input_size": 256}
    return DeepHAR(**{**defaults, **kwargs})  # type: ignore[arg-type]


@register_model
def deephar_small(**kwargs: object) -> DeepHAR:
    """Real-time CPU variant: 128x128 input, 2 blocks of 192 channels, half-width stem."""
    defaults = {
        "num_blocks": 2, "width": 192, "kernel_size": 5, "stem_scale": 0.5, "input_size": 128,
    }
    return DeepHAR(**{**defaults, **kwargs})  # type: ignore[arg-type]


@register_model
def deephar_test(**kwargs: object) -> DeepHAR:
    """Tiny variant for tests: 64x64 input, 2 blocks of 32 channels, kernel 3."""
    defaults = {
        "num_blocks": 2, "width": 32, "kernel_size": 3, "stem_scale": 0.25, "input_size": 64,
    }
    return DeepHAR(**{**defaults, **kwargs})  # type: ignore[arg-type]


class DeepHARAction(nn.Module):
    """DeepHAR action recognition: the pose network per frame, then pose and appearance streams.

    Per frame (deephar_spec.md §1.7), from the pose network's last block: the context-aggregated
    coordinates y, the joint probability p = sigmoid(4 * max logit), and the appearance
    features V[t, j] = sum over positions of softmax(heatmap_j) * F, with F the first rBlock's
    output. The pose stream reads the T x J "pose image" y * p (two channels, x p and y p); the
    appearance stream reads V. Both are ``engine.models.form_net.FormNet`` with its paper
    defaults (Keras BatchNorm without scale, eps 1e-3, momentum 0.99; no view head), so the
    defaults here are the authors' Penn Action model (cvpr18 ``action.py`` ``build_merge_model``)
    layer for layer.
    """

    def __init__(
        self,
        *,
        pose_model: str = "deephar_penn",
        pose_kwargs: dict[str, object] | None = None,
        num_classes: int = 15,
        stem_widths: tuple[int, int, int] = (8, 16, 24),
        mixed_width: int = 56,
        mixed_reduce_width: int = 32,
        num_blocks: int = 4,
        appearance_width: int = 256,
        use_appearance: bool = True,
        freeze_pose: bool = True,
    ) -> None:
        """Builds the pose network and the action head.

        Args:
            pose_model: registered DeepHAR pose variant.
            pose_kwargs: its keyword overrides.
            num_classes: actions A.
            stem_widths: pose-stream stem widths (Penn v1: 8, 16, 24).
            mixed_width: pose-stream mixed width; blocks run at twice this (Penn v1: 56).
            mixed_reduce_width: the 1x1 reduction opening the second mixed branch (Penn v1: 32).
            num_blocks: action prediction blocks per stream (4).
            appearance_width: appearance-stream width (256).
            use_appearance: build the appearance stream.
            freeze_pose: keep the pose network fixed (eval mode, no gradients), as in the
                authors' first training phase.
        """
        super().__init__()
        self.pose = create_model(pose_model, **(pose_kwargs or {}))
        self.freeze_pose = freeze_pose
        self.use_appearance = use_appearance
        self.input_size = self.pose.input_size
        self.head = FormNet(
            num_classes=num_classes,
            num_joints=self.pose.num_joints,
            in_channels=2,
            stem_widths=stem_widths,
            mixed_width=mixed_width,
            mixed_reduce_width=mixed_reduce_width,
            num_blocks=num_blocks,
            appearance_channels=self.pose.width if use_appearance else 0,
            appearance_width=appearance_width,
        )

    def _pose_features(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.pose.forward_all(frames)
        coords = out.poses[:, -1, :, :2]
        prob = torch.sigmoid(4.0 * out.joint_logits[:, -1]).unsqueeze(-1)
        pose_image = coords * prob  # (N, J, 2): the authors' y * p
        if not self.use_appearance:
            return pose_image, None
        maps = torch.softmax(out.last_heatmaps.flatten(2), dim=-1)  # (N, J, hw)
        appearance = torch.einsum("njp,ncp->njc", maps, out.features.flatten(2))
        return pose_image, appearance

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores clips.

        Args:
            clips: (B, T, 3, S, S) frame crops in [-1, 1].

        Returns:
            (logits (B, A) of the aggregated output, block_logits (B, n, A) of every action
            prediction block of both streams).
        """
        b, t = clips.shape[:2]
        frames = clips.flatten(0, 1)
        if self.freeze_pose:
            self.pose.eval()
            with torch.no_grad():
                pose_image, appearance = self._pose_features(frames)
        else:
            pose_image, appearance = self._pose_features(frames)
        pose_image = pose_image.reshape(b, t, *pose_image.shape[1:])
        if appearance is not None:
            appearance = appearance.reshape(b, t, *appearance.shape[1:])
        logits, _, block_logits = self.head(pose_image, appearance)
        return logits, block_logits


@register_model
def deephar_action_penn(**kwargs: object) -> DeepHARAction:
    """The authors' Penn Action model: K = 4 pose network, PoseAR v1 and the appearance stream.

    Layer for layer the cvpr18 model: 4,916,320 trainable action parameters (PoseAR 852,864,
    GuidedVisAR 4,062,976, merge 480) on a 7,838,592-parameter pose network.
    """
    return DeepHARAction(**kwargs)  # type: ignore[arg-type]


@register_model
def deephar_action_test(**kwargs: object) -> DeepHARAction:
    """Tiny action model for tests (``deephar_test`` pose network, narrow streams)."""
    defaults = {
        "pose_model": "deephar_test", "stem_widths": (4, 4, 8), "mixed_width": 8,
        "mixed_reduce_width": 4, "num_blocks": 2, "appearance_width": 16,
    }
    return DeepHARAction(**{**defaults, **kwargs})  # type: ignore[arg-type]

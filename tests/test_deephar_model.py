import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from engine.models import create_model, list_models
from engine.models.deephar import (
    DeepHAR,
    SameMaxPool2d,
    SamePadConv2d,
    _same_padding,
    soft_argmax,
)

# Trainable parameter counts of the authors' Keras models (deephar_spec.md §9 and
# deephar_keras_summaries/mpii_2d_8blocks.txt). Keras BN has no gamma (scale=False); our BN has
# none either, so parameters() are comparable one to one and BN running stats are buffers.
KERAS_MPII_TOTAL = 14_669_952
KERAS_STEM = 1_035_456
KERAS_RBLOCK = 1_305_216
KERAS_SEPCONV = 346_752
KERAS_REGMAP = 27_648
KERAS_FREMAP = 28_224
KERAS_BN_RUNNING_STATS = 76_608


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def mpii_model() -> DeepHAR:
    torch.manual_seed(0)
    return create_model("deephar_mpii")


def test_mpii_parameter_count_matches_keras(mpii_model):
    assert count(mpii_model) == KERAS_MPII_TOTAL, count(mpii_model)
    running = sum(
        b.numel() for name, b in mpii_model.named_buffers() if "running_" in name
    )
    assert running == KERAS_BN_RUNNING_STATS


def test_mpii_part_counts_match_keras(mpii_model):
    assert count(mpii_model.stem) == KERAS_STEM
    first = mpii_model.blocks[0]
    assert count(first.reception) == KERAS_RBLOCK
    assert count(first.sepconv) == KERAS_SEPCONV
    assert count(first.regmap) == KERAS_REGMAP
    assert count(first.remap) == KERAS_FREMAP
    block = count(first)
    assert block == KERAS_RBLOCK + KERAS_SEPCONV + KERAS_REGMAP + KERAS_FREMAP
    assert mpii_model.blocks[-1].remap is None


def test_mpii_forward_shapes_and_ranges(mpii_model):
    mpii_model.eval()
    with torch.no_grad():
        out = mpii_model.forward_all(torch.rand(1, 3, 256, 256) * 2 - 1)
    assert out.poses.shape == (1, 8, 16, 3)
    assert out.features.shape == (1, 576, 32, 32)
    assert out.last_heatmaps.shape == (1, 16, 32, 32)
    assert out.joint_logits.shape == (1, 8, 16)
    assert torch.all((out.poses >= 0) & (out.poses <= 1))


@pytest.mark.parametrize(
    "name",
    [n for n in list_models("deephar") if n != "deephar_mpii" and "action" not in n],
)
def test_every_variant_builds_and_has_documented_output(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    size = model.input_size
    with torch.no_grad():
        poses = model(torch.zeros(2, 3, size, size))
    assert poses.shape == (2, model.num_blocks, model.num_joints, model.output_dim)
    assert torch.isfinite(poses).all()


def test_3d_variant_counts_and_layout():
    model = create_model("deephar_h36m")
    assert count(model) == 16_605_312
    assert model.output_dim == 4 and model.num_joints == 17


def test_tf_same_padding_is_asymmetric_for_stride_two():
    assert _same_padding(256, 3, 2) == (0, 1)
    assert _same_padding(128, 3, 2) == (0, 1)
    assert _same_padding(32, 5, 1) == (2, 2)
    conv = SamePadConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left tap
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # No top/left padding: the top-left tap of output (0, 0) is input (0, 0).
    assert conv(x)[0, 0, 0, 0] == 0.0
    assert conv(x).shape[-2:] == (2, 2)
    pooled = SameMaxPool2d(3, 2)(-x)
    assert pooled.shape[-2:] == (2, 2) and pooled[0, 0, 1, 1] == -10.0


def test_soft_argmax_grid_is_endpoint_inclusive():
    logits = torch.full((1, 2, 8, 8), -1e4)
    logits[0, 0, 0, 7] = 0.0  # top-right cell
    logits[0, 1, 7, 0] = 0.0  # bottom-left cell
    xy = soft_argmax(logits)
    assert torch.allclose(xy[0, 0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(xy[0, 1], torch.tensor([0.0, 1.0]))


def test_context_aggregation_weights_specialized_map_by_alpha():
    model = create_model("deephar_test")
    j = model.num_joints
    logits = torch.full((1, 3 * j, 8, 8), -1e4)
    logits[0, :j, 0, 0] = 0.0  # specialized peaks at (0, 0)
    logits[0, j:, 7, 7] = 0.0  # every context map peaks at (1, 1)
    pose, _, _ = model._decode(logits)
    assert torch.allclose(pose[0, :, :2], torch.full((j, 2), 0.2), atol=1e-6)


def test_batchnorm_has_no_scale_and_keras_settings(mpii_model):
    bn = mpii_model.stem.entry[0][1]
    assert bn.weight is None and bn.bias is not None
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.01)


def test_input_size_must_fit_the_pyramid():
    with pytest.raises(ValueError, match="multiple of 32"):
        DeepHAR(input_size=100)


def test_small_variant_is_cheap():
    small = create_model("deephar_small")
    assert count(small) < 1_000_000 and small.input_size <= 192


def test_gradients_reach_the_stem():
    model = create_model("deephar_test")
    poses = model(torch.randn(2, 3, 64, 64))
    F.mse_loss(poses, torch.rand_like(poses)).backward()
    assert model.stem.entry[0][0].weight.grad.abs().sum() > 0


# The authors' Penn Action model built in Keras (deephar_spec.md §9 and
# deephar_keras_summaries/penn_pose_action.txt, sub-models PoseAR, GuidedVisAR and the two
# SeparableConv2D merge layers): trainable counts, and BN running statistics (the difference
# between a sub-model's total and trainable counts).
KERAS_PENN_POSE = 7_838_592
KERAS_PENN_ACTION = 4_916_320
KERAS_POSE_AR = 852_864
KERAS_POSE_AR_TOTAL = 856_160
KERAS_VISUAL_AR = 4_062_976
KERAS_VISUAL_AR_TOTAL = 4_070_144
KERAS_MERGE = 2 * (15 + 15 * 15)


def running_stats(module: torch.nn.Module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if "running_" in name)


@pytest.fixture(scope="module")
def penn_action():
    return create_model("deephar_action_penn")


def test_penn_action_parameter_counts_equal_keras(penn_action):
    head = penn_action.head
    pose_ar = [head.stem, head.mixed_a, head.mixed_b, head.pose_blocks]
    visual_ar = [head.appearance_entry, head.appearance_blocks]
    assert sum(count(m) for m in pose_ar) == KERAS_POSE_AR
    assert sum(count(m) + running_stats(m) for m in pose_ar) == KERAS_POSE_AR_TOTAL
    assert sum(count(m) for m in visual_ar) == KERAS_VISUAL_AR
    assert sum(count(m) + running_stats(m) for m in visual_ar) == KERAS_VISUAL_AR_TOTAL
    assert count(head.pose_aggregation) + count(head.appearance_aggregation) == KERAS_MERGE
    assert count(head) == KERAS_PENN_ACTION
    assert count(penn_action.pose) == KERAS_PENN_POSE


def test_penn_action_layer_widths_and_batchnorm_are_the_authors(penn_action):
    # cvpr18 action.py build_pose_model('v1') and build_visual_model: the pose image y * p has
    # 2 channels; stem 8 / 16 / 24; mixed 56 || (1x1 -> 32, 3x3 -> 56); blocks at 112; the
    # appearance stream a 1x1 conv 576 -> 256 and blocks at 256; 15 action maps.
    head = penn_action.head
    assert [branch[0].in_channels for branch in head.stem] == [2, 2, 2]
    assert [branch[0].out_channels for branch in head.stem] == [8, 16, 24]
    assert head.mixed_a[0].out_channels == 56
    assert [layer[0].out_channels for layer in head.mixed_b] == [32, 56]
    for blocks, width in ((head.pose_blocks, 112), (head.appearance_blocks, 256)):
        assert len(blocks) == 4
        for block in blocks:
            assert [unit[1].out_channels for unit in block.residual] == [width // 2, width]
            assert block.features[1].out_channels == width
            assert block.heatmap[1].out_channels == 15
    assert head.appearance_entry[0].in_channels == 576
    assert head.appearance_entry[0].out_channels == 256
    assert head.view_head is None
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # Keras BatchNormalization(scale=False): eps 1e-3, momentum 0.99 (0.01 in PyTorch terms).
    assert {(m.eps, m.momentum, m.weight is None) for m in norms} == {(1e-3, 0.01, True)}


def test_penn_action_pose_image_is_masked_coordinates(penn_action):
    pose_image, _ = penn_action._pose_features(torch.zeros(1, 3, 256, 256))
    assert pose_image.shape == (1, 16, 2)


def test_action_test_variant_scores_clips():
    model = create_model("deephar_action_test").eval()
    logits, blocks = model(torch.zeros(1, 4, 3, 64, 64))
    assert logits.shape == (1, 15) and blocks.shape[0] == 1 and blocks.shape[-1] == 15

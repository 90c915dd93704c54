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


def within_one_percent(value: int, reference: int) -> bool:
    return abs(value - reference) <= 0.01 * reference


@pytest.fixture(scope="module")
def mpii_model() -> DeepHAR:
    torch.manual_seed(0)
    return create_model("deephar_mpii")


def test_mpii_parameter_count_matches_keras(mpii_model):
    assert within_one_percent(count(mpii_model), KERAS_MPII_TOTAL), count(mpii_model)
    running = sum(
        b.numel() for name, b in mpii_model.named_buffers() if "running_" in name
    )
    assert running == KERAS_BN_RUNNING_STATS


def test_mpii_part_counts_match_keras(mpii_model):
    assert within_one_percent(count(mpii_model.stem), KERAS_STEM)
    first = mpii_model.blocks[0]
    assert within_one_percent(count(first.reception), KERAS_RBLOCK)
    assert within_one_percent(count(first.sepconv), KERAS_SEPCONV)
    assert within_one_percent(count(first.regmap), KERAS_REGMAP)
    assert within_one_percent(count(first.remap), KERAS_FREMAP)
    block = count(first)
    assert within_one_percent(block, KERAS_RBLOCK + KERAS_SEPCONV + KERAS_REGMAP + KERAS_FREMAP)
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
    assert within_one_percent(count(model), 16_605_312)
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


def test_penn_action_head_matches_keras_count():
    # deephar_spec.md §9: Penn pose + action with the pose part frozen has 4,916,320
    # trainable action parameters (PoseAR v1 + VisualAR + merge).
    model = create_model("deephar_action_penn")
    assert within_one_percent(count(model.head), 4_916_320), count(model.head)
    assert within_one_percent(count(model.pose), 7_838_592)


def test_action_test_variant_scores_clips():
    model = create_model("deephar_action_test").eval()
    logits, blocks = model(torch.zeros(1, 4, 3, 64, 64))
    assert logits.shape == (1, 15) and blocks.shape[0] == 1 and blocks.shape[-1] == 15

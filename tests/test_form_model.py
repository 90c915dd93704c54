"""Shapes and behaviour of every registered form model variant."""

from __future__ import annotations

import pytest
import torch

from engine.models import create_model, list_models
from engine.models.form_net import FormNet, max_min_pool2d

FORM_VARIANTS = list_models("form_")


def test_both_variants_registered():
    assert {"form_handstand", "form_handstand_test"} <= set(FORM_VARIANTS)


@pytest.mark.parametrize("name", FORM_VARIANTS)
@pytest.mark.parametrize("frames", [1, 5, 16])
@pytest.mark.parametrize("batch", [1, 3])
def test_output_shapes(name, frames, batch):
    model = create_model(name).eval()
    with torch.no_grad():
        logits, view, blocks = model(torch.randn(batch, frames, 16, 3))
    assert logits.shape == (batch, 4)
    assert view.shape == (batch,)
    assert blocks.shape == (batch, len(model.pose_blocks), 4)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", FORM_VARIANTS)
def test_single_photo_equals_a_still_clip(name):
    model = create_model(name).eval()
    photo = torch.randn(2, 1, 16, 3)
    with torch.no_grad():
        single = model(photo)[0]
        still = model(photo.expand(-1, 4, -1, -1))[0]
    torch.testing.assert_close(single, still)


def test_appearance_stream_adds_blocks_and_is_required():
    model = create_model("form_handstand_test", appearance_channels=6).eval()
    with torch.no_grad():
        logits, _, blocks = model(torch.randn(2, 16, 16, 3), torch.randn(2, 16, 16, 6))
    assert logits.shape == (2, 4) and blocks.shape == (2, 2 * len(model.pose_blocks), 4)
    with pytest.raises(ValueError, match="appearance"):
        model(torch.randn(2, 16, 16, 3))
    with pytest.raises(ValueError, match="no appearance"):
        create_model("form_handstand_test")(torch.randn(1, 4, 16, 3), torch.randn(1, 4, 16, 6))


def test_max_min_pooling_is_max_plus_min():
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    assert max_min_pool2d(x).item() == pytest.approx(3.0 - 2.0)


def test_aggregation_starts_as_identity():
    model = FormNet(stem_widths=(2, 2, 2), mixed_width=4, mixed_reduce_width=2, num_blocks=1)
    heatmap = torch.randn(1, model.num_classes, 2, 2)
    torch.testing.assert_close(model.pose_aggregation(heatmap), heatmap)


def test_shipped_variant_is_small():
    params = sum(p.numel() for p in create_model("form_handstand").parameters())
    assert params < 200_000

"""The seed ensemble averages its members' outputs and exports like a single model; stacked
into one network (``StackedFormNet``) it computes the same."""

import pytest
import torch

from engine.models import create_model
from engine.models.ensemble import ModelAverage
from engine.models.form_net import StackedFormNet


def _members(count: int, **kwargs) -> list[torch.nn.Module]:
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(create_model("form_handstand_test", **kwargs).eval())
    return members


def _trained_statistics(members: list[torch.nn.Module]) -> list[torch.nn.Module]:
    """Batch norms with running statistics and affine terms away from their initial values."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for norm in (m for member in members for m in member.modules()
                     if isinstance(m, torch.nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5, generator=generator)
            norm.running_var.uniform_(0.5, 2.0, generator=generator)
            norm.bias.uniform_(-0.3, 0.3, generator=generator)
            if norm.weight is not None:
                norm.weight.uniform_(0.5, 1.5, generator=generator)
    return members


def test_outputs_are_the_mean_of_the_members():
    members = _members(3)
    ensemble = ModelAverage(members).eval()
    pose = torch.randn(2, 4, members[0].num_joints, 3)
    with torch.no_grad():
        got = ensemble(pose)
        each = [m(pose) for m in members]
    for index, part in enumerate(got):
        expected = torch.stack([e[index] for e in each]).mean(dim=0)
        torch.testing.assert_close(part, expected)
    assert ensemble.num_joints == members[0].num_joints
    assert ensemble.num_classes == members[0].num_classes


def test_one_member_is_that_member():
    (member,) = _members(1)
    pose = torch.randn(1, 2, member.num_joints, 3)
    with torch.no_grad():
        torch.testing.assert_close(ModelAverage([member]).eval()(pose)[0], member(pose)[0])


def test_state_dict_round_trip_keeps_members_apart():
    source = ModelAverage(_members(2))
    target = ModelAverage([create_model("form_handstand_test") for _ in range(2)])
    target.load_state_dict(source.state_dict())
    for a, b in zip(source.members, target.members, strict=True):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name
    first, second = (next(iter(m.parameters())).detach() for m in source.members)
    assert not torch.equal(first, second)


def test_no_members_is_an_error():
    with pytest.raises(ValueError, match="at least one member"):
        ModelAverage([])


def test_an_ensemble_checkpoint_saves_and_loads(tmp_path):
    from engine.checkpoint import Checkpoint, load, save

    ensemble = ModelAverage(_members(2)).eval()
    path = tmp_path / "ensemble.pt"
    save(Checkpoint(kind="form", model_name="form_handstand_test", members=2,
                    state_dict=ensemble.state_dict(), labels=("a", "b", "c", "d")), path)
    loaded = load(path, "form", verify_checksum=False)
    assert loaded.members == 2
    rebuilt = loaded.build_model()
    assert isinstance(rebuilt, ModelAverage) and len(rebuilt.members) == 2
    pose = torch.randn(1, 4, rebuilt.num_joints, 3)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(pose)[0], ensemble(pose)[0])


def test_a_single_model_checkpoint_is_not_wrapped(tmp_path):
    from engine.checkpoint import Checkpoint, load, save

    (member,) = _members(1)
    path = tmp_path / "single.pt"
    save(Checkpoint(kind="form", model_name="form_handstand_test",
                    state_dict=member.state_dict(), labels=("a", "b", "c", "d")), path)
    assert not isinstance(load(path, "form", verify_checksum=False).build_model(), ModelAverage)


@pytest.mark.parametrize("count", [1, 3])
def test_stacked_members_compute_the_average(count):
    members = _trained_statistics(_members(count))
    ensemble, stacked = ModelAverage(members).eval(), StackedFormNet(members).eval()
    assert (stacked.num_classes, stacked.num_joints) == (ensemble.num_classes, ensemble.num_joints)
    for frames, batch in [(1, 1), (1, 2), (16, 1), (16, 2)]:
        pose = torch.randn(batch, frames, members[0].num_joints, 3)
        with torch.no_grad():
            expected, got = ensemble(pose), stacked(pose)
        for name, want, have in zip(("logits", "view", "blocks"), expected, got, strict=True):
            torch.testing.assert_close(have, want, rtol=1e-5, atol=1e-5, msg=name)


def test_stacked_members_without_scale_or_view_head():
    members = _trained_statistics(_members(2, bn_scale=False, view_head=False))
    pose = torch.randn(2, 5, members[0].num_joints, 3)
    with torch.no_grad():
        logits, view, blocks = StackedFormNet(members).eval()(pose)
        each = [member(pose) for member in members]
    assert view is None
    torch.testing.assert_close(logits, torch.stack([e[0] for e in each]).mean(0))
    torch.testing.assert_close(blocks, torch.stack([e[2] for e in each]).mean(0))


def test_stacked_members_are_copied_and_not_trained():
    members = _members(2)
    stacked = StackedFormNet(members)
    assert not any(parameter.requires_grad for parameter in stacked.parameters())
    with torch.no_grad():
        members[0].pose_aggregation.pointwise.weight.zero_()
    assert stacked.aggregation[1].conv.weight.abs().sum() > 0


def test_stacking_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="at least one member"):
        StackedFormNet([])
    with pytest.raises(ValueError, match="one architecture"):
        StackedFormNet(_members(1) + _members(1, num_blocks=3))
    with pytest.raises(ValueError, match="one architecture"):
        StackedFormNet(_members(1) + _members(1, view_head=False))
    with pytest.raises(ValueError, match="appearance"):
        StackedFormNet(_members(2, appearance_channels=6))

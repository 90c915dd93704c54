"""The seed ensemble averages its members' outputs and exports like a single model."""

import pytest
import torch

from engine.models import create_model
from engine.models.ensemble import ModelAverage


def _members(count: int) -> list[torch.nn.Module]:
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(create_model("form_handstand_test").eval())
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

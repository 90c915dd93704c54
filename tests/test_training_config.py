"""training.config (overrides with type checks, every field on the command line) and
training.engine (the shared loop, generator-drawn initialization, torch settings)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from engine.checkpoint import InputChecks, load
from engine.models import create_model
from training import evaluate as evaluate_module
from training import train_action, train_form, train_pose
from training.config import (
    ConfigError,
    coerce,
    describe,
    field_docs,
    field_types,
    from_args,
    from_dict,
    override,
)
from training.engine import Step, build_model, collect, torch_settings, train_one_epoch
from training.train_action import ActionTrainConfig
from training.train_form import FormTrainConfig
from training.train_pose import PoseTrainConfig

CONFIGS = [FormTrainConfig, PoseTrainConfig, ActionTrainConfig]


def form_config(argv: list[str]) -> FormTrainConfig:
    return from_args(FormTrainConfig(), train_form._parse_args(argv))


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("3", int, 3), (3, int, 3), ("2.5", float, 2.5), (2, float, 2.0),
        ("true", bool, True), ("0", bool, False), ("no", bool, False),
        ("none", str | None, None), ("labels.db", str | None, "labels.db"),
        ("a.npz, b.npz", list[str], ["a.npz", "b.npz"]), ("", list[str], []),
        ('["a.npz"]', list[str], ["a.npz"]), ("80,100", tuple[int, ...], (80, 100)),
        ([80], tuple[int, ...], (80,)), ('{"mixed_width": 8}', dict, {"mixed_width": 8}),
    ],
)
def test_values_are_parsed_into_the_field_type(value, kind, expected):
    result = coerce(value, kind)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "kind"),
    [("3.5", int), (True, int), (2.5, int), ("x", float), ("maybe", bool), (1, bool),
     (3, str), ("[1,", list[str]), ("{}x", dict), ("1,x", tuple[int, ...])],
)
def test_values_of_the_wrong_type_are_refused(value, kind):
    with pytest.raises(ConfigError, match="expected"):
        coerce(value, kind)


def test_override_checks_keys_and_types_and_leaves_the_original():
    config = FormTrainConfig()
    changed = override(config, {"epochs": "3", "learning_rate": 1})
    assert (changed.epochs, changed.learning_rate) == (3, 1.0) and config.epochs == 16
    with pytest.raises(ConfigError, match="unknown config key 'epoch'; did you mean 'epochs'"):
        override(config, {"epoch": 3})
    with pytest.raises(ConfigError, match="'epochs': expected int"):
        override(config, [("epochs", "many")])


@pytest.mark.parametrize("config_class", CONFIGS)
def test_saved_configs_come_back_with_their_types(config_class):
    config = config_class()
    saved = {**dataclasses.asdict(config), "a_field_removed_since": 1}
    assert from_dict(config_class, saved) == config


@pytest.mark.parametrize("config_class", CONFIGS)
def test_every_field_is_documented(config_class):
    docs = field_docs(config_class)
    assert list(docs) == list(field_types(config_class)) and all(docs.values())
    assert len(describe(config_class).splitlines()) == len(docs)


def test_every_form_field_is_reachable_from_the_command_line():
    defaults = FormTrainConfig()
    argv, expected = [], {}
    for name, kind in field_types(FormTrainConfig).items():
        value = getattr(defaults, name)
        if kind is bool:
            new, text = not value, str(not value).lower()
        elif kind is int:
            new, text = value + 1, str(value + 1)
        elif kind is float:
            new, text = value + 0.5, str(value + 0.5)
        elif name == "store":
            new, text = "labels.db", "labels.db"
        elif name == "model_name":
            new, text = "form_handstand_test", "form_handstand_test"
        elif name == "model_kwargs":
            new, text = {"mixed_width": 8}, '{"mixed_width": 8}'
        elif name == "real_caches":
            new, text = ["a.npz", "b.npz"], "a.npz,b.npz"
        else:
            raise AssertionError(f"add a case for {name}")
        argv += ["--set", f"{name}={text}"]
        expected[name] = new
    assert dataclasses.asdict(form_config(argv)) == expected


def test_shorthand_flags_and_set_apply_in_command_line_order():
    config = form_config(["--epochs", "3", "--set", "epochs=5", "--threads", "2", "--real",
                          "a.npz", "b.npz", "--labeled-only", "--store", "x.db"])
    assert (config.epochs, config.num_threads) == (5, 2)
    assert config.real_caches == ["a.npz", "b.npz"]
    assert config.labeled_only and config.store == "x.db"
    assert form_config(["--set", "epochs=5", "--epochs", "3"]).epochs == 3
    assert form_config([]) == FormTrainConfig()


def test_help_lists_every_field_and_the_true_defaults(capsys):
    with pytest.raises(SystemExit):
        train_form._parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--set num_threads=...; default {FormTrainConfig().num_threads}" in text
    assert "default 2" not in text.split("config fields")[0]
    for name in field_types(FormTrainConfig):
        assert f" {name} (" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--set", "epochs=x"], "argument --set: config key 'epochs': expected int, got 'x'"),
     (["--set", "epoch=3"], "unknown config key 'epoch'"),
     (["--set", "epochs"], "expected KEY=VALUE"),
     (["--epochs", "1.5"], "argument --epochs: config key 'epochs': expected int")],
)
def test_bad_overrides_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_form._parse_args(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error and "Traceback" not in error


def test_pose_and_action_command_lines_keep_their_flags():
    config = train_pose.parse_args([
        "--model", "deephar_test", "--model-kwargs", '{"width": 16}', "--lr-drops", "3", "5",
        "--no-augment", "--no-amp", "--resume", "--workers", "2", "--set", "rmsprop_eps=1e-6",
    ])
    assert config.model_kwargs == {"width": 16} and config.lr_drop_epochs == (3, 5)
    assert not config.augment and not config.amp and config.resume
    assert config.num_workers == 2 and config.rmsprop_eps == 1e-6
    assert train_pose.parse_args([]) == PoseTrainConfig()
    with pytest.raises(SystemExit):
        train_action.main(["--epochs", "1"])  # --penn is still required


def test_evaluate_overrides_go_through_the_same_checks(tmp_path):
    path = tmp_path / "form.pt"
    train_form.save_checkpoint(path, create_model("form_handstand_test"),
                               FormTrainConfig(model_name="form_handstand_test", epochs=2),
                               temperature=1.0, checks=InputChecks(0.2, 0.5, (0.0, 9.0)))
    checkpoint = load(path, "form", verify_checksum=False)
    config = evaluate_module.train_config(checkpoint, {"epochs": "4"})
    assert config.epochs == 4 and config.model_name == "form_handstand_test"
    with pytest.raises(ConfigError, match="unknown config key"):
        evaluate_module.train_config(checkpoint, {"epochz": 4})
    args = evaluate_module._parse_args(["--set", "test_clips=64", "--set", "seed=2"])
    assert args.overrides == [("test_clips", 64), ("seed", 2)]


def test_build_model_draws_from_the_generator_and_leaves_the_global_one():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(7)
    model = build_model("form_handstand_test", {}, generator)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    reference = create_model("form_handstand_test")
    for (name, value), expected in zip(model.state_dict().items(),
                                       reference.state_dict().values(), strict=True):
        assert torch.equal(value, expected), name
    assert torch.equal(generator.get_state(), torch.get_rng_state())  # advanced by the draws


def test_torch_settings_restore_threads_and_deterministic_mode():
    threads, mode = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torch_settings(threads=1, deterministic=True):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == mode
    with pytest.raises(RuntimeError), torch_settings(deterministic=True):
        raise RuntimeError("boom")
    assert torch.are_deterministic_algorithms_enabled() == mode


def test_train_one_epoch_weights_the_mean_and_steps_the_scheduler():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    batches = [torch.ones(1, 1), 2 * torch.ones(3, 1)]

    def loss_fn(net, batch):
        loss = (net(batch) - batch).square().mean()  # 1 then 4 (the weight stays 0)
        return Step(loss, weight=len(batch), parts={"double": 2 * float(loss.detach())})

    metrics = train_one_epoch(model, batches, loss_fn, optimizer, scheduler=scheduler)
    assert metrics == pytest.approx({"loss": (1 + 3 * 4) / 4, "double": 2 * (1 + 3 * 4) / 4})
    assert scheduler.last_epoch == 2 and model.training


def test_collect_concatenates_in_eval_mode_without_gradients():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.9))
    out = collect(model, [torch.ones(2, 2), torch.ones(3, 2)],
                  lambda net, batch: {"y": net(batch), "n": batch[:, 0].numpy()})
    assert out["y"].shape == (5, 2) and not out["y"].requires_grad and out["n"].shape == (5,)
    assert not model.training and torch.equal(out["y"][0], out["y"][4])

"""A training run publishes weights, card and report in one step and never loses a model."""

import json
from pathlib import Path

import pytest

from training import train_form


def _fake_run(calls: list):
    """Stands in for training: writes what ``train_form.run`` writes."""

    def run(config, out: Path, **_kwargs):
        out.write_bytes(b"new weights")
        calls.append(out)
        (out.with_name(out.stem + "_report")).mkdir()
        (out.with_name(out.stem + "_report") / "index.html").write_text("report")
        out.with_suffix(".card.md").write_text("# card")
        out.with_suffix(".json").write_text(json.dumps({"sha256": "new"}))
        return {}

    return run


def test_default_output_is_a_new_run_folder_with_usage_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls: list = []
    monkeypatch.setattr(train_form, "run", _fake_run(calls))
    assert train_form.main(["--no-report"]) == 0
    (weights,) = Path("runs").glob("*/form_handstand.pt")
    assert weights.read_bytes() == b"new weights"
    assert json.loads(weights.with_suffix(".json").read_text()) == {"sha256": "new"}
    assert (weights.parent / "form_handstand_report" / "index.html").exists()
    assert sorted(p.name for p in weights.parent.iterdir()) == [
        "form_handstand.card.md", "form_handstand.json", "form_handstand.pt",
        "form_handstand_report"]  # no staging folder left behind
    assert not calls[0].parent.exists()
    out = capsys.readouterr().out
    assert f"--weights {weights}" in out


def test_replacing_a_model_keeps_the_previous_one_and_swaps_in_one_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = Path("models") / "form_handstand.pt"
    target.parent.mkdir()
    target.write_bytes(b"old weights")
    target.with_suffix(".json").write_text(json.dumps({"sha256": "old"}))
    seen_during_training = []

    def run(config, out, **kwargs):
        _fake_run([])(config, out, **kwargs)
        # While training, the app still finds the complete old pair where it was.
        seen_during_training.append((target.read_bytes(), target.with_suffix(".json").read_text()))

    monkeypatch.setattr(train_form, "run", run)
    assert train_form.main(["--out", str(target)]) == 0
    assert seen_during_training == [(b"old weights", json.dumps({"sha256": "old"}))]
    assert target.read_bytes() == b"new weights"
    (kept,) = Path("runs").glob("replaced_*/form_handstand.pt")
    assert kept.read_bytes() == b"old weights"
    assert json.loads(kept.with_suffix(".json").read_text()) == {"sha256": "old"}


@pytest.mark.parametrize("failure", [ValueError, KeyboardInterrupt])
def test_a_failed_run_leaves_the_destination_as_it_was(tmp_path, monkeypatch, capsys, failure):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "form_handstand.pt"
    target.write_bytes(b"old weights")

    def run(config, out, **_kwargs):
        out.write_bytes(b"half-written")
        raise failure("stopped")

    monkeypatch.setattr(train_form, "run", run)
    assert train_form.main(["--out", str(target)]) in (1, 130)
    assert target.read_bytes() == b"old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["form_handstand.pt"]
    assert "error:" in capsys.readouterr().err

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


def test_single_group_labels_are_held_out_by_segment_or_photo():
    from training.splits import SEGMENT_FRAMES, single_group_fallback

    frames = [f"clip.mp4#{i}" for i in range(4 * SEGMENT_FRAMES)]
    groups, note = single_group_fallback(["video:clip.mp4"] * len(frames), frames)
    assert len(set(groups)) == 4 and "one group" in note and "segment" in note
    photos = [f"/p/{i}.png" for i in range(5)]
    groups, note = single_group_fallback(["folder:/p"] * 5, photos)
    assert list(groups) == photos and "by photo" in note
    several = ["folder:/a", "folder:/b"]
    groups, note = single_group_fallback(several, ["/a/1.png", "/b/1.png"])
    assert list(groups) == several and note == ""


def _one_folder_store(monkeypatch, count: int = 24):
    import numpy as np

    import training.labeled_set
    from engine.form import FORM_LABELS

    rng = np.random.default_rng(0)

    class OneFolder:
        keypoints = np.concatenate([rng.uniform(50, 150, (count, 16, 2)),
                                    np.ones((count, 16, 1))], axis=2).astype(np.float32)
        image_sizes = np.full((count, 2), 200.0)
        labels = np.array([FORM_LABELS[i % len(FORM_LABELS)] for i in range(count)])
        groups = np.full(count, "folder:/photos")
        files = np.array([f"/photos/{i}.png" for i in range(count)])

        def __len__(self):
            return count

    monkeypatch.setattr(training.labeled_set, "load_labeled_set", lambda _db: OneFolder())


def test_labels_from_one_folder_still_get_a_test_and_the_user_is_told(monkeypatch):
    _one_folder_store(monkeypatch)
    notes: list[str] = []
    train, test = train_form.labeled_sets("labels.db", 4, 0.25, seed=0, log=notes.append)
    assert len(test) > 0 and len(train) + len(test) == 24  # no more "0 test"
    assert not set(train.groups) & set(test.groups)
    assert len(notes) == 1 and "one group" in notes[0]


def test_label_gain_prints_before_and_after_with_intervals(monkeypatch):
    from engine.form import DEFAULT_FORM_WEIGHTS
    from training import label_gain
    from training.label_gain import report_label_gain

    _one_folder_store(monkeypatch)
    _, test = train_form.labeled_sets("labels.db", 1, 0.5, seed=0, log=lambda _note: None)
    lines: list[str] = []
    result = report_label_gain(DEFAULT_FORM_WEIGHTS, DEFAULT_FORM_WEIGHTS, test, 0, lines.append)
    text = "\n".join(lines)
    assert "before" in text and "after" in text and "95 %" in text
    groups = result["after"]["per_group"]
    assert sum(count for count, _ in groups.values()) == len(test)
    assert "accuracy per held-out group (before -> after):" in text
    first = sorted(groups, key=lambda group: (-groups[group][0], group))[0]
    assert "\n  " + label_gain.group_title(first) in text
    assert label_gain.group_title("video:/clips/kickup.mp4") == "kickup.mp4"
    assert label_gain.group_title("folder:/home/ann/photos|user3") == "photos (user3)"
    assert result["before"]["metrics"] == result["after"]["metrics"]  # same weights twice
    low, high = result["after"]["ci95"]["accuracy"]
    assert low <= result["after"]["metrics"]["accuracy"] <= high
    assert report_label_gain(None, DEFAULT_FORM_WEIGHTS, test.subset([]), 0, lines.append) is None
    assert "no labeled examples were held out" in lines[-1]

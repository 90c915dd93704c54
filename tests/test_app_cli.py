import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from coach import cli
from coach.errors import (
    EXIT_INPUT,
    EXIT_MODEL,
    EXIT_OUTPUT,
    EXIT_USAGE,
)
from engine.media import count_frames, video_timing

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("form_model_loaded_once")
# Commands without --no-window open a pygame window; tests never have a display.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def write_video(path, frames: int, size=(160, 120), fps=30.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


def run_main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *words: str):
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in errors[0], errors[0]


def test_help_explains_the_three_sources(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for text in ("--camera", "--video", "--image", "--save", "--json", "exit codes"):
        assert text in out


@pytest.mark.parametrize("make_args, code, words", [
    (lambda p: ["--video", p / "missing.mp4"], EXIT_INPUT, ["not found", "missing.mp4"]),
    (lambda p: ["--video", p], EXIT_INPUT, ["folder"]),
    (lambda p: ["--video", _file(p / "empty.mp4", b"")], EXIT_INPUT, ["empty"]),
    (lambda p: ["--video", _file(p / "fake.mp4", b"not a video " * 50)], EXIT_INPUT,
     ["fake.mp4"]),
    (lambda p: ["--image", p / "nope.png"], EXIT_INPUT, ["not found"]),
    (lambda p: ["--image", _folder(p / "none")], EXIT_INPUT, ["no images"]),
    (lambda p: ["--camera", "/dev/formcoach_no_camera"], EXIT_INPUT, ["camera"]),
    (lambda p: ["--video", write_video(p / "v.mp4", 3), "--save", _file(p / "f", b"x") / "o.mp4"],
     EXIT_OUTPUT, ["o.mp4"]),
    (lambda p: ["--video", write_video(p / "v.mp4", 3), "--save", p / "out.avi"], EXIT_USAGE,
     [".mp4"]),
    (lambda p: ["--video", write_video(p / "v.mp4", 3), "--no-window",
                "--weights", _file(p / "w.pt", b"garbage")], EXIT_MODEL, ["w.pt"]),
    (lambda p: ["--video", write_video(p / "v.mp4", 3), "--no-window", "--pose", "deephar"],
     EXIT_MODEL, ["DeepHAR"]),
    (lambda p: ["--demo"], EXIT_USAGE, ["--out"]),
    (lambda p: ["--image", p / "a.png", p / "b.png", "--explain", p / "e.png"], EXIT_USAGE,
     ["--explain"]),
])
def test_bad_input_gives_one_line_and_an_exit_code(tmp_path, capsys, make_args, code, words):
    result, _, err = run_main(capsys, *make_args(tmp_path))
    assert result == code
    assert_one_line_error(err, *words)


def _file(path, data: bytes):
    path.write_bytes(data)
    return path


def _folder(path):
    path.mkdir()
    return path


def test_weights_of_unknown_kind_are_refused(tmp_path, capsys):
    import torch

    torch.save({"state_dict": {}}, tmp_path / "nokind.pt")
    code, _, err = run_main(capsys, "--video", write_video(tmp_path / "v.mp4", 3), "--no-window",
                            "--weights", tmp_path / "nokind.pt")
    assert code == EXIT_MODEL
    assert_one_line_error(err, "kind")


def test_demo_names_the_missing_clip(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "DEMO_CLIP", tmp_path / "demo_handstand.mp4")
    code, _, err = run_main(capsys, "--demo", "--out", tmp_path / "out")
    assert code == EXIT_INPUT
    assert_one_line_error(err, "demo_handstand.mp4")


def test_demo_writes_clip_timeline_summary_and_plot(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mediapipe")
    monkeypatch.setattr(cli, "DEMO_CLIP", write_video(tmp_path / "demo.mp4", 6))
    code, out, _ = run_main(capsys, "--demo", "--out", tmp_path / "out")
    assert code == 0
    folder = tmp_path / "out"
    for name in ("annotated.mp4", "timeline.json", "summary.json", "timeline.png"):
        assert f"wrote {folder / name}" in out, name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["frames"] == 6 and summary["fps"] == pytest.approx(30.0)
    timeline = json.loads((folder / "timeline.json").read_text())
    assert [frame["frame"] for frame in timeline["frames"]] == list(range(6))
    assert count_frames(folder / "annotated.mp4") == 6
    assert video_timing(folder / "annotated.mp4")[0] == pytest.approx(30.0)
    plot = cv2.imread(str(folder / "timeline.png"))
    assert plot is not None and plot.shape[1] > plot.shape[0] > 100  # a wide timeline plot


def test_photo_json_has_one_entry_per_image(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    folder = _folder(tmp_path / "photos")
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(folder / name), np.full((90, 120, 3), 200, dtype=np.uint8))
    _file(folder / "broken.png", b"\x89PNG garbage")
    code, _, err = run_main(capsys, "--image", folder, "--json", tmp_path / "r.json",
                            "--save", tmp_path / "annotated")
    results = json.loads((tmp_path / "r.json").read_text())
    assert code == EXIT_INPUT  # one image could not be read; the others are still reported
    assert "broken.png" in err and "Traceback" not in err
    assert [Path(r["file"]).name for r in results] == ["a.png", "b.jpg", "broken.png"]
    for result in results:
        assert set(result) >= {"file", "label", "probabilities", "can_judge", "reason",
                               "keypoints"}
        assert result["label"] == "unknown" and result["can_judge"] is False
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == [
        "a_coach.png", "b_coach.png"]

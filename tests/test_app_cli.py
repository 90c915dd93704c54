import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from coach import cli
from coach.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_MODEL,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_USAGE,
)

REPO = Path(__file__).resolve().parent.parent
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
    for name in ("annotated.mp4", "timeline.json", "summary.json", "timeline.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
        assert name in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames"] == 6 and summary["fps"] == pytest.approx(30.0)


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


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, EXIT_INTERRUPTED),
                                           (signal.SIGTERM, EXIT_TERMINATED)])
def test_signal_mid_recording_leaves_a_playable_clip_and_matching_timeline(tmp_path, signum,
                                                                           code):
    pytest.importorskip("mediapipe")
    video = write_video(tmp_path / "long.mp4", 600, size=(128, 96))
    clip, timeline = tmp_path / "rec.mp4", tmp_path / "rec.json"
    partial = tmp_path / "rec.json.partial.jsonl"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "run_coach.py"), "--video", str(video), "--no-window",
         "--save", str(clip), "--json", str(timeline)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 60
    # Progress is read from the timeline's partial file: one line per frame written.
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists() and partial.read_text().count("\n") >= 1 + 15:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()
    # Like Ctrl-C in a terminal: the whole process group gets the signal (ffmpeg included,
    # unless it runs in its own group).
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    frames = json.loads(timeline.read_text())["frames"]
    capture = cv2.VideoCapture(str(clip))
    decoded = 0
    while capture.read()[0]:
        decoded += 1
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    capture.release()
    assert 15 <= decoded < 600
    assert decoded == len(frames)
    assert not partial.exists()

"""Odd names, full disks, concurrent runs and the small messages, run in-process via main().

Each case is a way a new user's run used to end in a crash, a traceback or lost work.
"""

import errno
import io
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from reliability import media

from coach import cli, recorder
from coach.errors import EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE, OutputError
from coach.loop import ProgressBar
from coach.recorder import OutputLock, write_failure_reason
from coach.timeline import TimelineWriter, recover
from engine.checkpoint import card_path_for
from engine.form import DEFAULT_FORM_WEIGHTS
from engine.media import count_frames

pytestmark = pytest.mark.usefixtures("form_model_loaded_once")
# Not valid UTF-8, with a newline: OpenCV used to crash on such a name (rc 139).
ODD = os.fsdecode(b"kick\xff\xfe\nup")


def run_main(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def the_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / f"{ODD}.mp4"
    return media.encode_video(path, media.person_frames(12, 96, 72))


# ------------------------------------------------------------------------ small messages
@pytest.mark.parametrize("flag", ["--video", "--image"])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "fifo"])
def test_devices_and_pipes_are_not_regular_files(tmp_path, capsys, flag, device):
    if device == "fifo":
        device = tmp_path / "pipe.mp4"
        os.mkfifo(device)
    code, _, err = run_main(capsys, flag, device, "--no-window")
    assert code == EXIT_INPUT
    assert "not a regular file" in the_error(err) and str(device) in err


def test_photos_that_are_all_unusable_fail_before_any_model_loads(tmp_path, capsys,
                                                                   monkeypatch):
    def no_models(*_args, **_kwargs):
        raise AssertionError("models loaded for photos that cannot be read")

    monkeypatch.setattr(cli, "_build_analyzer", no_models)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    code, _, err = run_main(capsys, "--image", "/dev/zero", str(empty))
    assert code == EXIT_INPUT and "not a regular file" in the_error(err)


@pytest.mark.parametrize("camera", ["abc", "-1", "1.5"])
def test_camera_must_be_an_index_or_a_device(capsys, camera):
    code, _, err = run_main(capsys, "--camera", camera, "--no-window")
    assert code == EXIT_USAGE
    assert "--camera" in the_error(err) and camera in err


def test_a_label_store_that_is_a_folder_gets_one_message_everywhere(tmp_path, capsys,
                                                                    monkeypatch):
    from training import build_ideal, label, train_form

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "labels.db"
    folder.mkdir()
    image = tmp_path / "photo.png"
    image.write_bytes(b"")
    commands = [
        lambda: label.main(["--db", str(folder), str(image)]),
        lambda: train_form.main(["--store", str(folder), "--no-report"]),
        lambda: build_ideal.main(["--store", str(folder), "--out", str(tmp_path / "i.npz")]),
    ]
    for command in commands:
        assert command() != 0
        assert the_error(capsys.readouterr().err) == (
            f"error: label store {folder} is a folder, not a label store file")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.pt"))


def _record(index: int) -> dict:
    return {"frame": index, "time": index / 30, "keypoints": None, "rotation": 0,
            "probabilities": None, "label": "unknown", "smoothed_label": "unknown",
            "smoothed_probabilities": None, "can_judge": False, "reason": "no person",
            "hold_seconds": 0.0, "pose_issue": "", "pose_held": False,
            "estimated_keypoints": None}


def test_recover_writes_a_summary_that_says_recovered(tmp_path, capsys):
    from coach import timeline

    writer = TimelineWriter(tmp_path / "timeline.json", {"source": "clip.mp4", "fps": 30.0})
    for index in range(5):
        writer.append(_record(index))
    # A hard kill: the journal stays, nothing else is written.
    assert timeline.main(["recover", str(writer.partial_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "recovered" and summary["frames"] == 5
    assert summary["source"] == "clip.mp4"
    assert "summary.json" in capsys.readouterr().out
    assert recover(writer.partial_path, tmp_path / "rec.json") == tmp_path / "rec.json"
    assert json.loads((tmp_path / "rec.summary.json").read_text())["stop_reason"] == "recovered"


def test_progress_bar_shows_the_time_left():
    stream = io.StringIO()
    bar = ProgressBar("clip.mp4", 900, stream=stream)
    bar.update(300, fps=10.0, force=True)
    assert "ETA 1:00" in stream.getvalue()  # 600 frames at 10 fps
    bar.update(900, fps=10.0, force=True)
    assert "ETA" not in stream.getvalue().splitlines()[-1]


# ------------------------------------------------------------------------ any file name
def test_video_with_an_undecodable_name_is_analyzed(short_video, tmp_path, capsys):
    pytest.importorskip("mediapipe")
    out = tmp_path / f"out{ODD}"
    code, stdout, err = run_main(capsys, "--video", short_video, "--no-window", "--out", out)
    assert code == EXIT_OK, err
    assert "\\xff\\xfe\\nup" in stdout and "Traceback" not in err
    timeline = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
    assert timeline["meta"]["source"] == "kick\\xff\\xfe\\nup.mp4"
    assert count_frames(out / "annotated.mp4") == len(timeline["frames"]) == 12
    # The timeline names the model that judged it.
    card = json.loads(card_path_for(DEFAULT_FORM_WEIGHTS).read_text())
    assert timeline["meta"]["form_weights"] == str(DEFAULT_FORM_WEIGHTS)
    assert timeline["meta"]["form_weights_sha256"] == card["sha256"]
    assert not list(out.glob(".*.lock"))  # the output locks went with the run


def test_photo_batch_with_odd_names_keeps_every_result(tmp_path, capsys):
    pytest.importorskip("mediapipe")
    folder = tmp_path / "photos"
    folder.mkdir()
    _, encoded = cv2.imencode(".png", media.person_frame(120, 90))
    for name in (f"{ODD}.png", "plain.png"):
        encoded.tofile(str(folder / name))
    results_path = tmp_path / f"results{ODD}.json"
    code, stdout, err = run_main(capsys, "--image", folder, "--save", tmp_path / "annotated",
                                 "--json", results_path)
    assert code == EXIT_OK, err
    results = json.loads(results_path.read_bytes().decode("utf-8"))
    assert [Path(r["file"]).name for r in results] == ["kick\\xff\\xfe\\nup.png", "plain.png"]
    assert sorted(os.listdir(tmp_path / "annotated")) == sorted(
        [f"{ODD}_coach.png", "plain_coach.png"])
    assert "kick\\xff\\xfe\\nup.png: " in stdout  # one line per photo, name escaped


# ------------------------------------------------------------------------ full disks
def test_a_failed_write_says_disk_full_for_enospc_eio_and_a_broken_encoder(tmp_path,
                                                                          monkeypatch):
    target = tmp_path / "clip.mp4"
    assert write_failure_reason(target, OSError(errno.ENOSPC, "x")) == "No space left on device"
    assert write_failure_reason(target, OSError(errno.EIO, "x")) == "Input/output error"
    full = os.statvfs_result((4096, 4096, 100, 0, 0, 100, 0, 0, 0, 255))
    monkeypatch.setattr(recorder.os, "statvfs", lambda _path: full)
    # ffmpeg died on the full disk; all the app sees is the pipe breaking.
    assert write_failure_reason(target, BrokenPipeError(errno.EPIPE, "Broken pipe")) == \
        "No space left on device"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_device_that_refuses_data_is_reported_by_its_own_reason(tmp_path):
    link = tmp_path / "clip.mp4"
    link.symlink_to("/dev/full")
    assert write_failure_reason(link, BrokenPipeError(errno.EPIPE, "Broken pipe")) == \
        "No space left on device"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_timeline_journal_on_a_full_disk_keeps_exactly_the_journaled_frames(tmp_path):
    writer = TimelineWriter(tmp_path / "timeline.json", {"source": "x", "fps": 30.0})
    writer.append(_record(0))
    writer._partial = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 - disk fills
    with pytest.raises(OutputError, match="cannot write .*partial.jsonl: No space left"):
        writer.append(_record(1))
    assert len(writer.records) == 1
    writer.close()  # closing the full journal does not crash; the final JSON has frame 0
    assert [r["frame"] for r in json.loads((tmp_path / "timeline.json").read_text())[
        "frames"]] == [0]


def test_clip_failing_mid_video_ends_with_exit_4_and_clip_and_timeline_agree(
        short_video, tmp_path, capsys, monkeypatch):
    pytest.importorskip("mediapipe")
    real_open = recorder.ClipRecorder._open
    accepted = 7

    def open_filling_disk(self, size):
        # The real encoder takes the first frames; then the disk is full.
        writer = real_open(self, size)

        class FillingDisk:
            sent = 0

            def send(self, frame):
                if self.sent == accepted:
                    writer.close()
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                self.sent += 1
                writer.send(frame)

            def close(self):
                writer.close()

        return FillingDisk()

    monkeypatch.setattr(recorder.ClipRecorder, "_open", open_filling_disk)
    clip, timeline = tmp_path / "clip.mp4", tmp_path / "timeline.json"
    code, _, err = run_main(capsys, "--video", short_video, "--no-window", "--save", clip,
                            "--json", timeline)
    assert code == EXIT_OUTPUT
    line = the_error(err)
    assert line.startswith(f"error: cannot write {clip}: No space left on device"), line
    assert line.endswith(f"(clip and timeline keep the first {accepted} frames)"), line
    frames = json.loads(timeline.read_text())["frames"]
    assert count_frames(clip) == len(frames) == accepted
    assert [r["frame"] for r in frames] == list(range(accepted))


# ------------------------------------------------------------------------ concurrent runs
def test_a_second_run_on_the_same_outputs_is_refused_and_writes_nothing(short_video, tmp_path,
                                                                        capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "annotated.mp4").write_bytes(b"the first run's clip")
    with OutputLock([out / "annotated.mp4"]):  # the first run, still writing
        code, stdout, err = run_main(capsys, "--video", short_video, "--no-window", "--out", out)
    assert code == EXIT_OUTPUT
    assert "another formcoach run is writing it" in the_error(err)
    assert "wrote" not in stdout
    assert (out / "annotated.mp4").read_bytes() == b"the first run's clip"
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4"]


def test_output_lock_is_exclusive_and_released(tmp_path):
    target = tmp_path / "timeline.json"
    with OutputLock([target, None]):
        with pytest.raises(OutputError, match="another formcoach run"):
            OutputLock([tmp_path / "other.json", target])
        # A refused lock takes nothing: the other output is free again.
        OutputLock([tmp_path / "other.json"]).release()
    assert list(tmp_path.iterdir()) == []
    OutputLock([Path("/dev/null")]).release()  # devices are not locked


def test_an_output_whose_lock_cannot_be_made_is_named_not_its_lock(tmp_path, monkeypatch):
    target = tmp_path / "annotated.mp4"
    real_open = os.open

    def refuse_locks(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.ENOENT, "No such file or directory")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(recorder.os, "open", refuse_locks)
    with pytest.raises(OutputError) as raised:
        OutputLock([target])
    assert str(raised.value).startswith(f"cannot write {target}: ")
    assert ".lock" not in str(raised.value)


def test_photo_json_is_locked_too(tmp_path, capsys):
    results = tmp_path / "r.json"
    image = tmp_path / "p.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    with OutputLock([results]):
        code, _, err = run_main(capsys, "--image", image, "--json", results)
    assert code == EXIT_OUTPUT and "another formcoach run" in the_error(err)


def test_cutting_the_timeline_to_a_short_clip_cuts_the_journal_too(tmp_path):
    from coach.timeline import load_timeline

    writer = TimelineWriter(tmp_path / "timeline.json", {"source": "x", "fps": 30.0})
    for index in range(5):
        writer.append(_record(index))
    writer.keep_first(2)  # the clip that failed holds two playable frames
    journal = load_timeline(writer.partial_path)
    assert [r["frame"] for r in journal["frames"]] == [0, 1] and journal["meta"]["source"] == "x"


def test_recover_prints_odd_names_escaped(tmp_path, capsys):
    from coach import timeline

    writer = TimelineWriter(tmp_path / f"{ODD}.json", {"source": "x", "fps": 30.0})
    writer.append(_record(0))
    assert timeline.main(["recover", str(writer.partial_path)]) == 0
    assert "kick\\xff\\xfe\\nup.json" in capsys.readouterr().out
    assert json.loads((tmp_path / f"{ODD}.summary.json").read_text())["frames"] == 1

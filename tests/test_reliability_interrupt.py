"""Signals and lost cameras: Ctrl-C at start-up, SIGINT/SIGTERM mid-recording, camera unplugged.

Whatever the moment, the app must stop without a traceback, exit non-zero, and leave every
output it had started playable (clip) and consistent (timeline with the clip's frames).

A signal to the app alone (``kill -TERM pid``) is sent to ``coach.cli.main`` running in this
process: the app's own handlers take it the same way and no start-up is paid. What only a
process of its own can show runs one (``slow``): Ctrl-C reaching the whole process group (the
encoder too), Ctrl-C while the libraries are still loading, and ``kill -9``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
from reliability import media
from reliability.cli import (
    RunningCoach,
    assert_no_traceback,
    partial_timeline_frames,
    run_main_with_signal,
    timeline_frames,
)
from reliability.fakes import FlakyCamera, flaky_camera
from reliability.fixtures import corpus  # noqa: F401 - a fixture
from reliability.interrupt import interrupt_trial, make_long_video

from coach import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not (REPO_ROOT / "run_coach.py").exists(),
                       reason="run_coach.py not written yet"),
    pytest.mark.usefixtures("form_model_loaded_once"),
]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    return make_long_video(tmp_path_factory.mktemp("interrupt") / "long.mp4", frames=40)


@pytest.mark.parametrize(
    ("signum", "after_frames", "in_process"),
    [pytest.param(signal.SIGINT, 3, False, id="ctrl_c_to_the_group", marks=pytest.mark.slow),
     pytest.param(signal.SIGTERM, 9, True, id="kill_term")],
)
def test_signal_mid_recording_leaves_playable_clip_and_timeline(
    long_video, tmp_path, signum, after_frames, in_process
) -> None:
    # Ctrl-C in a terminal reaches the whole process group (the encoder included); `kill`
    # reaches the app alone. Either way the clip and the timeline are finalized.
    result = interrupt_trial(long_video, tmp_path, signum, after_frames, timeout=90,
                             group=not in_process, in_process=in_process)
    details = result.as_dict()
    assert result.frames_at_signal is not None, f"app finished before the signal: {details}"
    assert not result.traceback, details
    assert result.returncode == (130 if signum == signal.SIGINT else 143), details
    assert result.playable, details
    assert result.matching, details
    assert result.clip_frames < 40, details
    assert media.probe_fps(tmp_path / "clip.mp4") == pytest.approx(30.0), details
    assert not (tmp_path / "timeline.json.partial.jsonl").exists(), details


def test_signal_at_the_last_frame_still_finalizes_everything(corpus, tmp_path) -> None:  # noqa: F811
    # The signal meets the app while it finalizes the clip and the timeline: it must not
    # abort that (only a second signal may).
    result = interrupt_trial(corpus["video_ok"], tmp_path, signal.SIGTERM, 12, timeout=90,
                             in_process=True)
    details = result.as_dict()
    assert not result.traceback, details
    assert result.returncode in (143, 0), details
    assert result.clip_frames == 12 and result.timeline_frames == 12, details


# Moments of start-up, each recognized by a library the process has mapped by then.
# (A signal before the interpreter has installed its handlers kills it silently; one during
# Python's own site import is outside the app's reach, so those moments are not tested.)
STARTUP_MOMENTS = {
    "importing_torch": "libtorch_cpu",
    "starting_mediapipe": "_framework_bindings",
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(STARTUP_MOMENTS), ids=list(STARTUP_MOMENTS))
def test_ctrl_c_at_start_up(corpus, tmp_path, moment) -> None:  # noqa: F811
    clip, timeline = tmp_path / "clip.mp4", tmp_path / "timeline.json"
    app = RunningCoach(["--video", str(corpus["video_ok"]), "--save", str(clip),
                        "--json", str(timeline), "--no-window"])
    library = STARTUP_MOMENTS[moment]
    if not app.wait_until(lambda: app.loaded(library), timeout=60):
        app.finish()
        pytest.skip(f"{library} never loaded (the app may not use it)")
    app.send(signal.SIGINT)
    result = app.finish(timeout=60)
    assert_no_traceback(result)
    if result.returncode == 0:
        # The whole run fit before the signal was handled: then it must be complete.
        assert media.count_video_frames(clip) == 12, result.describe()
        return
    assert result.returncode in (130, -signal.SIGINT), result.describe()
    assert len(result.messages) <= 3, result.describe()
    if clip.exists():
        assert media.count_video_frames(clip) >= 1, f"unplayable clip left\n{result.describe()}"
    if timeline.exists():
        records = timeline_frames(timeline)
        if clip.exists():
            assert len(records) == media.count_video_frames(clip), result.describe()


@pytest.mark.parametrize("failure", ["false", "raise"])
def test_camera_source_reports_a_lost_camera(failure) -> None:
    """A camera whose reads fail (OpenCV's way) or raise ends in CameraLostError, in order."""
    from coach.errors import CameraLostError
    from coach.sources import CameraSource

    camera = FlakyCamera(frames_before_loss=10, failure=failure, fps=60.0)
    source = CameraSource(0, capture=camera, lost_after=3)
    frames = []
    with pytest.raises(CameraLostError, match="camera 0"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            frame = source.read()
            assert frame is not None
            frames.append(frame.index)
    source.close()
    assert 1 <= len(frames) <= 10
    assert frames == sorted(frames)
    assert camera.released


def test_camera_that_blocks_then_closes_does_not_hang() -> None:
    """close() returns promptly even while the capture thread waits inside read()."""
    from coach.sources import CameraSource

    release = threading.Event()

    class StuckCamera(FlakyCamera):
        def read(self, *args):
            if self.reads >= 2:
                release.wait(5.0)
            return super().read(*args)

    source = CameraSource(0, capture=StuckCamera(frames_before_loss=100, fps=100.0))
    assert source.read() is not None
    start = time.monotonic()
    source.close()
    release.set()
    assert time.monotonic() - start < 4.0


def test_sigterm_during_a_camera_session_finalizes_clip_and_timeline(tmp_path) -> None:
    clip, timeline = tmp_path / "clip.mp4", tmp_path / "timeline.json"
    with flaky_camera(frames_before_loss=10**9):
        result, sent = run_main_with_signal(
            cli.main, ["--camera", "0", "--save", clip, "--json", timeline, "--no-window"],
            signal.SIGTERM, lambda: partial_timeline_frames(timeline) >= 5, timeout=90)
    assert sent is not None, result.describe()
    assert_no_traceback(result)
    assert result.returncode == 143, result.describe()
    frames = media.count_video_frames(clip)
    assert frames >= 5, result.describe()
    assert len(timeline_frames(timeline)) == frames, result.describe()


def test_second_ctrl_c_aborts_at_once_and_keeps_outputs_readable(long_video, tmp_path) -> None:
    clip, timeline = tmp_path / "clip.mp4", tmp_path / "timeline.json"
    result, sent = run_main_with_signal(
        cli.main, ["--video", long_video, "--save", clip, "--json", timeline, "--no-window"],
        signal.SIGINT, lambda: partial_timeline_frames(timeline) >= 4, count=2, timeout=90)
    assert sent is not None, result.describe()
    assert_no_traceback(result)
    assert result.returncode == 130, result.describe()
    if clip.exists():
        assert media.count_video_frames(clip) >= 1, result.describe()
    if timeline.exists():
        timeline_frames(timeline)
    else:
        # The journal keeps every analyzed frame: each complete line is a JSON record.
        journal = timeline.with_name(timeline.name + ".partial.jsonl")
        lines = journal.read_text(encoding="utf-8").splitlines()
        assert len(lines) >= 1 + 4, result.describe()
        for line in lines[:-1]:
            json.loads(line)


@pytest.mark.slow
def test_kill_9_keeps_a_playable_clip_and_the_timeline_journal(long_video, tmp_path) -> None:
    # No handler runs on SIGKILL: what survives is what was already on disk or in ffmpeg,
    # which runs in its own process and finishes the clip when its input pipe closes.
    clip, timeline = tmp_path / "clip.mp4", tmp_path / "timeline.json"
    app = RunningCoach(["--video", str(long_video), "--save", str(clip), "--json", str(timeline),
                        "--no-window"])
    assert app.wait_until(lambda: partial_timeline_frames(timeline) >= 20, timeout=90), app.stderr
    app.send(signal.SIGKILL)
    result = app.finish(timeout=60)
    assert result.returncode == -signal.SIGKILL
    journal = timeline.with_name(timeline.name + ".partial.jsonl")
    lines = journal.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines[1:-1]]  # the last line may be cut short
    assert len(records) >= 19
    assert [record["frame"] for record in records] == list(range(len(records)))
    deadline = time.monotonic() + 20  # ffmpeg finishes the clip on its own
    while time.monotonic() < deadline and media.count_video_frames(clip) < 1:
        time.sleep(0.2)
    assert media.count_video_frames(clip) >= 1

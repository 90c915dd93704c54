import json

import cv2
import numpy as np
import pytest

from coach.analysis import FrameAnalyzer, HoldTimer
from coach.errors import CameraLostError
from coach.loop import CoachSession, SessionOutputs, StopFlag
from coach.sources import CameraSource, FrameListSource
from coach.timeline import summarize
from engine.form import FORM_LABELS, FormVerdict
from engine.pose.base import PoseResult


def standing_keypoints(width=160, height=120) -> np.ndarray:
    """A plausible upright skeleton in the middle of the frame, canonical order."""
    cx = width / 2
    ys = {"head": 0.15, "neck": 0.25, "shoulder": 0.3, "elbow": 0.45, "wrist": 0.58,
          "hip": 0.6, "knee": 0.75, "ankle": 0.9}
    kp = np.zeros((16, 3), dtype=np.float32)
    layout = [
        (0, 0, "hip"), (1, 0, "shoulder"), (2, 0, "neck"), (3, 0, "head"),
        (4, -0.12, "shoulder"), (5, 0.12, "shoulder"), (6, -0.15, "elbow"), (7, 0.15, "elbow"),
        (8, -0.16, "wrist"), (9, 0.16, "wrist"), (10, -0.06, "hip"), (11, 0.06, "hip"),
        (12, -0.06, "knee"), (13, 0.06, "knee"), (14, -0.06, "ankle"), (15, 0.06, "ankle"),
    ]
    for joint, dx, level in layout:
        kp[joint] = (cx + dx * width, ys[level] * height, 0.95)
    return kp


class FakePose:
    """Finds the standing skeleton in frames whose top-left pixel is bright, nobody otherwise."""

    name = "fake"
    version = "0"

    def __init__(self):
        self.calls = 0
        self.resets = 0

    def estimate(self, bgr):
        self.calls += 1
        if bgr[0, 0].max() < 128:
            return PoseResult(None, 0)
        return PoseResult(standing_keypoints(bgr.shape[1], bgr.shape[0]), 0)

    def reset(self):
        self.resets += 1

    def close(self):
        pass


class FakeClassifier:
    """'straight' whenever the newest clip frame has a person, else cannot judge."""

    clip_length = 4

    def __init__(self):
        self.clip_shapes = []

    def predict(self, clip):
        self.clip_shapes.append(clip.shape)
        if not clip[-1, :, 2].any():
            return FormVerdict({label: 0.25 for label in FORM_LABELS}, "unknown", False,
                               "no person found")
        probabilities = {label: 0.0 for label in FORM_LABELS}
        probabilities["straight"] = 1.0
        return FormVerdict(probabilities, "straight", True, "")


def frames_with_person(pattern: str, size=(160, 120)) -> list[np.ndarray]:
    """One frame per character: 'P' has a person (bright corner), '.' has none."""
    frames = []
    for i, char in enumerate(pattern):
        frame = np.full((size[1], size[0], 3), 40 + i % 50, dtype=np.uint8)
        if char == "P":
            frame[0, 0] = 255
        frames.append(frame)
    return frames


def count_frames(path) -> tuple[int, float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, fps


def test_session_runs_every_file_frame_through_pose_clip_form_and_timeline(tmp_path):
    pattern = "..PPPPPPPP..PPP"
    classifier = FakeClassifier()
    coach = FrameAnalyzer(FakePose(), classifier, None, None, fps=10.0)
    outputs = SessionOutputs(clip=tmp_path / "out.mp4", timeline=tmp_path / "timeline.json",
                             summary=tmp_path / "summary.json", plot=tmp_path / "plot.png")
    session = CoachSession(FrameListSource(frames_with_person(pattern), fps=10.0), coach,
                           outputs=outputs, log=lambda m: None)
    result = session.run()
    assert result.frames == len(pattern) and result.reason == "end"
    assert classifier.clip_shapes[0] == (1, 16, 3) and classifier.clip_shapes[-1] == (4, 16, 3)
    timeline = json.loads((tmp_path / "timeline.json").read_text())
    labels = [f["smoothed_label"] for f in timeline["frames"]]
    assert labels == ["unknown" if c == "." else "straight" for c in pattern]
    assert timeline["frames"][0]["keypoints"] is None
    assert np.array(timeline["frames"][2]["keypoints"]).shape == (16, 3)
    assert timeline["frames"][2]["probabilities"]["straight"] == 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The 0.2 s without a person is bridged (HOLD_BRIDGE_SECONDS 0.3): one hold of 13 frames.
    assert summary["longest_straight_hold_seconds"] == pytest.approx(1.3)
    assert summary["label_share"]["straight"] == pytest.approx(11 / 15, abs=1e-3)
    plot = cv2.imread(str(tmp_path / "plot.png"))
    assert plot is not None and plot.shape[1] > plot.shape[0] > 100  # the timeline plot
    assert not (tmp_path / "timeline.json.partial.jsonl").exists()
    assert count_frames(tmp_path / "out.mp4") == (len(pattern), pytest.approx(10.0))


def test_without_a_form_model_frames_say_so_and_never_get_a_verdict(tmp_path):
    coach = FrameAnalyzer(FakePose(), None, None, None, no_model_status="no form model installed")
    session = CoachSession(FrameListSource(frames_with_person("PPP")), coach,
                           outputs=SessionOutputs(timeline=tmp_path / "t.json"))
    session.run()
    frames = json.loads((tmp_path / "t.json").read_text())["frames"]
    assert all(f["probabilities"] is None and f["smoothed_label"] == "unknown" for f in frames)
    assert frames[0]["reason"] == "no form model installed"


def test_hold_timer_counts_straight_frames_and_resets():
    timer = HoldTimer(frame_interval=0.1)
    values = [timer.update(label, i * 0.1) for i, label in enumerate(
        ["straight"] * 5 + ["banana"] + ["straight"] * 2)]
    assert values[4] == pytest.approx(0.5) and values[5] == 0.0 and values[7] == pytest.approx(0.2)
    assert timer.best == pytest.approx(0.5)
    assert (timer.best_start, timer.best_end) == (0.0, pytest.approx(0.5))


def test_summary_longest_hold():
    records = [{"smoothed_label": label, "time": i / 2, "keypoints": None}
               for i, label in enumerate(["straight", "straight", "banana", "straight"])]
    summary = summarize(records, fps=2.0)
    assert summary["longest_straight_hold_seconds"] == 1.0
    assert summary["longest_straight_hold_start"] == 0.0
    assert summary["longest_straight_hold_end"] == 1.0


class FileCapture:
    """A camera backed by in-memory frames that fails once they run out."""

    def __init__(self, frames):
        self.frames = list(frames)

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def get(self, _prop):
        return 0.0

    def release(self):
        pass


def test_camera_loss_finalizes_the_recording_and_raises(tmp_path):
    source = CameraSource(0, capture=FileCapture(frames_with_person("P" * 20)), pace_fps=200.0,
                          lost_after=2)
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None)
    outputs = SessionOutputs(clip=tmp_path / "live.mp4", timeline=tmp_path / "live.json")
    session = CoachSession(source, coach, outputs=outputs, log=lambda m: None)
    with pytest.raises(CameraLostError):
        session.run()
    assert session.result.reason == "camera_lost"
    frames, _ = count_frames(tmp_path / "live.mp4")
    recorded = json.loads((tmp_path / "live.json").read_text())["frames"]
    assert frames >= 1 and len(recorded) >= 1


def test_stop_flag_ends_a_session_early_with_outputs(tmp_path):
    stop = StopFlag()
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None)
    session = CoachSession(FrameListSource(frames_with_person("P" * 200)), coach, stop=stop,
                           outputs=SessionOutputs(clip=tmp_path / "c.mp4",
                                                  timeline=tmp_path / "c.json"),
                           log=lambda m: None)
    present = session._present

    # Stop from the window's side after its third frame (the pose stage runs ahead of the
    # window, so stopping it by pose calls could end the session before any frame is shown).
    def present_then_stop(frame, analysis, started):
        present(frame, analysis, started)
        if len(session.records) == 3:
            stop.set("interrupted")

    session._present = present_then_stop
    result = session.run()
    assert result.reason == "interrupted" and result.frames == 3
    recorded = json.loads((tmp_path / "c.json").read_text())["frames"]
    assert count_frames(tmp_path / "c.mp4")[0] == len(recorded) == result.frames


def test_loop_with_blazepose_on_generated_frames_reports_no_person(tmp_path):
    pytest.importorskip("mediapipe")
    from coach.loading import make_pose_backend

    backend = make_pose_backend("blazepose", None, stream=True)
    coach = FrameAnalyzer(backend, FakeClassifier(), None, None)
    session = CoachSession(FrameListSource(frames_with_person("....")), coach,
                           outputs=SessionOutputs(timeline=tmp_path / "t.json"))
    result = session.run()
    coach.close()
    frames = json.loads((tmp_path / "t.json").read_text())["frames"]
    assert result.frames == 4
    assert all(f["keypoints"] is None and not f["can_judge"] for f in frames)
    assert frames[-1]["reason"] == "no person found"
    assert result.latency_ms["pose"]["p50"] > 0


def test_loop_with_blazepose_finds_the_rendered_athlete_of_the_demo_clip(tmp_path):
    """The bundled demo is rendered by the project's own generator (training/synth)."""
    pytest.importorskip("mediapipe")
    from coach.cli import DEMO_CLIP
    from coach.loading import make_pose_backend

    if not DEMO_CLIP.exists():
        pytest.skip("demo clip not rendered yet")
    capture = cv2.VideoCapture(str(DEMO_CLIP))
    frames = []
    while len(frames) < 186:
        ok, frame = capture.read()
        assert ok
        frames.append(frame)
    capture.release()
    held = frames[180:186]
    backend = make_pose_backend("blazepose", None, stream=True)
    coach = FrameAnalyzer(backend, FakeClassifier(), None, None)
    session = CoachSession(FrameListSource(held), coach,
                           outputs=SessionOutputs(timeline=tmp_path / "t.json"))
    session.run()
    coach.close()
    records = json.loads((tmp_path / "t.json").read_text())["frames"]
    found = [np.array(r["keypoints"]) for r in records if r["keypoints"] is not None]
    assert len(found) >= 4
    height, width = held[0].shape[:2]
    for keypoints in found:
        confident = keypoints[keypoints[:, 2] > 0.5]
        assert ((confident[:, 0] >= 0) & (confident[:, 0] < width)).all()
        assert ((confident[:, 1] >= 0) & (confident[:, 1] < height)).all()

import json
import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from test_app_loop import FakeClassifier, FakePose, frames_with_person  # noqa: E402

from coach.analysis import FrameAnalyzer  # noqa: E402
from coach.loop import CoachSession, SessionOutputs  # noqa: E402
from coach.overlay import draw_overlay  # noqa: E402
from coach.sources import FrameListSource  # noqa: E402
from coach.window import PAUSE, QUIT, RECORD, CoachWindow  # noqa: E402
from engine.draw import LEFT_COLOR, RIGHT_COLOR  # noqa: E402
from engine.skeleton import L_KNEE, R_WRIST  # noqa: E402


def _close(pixel_rgb, color_bgr, tolerance=40):
    return np.abs(pixel_rgb.astype(int) - np.array(color_bgr[::-1])).max() <= tolerance


def test_window_shows_the_skeleton_where_the_keypoints_are():
    frame = frames_with_person("P", size=(320, 240))[0]
    pose = FakePose()
    coach = FrameAnalyzer(pose, FakeClassifier(), None, None)
    analysis = coach.analyze(frame, 0, 0.0)
    window = CoachWindow()
    try:
        window.show(draw_overlay(frame, analysis))
        shown = window.pixels()
    finally:
        window.close()
    assert shown.shape == (240, 320, 3)
    for joint, color in ((R_WRIST, RIGHT_COLOR), (L_KNEE, LEFT_COLOR)):
        x, y = analysis.keypoints[joint, :2].round().astype(int)
        assert _close(shown[y, x], color), (joint, shown[y, x])
    # Far from every keypoint the frame's own background shows through.
    assert _close(shown[120, 10], (40, 40, 40), tolerance=5)


def test_window_scales_large_frames_down_and_maps_keys():
    window = CoachWindow(max_size=(200, 200))
    try:
        window.show(np.zeros((400, 300, 3), dtype=np.uint8))
        assert window.pixels().shape == (200, 150, 3)
        for key in (pygame.K_SPACE, pygame.K_r, pygame.K_q):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))
        assert window.poll() == [PAUSE, RECORD, QUIT]
    finally:
        window.close()


class ScriptedWindow(CoachWindow):
    """A window that "presses" keys after given numbers of shown frames."""

    def __init__(self, keys: dict[int, int]):
        super().__init__()
        self.keys = keys
        self.shown = 0

    def show(self, bgr):
        super().show(bgr)
        self.shown += 1
        if self.shown in self.keys:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=self.keys[self.shown],
                                                 mod=0, unicode=""))


def test_q_key_quits_a_session_and_outputs_are_finalized(tmp_path):
    window = ScriptedWindow({3: pygame.K_q})
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None)
    session = CoachSession(FrameListSource(frames_with_person("P" * 300)), coach, window=window,
                           outputs=SessionOutputs(timeline=tmp_path / "t.json"),
                           log=lambda m: None)
    result = session.run()
    # SDL may hand a posted key over on the poll after next: at most one frame later.
    assert result.reason == "quit" and result.frames in (3, 4)
    timeline = json.loads((tmp_path / "t.json").read_text())
    assert [record["frame"] for record in timeline["frames"]] == list(range(result.frames))


def test_r_key_starts_and_stops_a_recording(tmp_path):
    window = ScriptedWindow({3: pygame.K_r, 9: pygame.K_r, 14: pygame.K_q})
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None)
    outputs = SessionOutputs(recordings_dir=tmp_path / "recordings")
    session = CoachSession(FrameListSource(frames_with_person("P" * 300)), coach, window=window,
                           outputs=outputs, log=lambda m: None)
    result = session.run()
    clips = list((tmp_path / "recordings").glob("*.mp4"))
    assert result.reason == "quit" and result.frames in (14, 15)
    assert len(clips) == 1
    # Started after frame 3 was shown and stopped after frame 9 (both keys equally late).
    assert result.clip_frames[str(clips[0])] == 6


def test_space_pauses_and_resumes(tmp_path):
    window = ScriptedWindow({3: pygame.K_SPACE, 10: pygame.K_SPACE, 20: pygame.K_q})
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None)
    session = CoachSession(FrameListSource(frames_with_person("P" * 300)), coach, window=window,
                           log=lambda m: None)
    result = session.run()
    assert result.reason == "quit"
    # While paused the window kept redrawing the same frame without presenting new ones.
    paused_redraws = window.shown - result.frames
    assert 5 <= paused_redraws <= 8
    assert 3 <= result.frames <= 300

"""Spoken cues: which cue plays when, one fault at a time, never piling up."""

from __future__ import annotations

import numpy as np
import pytest

from coach.analysis import FrameAnalysis
from coach.voice import CUE_DIR, CUE_TEXTS, CuePlanner, CuePlayer, VoiceCoach, fault_cue
from tests.test_explain_poses import stick_handstand

FPS = 30.0


def _analysis(t: float, label: str, hold: float = 0.0, pose=None) -> FrameAnalysis:
    from engine.verdict import FormVerdict

    verdict = FormVerdict({label: 1.0}, label, label != "unknown", "")
    return FrameAnalysis(index=int(t * FPS), timestamp=t, image_size=(480, 640),
                         keypoints=pose, verdict=verdict, hold_seconds=hold)


BANANA = stick_handstand(np.random.default_rng(6), banana=True)
STRAIGHT = stick_handstand(np.random.default_rng(5), banana=False)


class FakeChannel:
    def __init__(self):
        self.busy_until = -1
        self.now = 0
        self.started = []

    def get_busy(self):
        return self.now < self.busy_until

    def play(self, sound):
        self.started.append(sound)
        self.busy_until = self.now + 20  # a cue lasts 20 ticks


def test_every_cue_has_a_shipped_wav():
    assert sorted(p.stem for p in CUE_DIR.glob("*.wav")) == sorted(CUE_TEXTS)


def test_a_banana_is_named_once_it_lasts_then_not_repeated_at_once():
    planner = CuePlanner()
    said = []
    for i in range(int(4 * FPS)):
        cue = planner.update(_analysis(i / FPS, "banana", pose=BANANA))
        if cue:
            said.append((round(i / FPS, 2), cue))
    assert said == [(0.5, fault_cue(_analysis(0, "banana", pose=BANANA)))]
    assert said[0][1] in ("ribs_in", "push_tall")


def test_straight_hold_is_counted_and_the_come_down_announced():
    planner = CuePlanner()
    said = []
    for i in range(int(12 * FPS)):
        t = i / FPS
        cue = planner.update(_analysis(t, "straight", hold=t, pose=STRAIGHT))
        if cue:
            said.append(cue)
    cue = planner.update(_analysis(12.0, "not_handstand"))
    assert said == ["hold_5", "hold_10"] and cue == "came_down"
    # A lost pose in the middle of an attempt is not a come-down.
    planner = CuePlanner()
    for i in range(60):
        planner.update(_analysis(i / FPS, "straight", hold=i / FPS, pose=STRAIGHT))
    assert planner.update(_analysis(2.1, "unknown")) is None


def test_no_fault_cue_on_a_straight_line_and_no_cue_without_a_handstand():
    assert fault_cue(_analysis(0, "straight", pose=STRAIGHT)) is None
    planner = CuePlanner()
    assert all(planner.update(_analysis(i / FPS, "not_handstand")) is None for i in range(90))


def test_cues_never_pile_up_one_waits_the_newest_wins(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pygame.mixer.init()
    channel = FakeChannel()
    player = CuePlayer(channel=channel)
    player.say("ribs_in")
    player.say("push_tall")
    player.say("legs_together")  # replaces the waiting push_tall
    assert player.played == ["ribs_in"] and player.pending == "legs_together"
    channel.now = 25
    player.tick()
    assert player.played == ["ribs_in", "legs_together"] and player.pending is None


def test_voice_toggle_silences_and_drops_the_waiting_cue(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pygame.mixer.init()
    voice = VoiceCoach(CuePlayer(channel=FakeChannel()))
    assert voice.toggle() is False
    for i in range(int(6 * FPS)):
        t = i / FPS
        voice.update(_analysis(t, "straight", hold=t, pose=STRAIGHT))
    assert voice.player.played == []
    assert voice.toggle() is True
    for i in range(int(6 * FPS), int(11 * FPS)):
        t = i / FPS
        voice.update(_analysis(t, "straight", hold=t, pose=STRAIGHT))
    assert voice.player.played == ["hold_10"]


def test_a_session_speaks_the_hold_count(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    pygame.mixer.init()
    from coach.analysis import FrameAnalyzer
    from coach.loop import CoachSession
    from coach.sources import FrameListSource
    from tests.test_app_loop import FakeClassifier, FakePose, frames_with_person

    voice = VoiceCoach(CuePlayer(channel=FakeChannel()))
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None, fps=10.0)
    session = CoachSession(FrameListSource(frames_with_person("P" * 60), fps=10.0), coach,
                           log=lambda m: None, voice=voice)
    session.run()
    assert voice.player.played == ["hold_5"]

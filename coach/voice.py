"""Spoken cues for live coaching: an athlete upside down cannot read the screen.

A fixed set of short cues is pre-rendered offline (espeak-ng, at development time) into WAV
files shipped in ``coach/assets/cues/``; the app only plays them (pygame's mixer), so nothing
is synthesized or downloaded at run time.

``CuePlanner`` (pure, no audio) decides what to say from the stream of frame analyses: one
fault at a time (the strongest, once it has lasted ``fault_after_s``), a hold count every
``count_every_s`` seconds of a straight hold, "came down" at the end of an attempt, never two
cues closer than ``cooldown_s`` (hold counts excepted) and the same fault not again within
``repeat_after_s``. ``CuePlayer`` plays them on one mixer channel and keeps at most one cue
waiting: a newer cue replaces a waiting one, so cues never pile up behind the athlete.

    python -m coach.voice --render     # re-render the WAV assets (needs espeak-ng)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach.analysis import FrameAnalysis
from coach.attempts import stacked
from engine.explain import cues_from_deviations
from engine.ideal import body_height
from engine.verdict import (
    BANANA_LABEL,
    FAULT_LABELS,
    HANDSTAND_LABELS,
    STRAIGHT_LABEL,
    UNKNOWN_LABEL,
)

CUE_DIR = Path(__file__).resolve().parent / "assets" / "cues"
HOLD_COUNTS = tuple(range(5, 65, 5))
# Cue id -> what is said.
CUE_TEXTS: dict[str, str] = {
    "ribs_in": "ribs in",
    "push_tall": "push tall",
    "legs_together": "legs together",
    "stack": "stack over your hands",
    "nice_line": "nice line",
    "came_down": "came down",
    **{f"hold_{n}": f"{n} seconds" for n in HOLD_COUNTS},
}


def fault_cue(analysis: FrameAnalysis) -> str | None:
    """The cue for the strongest fault the pose shows under a banana / other verdict.

    The verdict (the smoothed label) says there is a fault; the pose only says which part:
    the part furthest off the vertical through the hands, worded as a coach would.
    """
    if analysis.label not in FAULT_LABELS or analysis.keypoints is None:
        return None
    pose = np.asarray(analysis.keypoints, dtype=np.float64)
    height = float(body_height(pose))
    if not (np.isfinite(pose[:, :2]).all() and height > 0):
        return None
    cues = cues_from_deviations(pose, stacked(pose), height, max_cues=1)
    if not cues:
        return None
    strongest = cues[0]
    if strongest.startswith("squeeze"):
        return "legs_together"
    if strongest.startswith("shoulders"):
        return "push_tall"
    return "ribs_in" if analysis.label == BANANA_LABEL else "stack"


@dataclass
class CuePlanner:
    """Decides which cue (if any) to say after each frame.

    Attributes:
        cooldown_s: least time between two cues (hold counts excepted).
        fault_after_s: a fault must last this long before it is named.
        repeat_after_s: the same fault is not named again within this time.
        count_every_s: a straight hold is counted every this many seconds.
        came_down_after_s: an attempt inverted at least this long ends with "came down".
    """

    cooldown_s: float = 3.0
    fault_after_s: float = 0.5
    repeat_after_s: float = 6.0
    count_every_s: float = 5.0
    came_down_after_s: float = 1.0

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets the stream."""
        self._last_cue_time = -np.inf
        self._said: dict[str, float] = {}
        self._fault: str | None = None
        self._fault_since = 0.0
        self._counted = 0
        self._inverted_since: float | None = None

    def update(self, analysis: FrameAnalysis) -> str | None:
        """Feeds one frame's analysis; returns the cue id to say now, or None."""
        now = analysis.timestamp
        cue = self._hold_count(analysis) or self._came_down(analysis, now)
        if cue is None:
            cue = self._fault_cue(analysis, now)
        if cue is not None:
            self._last_cue_time = now
            self._said[cue] = now
        return cue

    def _hold_count(self, analysis: FrameAnalysis) -> str | None:
        if analysis.label != STRAIGHT_LABEL or analysis.hold_seconds <= 0:
            self._counted = 0
            return None
        reached = int(analysis.hold_seconds // self.count_every_s)
        if reached > self._counted:
            self._counted = reached
            count = min(reached * int(self.count_every_s), HOLD_COUNTS[-1])
            return f"hold_{count}"
        return None

    def _came_down(self, analysis: FrameAnalysis, now: float) -> str | None:
        inverted = analysis.label in HANDSTAND_LABELS
        if inverted:
            if self._inverted_since is None:
                self._inverted_since = now
            return None
        if analysis.label == UNKNOWN_LABEL:
            return None  # a lost pose is not a come-down
        started, self._inverted_since = self._inverted_since, None
        if started is not None and now - started >= self.came_down_after_s:
            return "came_down"
        return None

    def _fault_cue(self, analysis: FrameAnalysis, now: float) -> str | None:
        fault = fault_cue(analysis)
        if fault != self._fault:
            self._fault, self._fault_since = fault, now
        if fault is None or now - self._fault_since < self.fault_after_s - 1e-9:
            return None
        if now - self._last_cue_time < self.cooldown_s:
            return None
        if now - self._said.get(fault, -np.inf) < self.repeat_after_s:
            return None
        return fault


class CuePlayer:
    """Plays cue WAVs on one pygame mixer channel, with at most one cue waiting.

    Args:
        cue_dir: folder with ``<cue id>.wav`` files.
        channel: a ``pygame.mixer.Channel``-like object (tests pass a fake); None opens the
            mixer and takes channel 0.

    Raises:
        RuntimeError: the mixer cannot start or a cue file is missing (one line).
    """

    def __init__(self, cue_dir: Path = CUE_DIR, channel=None) -> None:
        import pygame

        if channel is None:
            try:
                if not pygame.mixer.get_init():
                    pygame.mixer.init()
                channel = pygame.mixer.Channel(0)
            except pygame.error as error:
                raise RuntimeError(f"no audio output for spoken cues: {error}") from None
        self.channel = channel
        self.sounds = {}
        for cue in CUE_TEXTS:
            path = Path(cue_dir) / f"{cue}.wav"
            try:
                self.sounds[cue] = pygame.mixer.Sound(str(path))
            except (pygame.error, FileNotFoundError) as error:
                raise RuntimeError(f"spoken cue {path} cannot be loaded: {error}") from None
        self.pending: str | None = None
        self.played: list[str] = []

    def say(self, cue: str) -> None:
        """Plays ``cue`` now, or keeps it as the one waiting cue while another plays."""
        self.pending = cue
        self.tick()

    def tick(self) -> None:
        """Starts the waiting cue once the channel is free (call once per frame)."""
        if self.pending is not None and not self.channel.get_busy():
            self.channel.play(self.sounds[self.pending])
            self.played.append(self.pending)
            self.pending = None


class VoiceCoach:
    """Planner plus player, switched on and off with the window's v key.

    Args:
        player: the :class:`CuePlayer`.
        planner: the :class:`CuePlanner`; a default one when None.
        enabled: whether cues are spoken from the start.
    """

    def __init__(self, player: CuePlayer, planner: CuePlanner | None = None,
                 enabled: bool = True) -> None:
        self.player = player
        self.planner = planner or CuePlanner()
        self.enabled = enabled

    def update(self, analysis: FrameAnalysis) -> str | None:
        """Plans and plays the cue for one frame; returns the cue said (None if none)."""
        cue = self.planner.update(analysis)
        if cue is not None and self.enabled:
            self.player.say(cue)
        else:
            self.player.tick()
        return cue if self.enabled else None

    def toggle(self) -> bool:
        """Switches the voice on or off; returns whether it is on now."""
        self.enabled = not self.enabled
        if not self.enabled:
            self.player.pending = None
        return self.enabled


def render_assets(out_dir: Path = CUE_DIR, *, speed: int = 165) -> list[Path]:
    """Renders every cue to ``out_dir/<cue>.wav`` with espeak-ng (development time only)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("render needs espeak-ng (apt-get install espeak-ng)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for cue, text in CUE_TEXTS.items():
            raw = Path(scratch) / f"{cue}.wav"
            subprocess.run([espeak, "-s", str(speed), "-w", str(raw), text], check=True)
            path = out_dir / f"{cue}.wav"
            _halve_rate(raw, path)
            written.append(path)
    return written


def _halve_rate(source: Path, target: Path) -> None:
    """Writes ``source`` (16-bit mono) at half its sample rate.

    Speech needs no more, and the shipped files stay small.
    """
    with wave.open(str(source), "rb") as reader:
        rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, dtype=np.int16).astype(np.float32)
    samples = samples[: len(samples) // 2 * 2].reshape(-1, 2).mean(axis=1)  # low-pass, decimate
    with wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate // 2)
        writer.writeframes(np.round(samples).astype(np.int16).tobytes())


def main(argv: list[str] | None = None) -> int:
    """``python -m coach.voice --render``: re-renders the shipped cue WAVs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="re-render the cue WAVs")
    parser.add_argument("--out", type=Path, default=CUE_DIR)
    args = parser.parse_args(argv)
    if not args.render:
        parser.print_help()
        return 0
    for path in render_assets(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Interrupting a recording: a signal at a chosen frame, then a check of what was left on disk.

Shared by ``tests/test_reliability_interrupt.py`` (a few trials) and
``benchmarks/bench_interrupt.py`` (many seeded trials). The moment of the signal is measured in
frames analyzed, read from the timeline journal the app appends to and flushes after every frame
(``<timeline>.partial.jsonl``), so no trial depends on a blind sleep.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import media
from .cli import RunningCoach, partial_timeline_frames, run_main_with_signal, timeline_frames


@dataclass
class TrialResult:
    """What one interrupted recording left behind.

    Attributes:
        signal_name: ``SIGINT`` or ``SIGTERM``.
        target_frame: the signal was due once this many frames were analyzed.
        frames_at_signal: frames analyzed when the signal was actually sent (None: the app
            had already finished).
        returncode: the app's exit status.
        clip_frames: frames OpenCV decodes from the clip (0: missing or unplayable).
        timeline_frames: records in the final timeline JSON (None: missing or invalid).
        traceback: a Python traceback reached stderr.
        error: the app's last stderr line (for the report).
        seconds: wall time of the trial.
        finalize_seconds: from the signal to the app's exit (None without a signal).
    """

    signal_name: str
    target_frame: int
    frames_at_signal: int | None
    returncode: int
    clip_frames: int
    timeline_frames: int | None
    traceback: bool
    error: str
    seconds: float
    finalize_seconds: float | None = None

    @property
    def playable(self) -> bool:
        """The clip decodes and holds at least the frames analyzed before the signal."""
        floor = max(1, self.frames_at_signal or 1)
        return self.clip_frames >= floor

    @property
    def matching(self) -> bool:
        """The timeline holds exactly the frames the clip holds."""
        return self.timeline_frames is not None and self.timeline_frames == self.clip_frames

    @property
    def good(self) -> bool:
        """A playable clip, a matching timeline, the right exit code and no traceback."""
        expected = {signal.SIGINT.name: 130, signal.SIGTERM.name: 143}[self.signal_name]
        # 0 is right too when the signal met a run that had already analyzed every frame.
        exit_ok = self.returncode in (expected, 0) or self.frames_at_signal is None
        return self.playable and self.matching and exit_ok and not self.traceback

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {**asdict(self), "playable": self.playable, "matching": self.matching,
                "good": self.good}


def make_long_video(path: Path, frames: int = 150, size: tuple[int, int] = (160, 120)) -> Path:
    """A video long enough that every trial's signal lands while it is analyzed."""
    width, height = size
    return media.encode_video(path, media.person_frames(frames, width, height))


def interrupt_trial(
    video: Path,
    out_dir: Path,
    signum: int,
    after_frames: int,
    *,
    timeout: float = 120.0,
    group: bool = False,
    in_process: bool = False,
) -> TrialResult:
    """Runs ``run_coach.py --video ... --save ... --json ... --no-window`` and signals it.

    Args:
        video: the input video.
        out_dir: an empty folder for the clip and the timeline.
        signum: ``signal.SIGINT`` or ``signal.SIGTERM``.
        after_frames: send the signal once this many frames were analyzed.
        timeout: the whole trial's limit (the app is killed after it).
        group: signal the app's whole process group (Ctrl-C in a terminal), not only the app.
        in_process: run ``coach.cli.main`` in this process and signal this process (no
            start-up to pay; the app handles the signal the same way), not a subprocess.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    clip, timeline = out_dir / "clip.mp4", out_dir / "timeline.json"
    args = ["--video", str(video), "--save", str(clip), "--json", str(timeline), "--no-window"]
    frames_at_signal, signalled_at = None, None
    if in_process:
        from coach import cli

        seen = [0]

        def due() -> bool:
            seen[0] = partial_timeline_frames(timeline)
            return seen[0] >= after_frames

        result, signalled_at = run_main_with_signal(cli.main, args, signum, due,
                                                    timeout=timeout)
        if signalled_at is not None:
            frames_at_signal = seen[0]
    else:
        app = RunningCoach(args)
        reached = app.wait_until(
            lambda: partial_timeline_frames(timeline) >= after_frames, timeout=timeout
        )
        if reached and app.alive():
            frames_at_signal = partial_timeline_frames(timeline)
            signalled_at = time.monotonic()
            app.send(signum, group=group)
        result = app.finish(timeout=timeout)
    finalize = None if signalled_at is None else time.monotonic() - signalled_at
    (out_dir / "stderr.txt").write_text(result.stderr, encoding="utf-8")
    try:
        records = len(timeline_frames(timeline)) if timeline.exists() else None
    except (AssertionError, json.JSONDecodeError, UnicodeDecodeError):
        records = None
    messages = result.messages
    return TrialResult(
        signal_name=signal.Signals(signum).name,
        target_frame=after_frames,
        frames_at_signal=frames_at_signal,
        returncode=result.returncode,
        clip_frames=media.count_video_frames(clip) if clip.exists() else 0,
        timeline_frames=records,
        traceback="Traceback" in result.stderr,
        error=messages[-1] if messages else "",
        seconds=result.seconds,
        finalize_seconds=finalize,
    )

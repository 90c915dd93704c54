"""Interrupted recordings: SIGINT / SIGTERM at random moments of a video analysis.

Each trial runs ``run_coach.py --video V --save clip.mp4 --json timeline.json --no-window`` on a
generated clip and sends SIGINT or SIGTERM once a seeded random number of frames has been
analyzed (read from the timeline journal the app flushes per frame, not a blind sleep); two
trials aim at the last frame, where the signal meets the finalization of the outputs. A trial
is good when the clip decodes with at least the frames analyzed before the signal, the timeline
JSON holds exactly as many frames as the clip, the exit code is 130 (SIGINT) / 143 (SIGTERM)
and no traceback was printed.

    python benchmarks/bench_interrupt.py --trials 20 --seed 0

Prints one line per trial and the totals; ``--report FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

import numpy as np  # noqa: E402
from reliability.interrupt import interrupt_trial, make_long_video  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="number of trials (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    parser.add_argument("--frames", type=int, default=120, help="frames in the test video")
    parser.add_argument("--report", type=Path, help="write the trials as JSON here")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_interrupt_"))
    work.mkdir(parents=True, exist_ok=True)
    video = make_long_video(work / "input.mp4", frames=args.frames)
    signals = [signal.SIGINT, signal.SIGTERM]
    trials = []
    start = time.monotonic()
    print(f"{'trial':>5} {'signal':7} {'target':>6} {'sent@':>5} {'exit':>4} {'clip':>4} "
          f"{'json':>4} {'stop_s':>6} playable matching")
    for index in range(args.trials):
        signum = signals[index % 2] if index < 4 else signals[int(rng.integers(0, 2))]
        # Two trials aim at the very last frame: the signal then meets the finalization.
        target = args.frames if index in (2, 3) else int(rng.integers(1, args.frames))
        result = interrupt_trial(video, work / f"trial_{index:02d}", signum, target)
        trials.append(result)
        sent = "-" if result.frames_at_signal is None else str(result.frames_at_signal)
        stop_s = "-" if result.finalize_seconds is None else f"{result.finalize_seconds:.2f}"
        print(f"{index:5d} {result.signal_name:7} {target:6d} {sent:>5} {result.returncode:4d} "
              f"{result.clip_frames:4d} {str(result.timeline_frames):>4} {stop_s:>6} "
              f"{'yes' if result.playable else 'NO':8} {'yes' if result.matching else 'NO':8}"
              f"{'' if result.good else '  <-- ' + result.error[:80]}", flush=True)
    elapsed = time.monotonic() - start
    good = sum(t.good for t in trials)
    playable = sum(t.playable for t in trials)
    matching = sum(t.playable and t.matching for t in trials)
    late = sum(t.frames_at_signal is None for t in trials)
    print(f"\n{playable}/{len(trials)} trials left a playable clip holding every analyzed frame")
    print(f"{matching}/{len(trials)} left a playable clip with a matching timeline JSON")
    print(f"{good}/{len(trials)} fully good (also exit 130/143 and no traceback)")
    for name in ("SIGINT", "SIGTERM"):
        subset = [t for t in trials if t.signal_name == name]
        print(f"  {name}: {sum(t.good for t in subset)}/{len(subset)} good")
    stops = [t.finalize_seconds for t in trials if t.finalize_seconds is not None]
    if stops:
        print(f"signal to exit (clip and timeline finalized): median {np.median(stops):.2f} s, "
              f"max {max(stops):.2f} s")
    if late:
        print(f"  ({late} trials: the app finished before the signal was due)")
    print(f"{elapsed:.0f} s for {len(trials)} trials; outputs in {work}")
    if args.report:
        args.report.write_text(json.dumps([t.as_dict() for t in trials], indent=1))
    return 0 if good == len(trials) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Spoken-cue timing on a recorded session: from a fault's onset to its cue.

    python benchmarks/bench_cues.py demo_output/timeline.json

Replays the timeline's smoothed labels, poses and holds through ``coach.voice.CuePlanner`` and
prints every cue with its time, and for each fault cue the delay from the first frame the raw
model called that fault (and from the first frame the banner showed it). The sound itself
starts when the cue is planned if the mixer channel is free (``CuePlayer``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coach.analysis import FrameAnalysis  # noqa: E402
from coach.voice import CuePlanner  # noqa: E402
from engine.verdict import FAULT_LABELS, FormVerdict  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timeline", type=Path)
    args = parser.parse_args()
    records = json.loads(args.timeline.read_text())["frames"]
    planner = CuePlanner()
    raw_onset: dict[str, float] = {}
    shown_onset: dict[str, float] = {}
    previous_raw = previous_shown = None
    for record in records:
        time, raw, shown = record["time"], record["label"], record["smoothed_label"]
        if raw != previous_raw:
            raw_onset[raw] = time
        if shown != previous_shown:
            shown_onset[shown] = time
        previous_raw, previous_shown = raw, shown
        keypoints = None if record["keypoints"] is None else np.asarray(record["keypoints"])
        analysis = FrameAnalysis(index=record["frame"], timestamp=time, image_size=(0, 0),
                                 keypoints=keypoints, verdict=FormVerdict({}, shown, True, ""),
                                 hold_seconds=record["hold_seconds"])
        cue = planner.update(analysis)
        if cue is None:
            continue
        line = f"{time:6.2f} s  {cue}"
        if shown in FAULT_LABELS and not cue.startswith(("hold_", "came")):
            line += (f"  ({time - raw_onset.get(shown, time):.2f} s after the raw model's "
                     f"{shown}, {time - shown_onset.get(shown, time):.2f} s after the banner's)")
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

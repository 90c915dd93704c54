"""Verdicts and holds on real footage against hand-made expectations, with and without the
pose-glitch filter, in one run.

    python benchmarks/bench_footage.py ../shared/data/media/handstand_kickup_gym.mp4 \
        --expect kickup_expect.json [--loops 10] [--rates 15,30,60]

The expectation file (made by watching the clip; keep it beside the footage, not in the
project) maps a video's file name to time ranges and hand-timed holds, in the clip's own time:

    {"handstand_kickup_gym.mp4": {
        "ranges": [{"start": 0.0, "end": 0.6, "label": "not_handstand", "steady": true},
                   {"start": 1.7, "end": 2.9, "label": "straight", "steady": true}],
        "holds": [1.33]}}

``--loops N`` plays the clip N times ping-pong (forward, backward, forward, ...; the turning
frame is not repeated), so the same footage is judged again and again while the tracker runs
on; expected ranges and holds are mapped onto each pass (a hold at the end of a forward pass
continues into the backward pass). ``--rates`` replays the clip at other frame rates (every
other frame for 15 fps from 30, each frame twice for 60) to check that holds do not depend on
the rate.

Prints per range the share of frames with the expected smoothed label; inside steady ranges
the frames with another label ("wrong"), label switches ("flicker") and hold-timer resets;
the holds found against the expected ones (error in seconds); pose-orientation flips while
inverted; and how many frames the glitch filter repaired or held. "baseline" is the same
pipeline without the glitch filter.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coach.analysis import FrameAnalyzer  # noqa: E402
from coach.loading import (  # noqa: E402
    limit_torch_threads,
    load_classifier,
    load_ideal,
    make_pose_backend,
)
from engine.form import DEFAULT_FORM_WEIGHTS  # noqa: E402
from engine.glitches import PoseGlitchFilter  # noqa: E402
from engine.smoothing import VerdictSmoother  # noqa: E402
from engine.verdict import HANDSTAND_LABELS  # noqa: E402


@dataclass(frozen=True)
class Expected:
    """One hand-labeled time range of a clip (clip time, seconds)."""

    start: float
    end: float
    label: str
    steady: bool


def decode(path: Path, size: tuple[int, int] | None = None) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if size is not None:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"bench_footage: cannot read frames from {path}")
    return frames, fps


def ping_pong(count: int, loops: int) -> list[tuple[int, int]]:
    """(pass, frame index) for ``loops`` passes over ``count`` frames, turning at each end."""
    order: list[tuple[int, int]] = []
    for number in range(loops):
        indices = list(range(count)) if number % 2 == 0 else list(range(count - 1, -1, -1))
        order.extend((number, i) for i in (indices if number == 0 else indices[1:]))
    return order


def at_rate(order: list[tuple[int, int]], source_fps: float, rate: float) -> list:
    """Resamples a frame order to ``rate`` by dropping or repeating frames."""
    step = source_fps / rate
    count = int(np.floor(len(order) / step))
    return [order[min(int(round(k * step)), len(order) - 1)] for k in range(count)]


def expected_label(clip_time: float, ranges: list[Expected]) -> Expected | None:
    for expected in ranges:
        if expected.start <= clip_time <= expected.end:
            return expected
    return None


def expected_holds(holds: list[float], loops: int, fps: float) -> list[float]:
    """Holds of a ping-pong play: a hold ending a pass continues into the next pass.

    Only the clip's last hold, taken to reach the clip's end (a kick-up -> hold clip), is
    mapped; the turning frame is shown once, so a merged hold is one frame short of two.
    """
    if loops <= 1 or not holds:
        return list(holds)
    return [holds[-1] * 2 - 1.0 / fps if number + 1 < loops else holds[-1]
            for number in range(0, loops, 2)]


def run(analyzer: FrameAnalyzer, frames: list, order: list, rate: float, source_fps: float) -> list:
    analyzer.reset()
    rows = []
    for k, (number, index) in enumerate(order):
        analysis = analyzer.analyze(frames[index], k, k / rate)
        rows.append({"pass": number, "clip_time": index / source_fps, "time": k / rate,
                     "label": analysis.label, "hold": analysis.hold_seconds,
                     "rotation": analysis.rotation, "issue": analysis.pose_issue,
                     "held": analysis.pose_held,
                     "inverted": analysis.label in HANDSTAND_LABELS})
    return rows


def holds_of(rows: list[dict]) -> list[float]:
    holds, previous = [], 0.0
    for row in rows + [{"hold": 0.0}]:
        if row["hold"] < previous - 1e-9 and previous > 0:
            holds.append(previous)
        previous = row["hold"]
    return holds


def score(rows: list[dict], ranges: list[Expected]) -> dict:
    per_range: dict[str, list[int]] = {}
    wrong = flicker = resets = 0
    previous_label = previous_hold = previous_range = None
    flips = 0
    previous_rotation = None
    for row in rows:
        expected = expected_label(row["clip_time"], ranges)
        key = (None if expected is None
               else f"{expected.start:.2f}-{expected.end:.2f} {expected.label}")
        if key is not None:
            hits = per_range.setdefault(key, [0, 0])
            hits[0] += row["label"] == expected.label
            hits[1] += 1
        if expected is not None and expected.steady:
            wrong += row["label"] != expected.label
            same = previous_range == (row["pass"], key)
            if same and row["label"] != previous_label:
                flicker += 1
            if same and expected.label == "straight" and row["hold"] < previous_hold - 1e-9:
                resets += 1
        turned = previous_rotation is not None and row["rotation"] != previous_rotation
        if row["inverted"] and turned:
            flips += 1
        previous_rotation = row["rotation"]
        previous_label, previous_hold = row["label"], row["hold"]
        previous_range = None if key is None else (row["pass"], key)
    return {
        "agreement": {key: hits[0] / hits[1] for key, hits in per_range.items()},
        "wrong": wrong, "flicker": flicker, "resets": resets, "flips": flips,
        "repaired": sum(bool(r["issue"]) and not r["held"] for r in rows),
        "held": sum(r["held"] for r in rows),
        "holds": holds_of(rows),
    }


def report(name: str, result: dict, holds_expected: list[float]) -> None:
    agreement = ", ".join(f"{key}: {value:.2f}" for key, value in result["agreement"].items())
    holds = result["holds"]
    found = " ".join(f"{h:.2f}" for h in holds)
    errors = [abs(h - e) for h, e in zip(sorted(holds, reverse=True)[:len(holds_expected)],
                                         sorted(holds_expected, reverse=True), strict=False)]
    print(f"  {name:9s} agreement {agreement}")
    print(f"  {'':9s} steady ranges: wrong {result['wrong']}, flicker {result['flicker']}, "
          f"timer resets {result['resets']}; orientation flips while inverted {result['flips']}; "
          f"glitch frames repaired {result['repaired']}, held {result['held']}")
    print(f"  {'':9s} holds found [{found}] s; expected "
          f"[{' '.join(f'{h:.2f}' for h in holds_expected)}]; "
          f"max error {max(errors) if errors else float('nan'):.3f} s; "
          f"spread over loops {np.ptp(holds[:len(holds_expected)]) if holds else 0:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--expect", type=Path, required=True)
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--rates", default="", help="comma-separated frame rates, e.g. 15,60")
    parser.add_argument("--size", default="",
                        help="resize frames to WxH first (e.g. 640x480, as bench_loop does)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_FORM_WEIGHTS)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    expectations = json.loads(args.expect.read_text())
    limit_torch_threads()
    classifier, status = load_classifier(args.weights)
    if classifier is None:
        raise SystemExit(f"bench_footage: {status}")
    ideal, _ = load_ideal()
    for video in args.videos:
        spec = expectations.get(video.name)
        if spec is None:
            print(f"{video.name}: no expectations in {args.expect}; skipped")
            continue
        ranges = [Expected(r["start"], r["end"], r["label"], bool(r.get("steady", False)))
                  for r in spec["ranges"]]
        frames, fps = decode(video, size)
        order = ping_pong(len(frames), args.loops)
        holds_expected = expected_holds(spec.get("holds", []), args.loops, fps)
        rates = [fps] + [float(r) for r in args.rates.split(",") if r.strip()]
        for rate in rates:
            print(f"{video.name}: {len(frames)} frames at {fps:.1f} fps"
                  f"{f' resized to {args.size}' if size else ''}, {args.loops} pass(es) "
                  f"ping-pong, played at {rate:.0f} fps")
            played = order if rate == fps else at_rate(order, fps, rate)
            for name, glitches in (("baseline", None), ("filtered", PoseGlitchFilter())):
                analyzer = FrameAnalyzer(make_pose_backend("blazepose", None, stream=True),
                                         classifier, VerdictSmoother(), ideal, fps=rate,
                                         glitches=glitches)
                rows = run(analyzer, frames, played, rate, fps)
                analyzer.close()
                report(name, score(rows, ranges), holds_expected)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Full coaching loop versus BlazePose alone, on the same frames in one run.

    python benchmarks/bench_loop.py /work/shared/data/media/handstand_kickup_gym.mp4

Frames are decoded once, resized to --width x --height and kept in memory, so neither run pays
for decoding. "pose only" runs BlazePose in tracking mode frame after frame. "full loop" runs
the app's CoachSession (pose -> clip buffer -> form model -> smoothing -> overlay drawing ->
annotated-clip encoding -> timeline) headless, with its stages pipelined in threads. Prints
both throughputs, their ratio (goal >= 0.85) and p50/p95 per-frame latency, and the CPU time
per frame of each (load-independent: on a busy machine the ratio tends to the CPU ratio).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coach.analysis import FrameAnalyzer  # noqa: E402
from coach.cli import DEMO_CLIP  # noqa: E402
from coach.loading import (  # noqa: E402
    limit_torch_threads,
    load_classifier,
    load_ideal,
    make_pose_backend,
)
from coach.loop import CoachSession, SessionOutputs  # noqa: E402
from coach.sources import FrameListSource  # noqa: E402
from engine.form import DEFAULT_FORM_WEIGHTS  # noqa: E402
from engine.glitches import PoseGlitchFilter  # noqa: E402
from engine.smoothing import VerdictSmoother  # noqa: E402


def load_frames(path: Path | None, size: tuple[int, int], limit: int) -> tuple[list, float, str]:
    """Decodes up to ``limit`` frames (looping short clips) resized to ``size``."""
    candidates = [p for p in (path, DEMO_CLIP) if p is not None and Path(p).exists()]
    if candidates:
        capture = cv2.VideoCapture(str(candidates[0]))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        decoded = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            decoded.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        capture.release()
        if decoded:
            # Ping-pong so a looped clip has no jump that would make the tracker re-detect.
            cycle = decoded + decoded[-2:0:-1]
            frames = [cycle[i % len(cycle)] for i in range(limit)]
            return frames, fps, candidates[0].name
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    frames = []
    for i in range(limit):
        frame = background.copy()
        cv2.circle(frame, (size[0] // 2 + int(40 * np.sin(i / 10)), size[1] // 2), 60,
                   (255, 255, 255), -1)
        frames.append(frame)
    return frames, 30.0, "generated"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pose_only(frames: list) -> tuple[float, np.ndarray, float]:
    backend = make_pose_backend("blazepose", None, stream=True)
    latencies = []
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        backend.estimate(frame)
        latencies.append((time.perf_counter() - t0) * 1000.0)
    wall = time.perf_counter() - start
    cpu = (cpu_seconds() - cpu_start) / len(frames) * 1000.0
    backend.close()
    return len(frames) / wall, np.asarray(latencies), cpu


def full_loop(frames: list, fps: float, out_dir: Path, weights: Path,
              form_backend: str) -> tuple[float, dict, dict, float]:
    classifier, status = load_classifier(weights, form_backend)
    ideal, _ = load_ideal()
    coach = FrameAnalyzer(make_pose_backend("blazepose", None, stream=True), classifier,
                      VerdictSmoother() if classifier is not None else None, ideal, fps=fps,
                      no_model_status=status or "no form model installed",
                      glitches=PoseGlitchFilter())
    source = FrameListSource(frames, fps=fps, name="bench")
    # Frames come from memory like a file, but everything else is set up as for a camera.
    outputs = SessionOutputs(clip=out_dir / "bench.mp4", timeline=out_dir / "bench.json",
                             clip_preset="ultrafast")
    session = CoachSession(source, coach, outputs=outputs, log=lambda message: None)
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    result = session.run()  # ends after ffmpeg has exited, so its CPU time is counted
    wall = time.perf_counter() - start
    cpu = (cpu_seconds() - cpu_start) / result.frames * 1000.0
    coach.close()
    return result.frames / wall, result.frame_latency_ms, result.latency_ms, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, help="video to take frames from")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=300, help="frames per run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds (pose only, then full loop); fps: best "
                             "round; ratio: median of the rounds' ratios")
    parser.add_argument("--weights", type=Path, default=DEFAULT_FORM_WEIGHTS,
                        help="form-model weights (default: the shipped ones)")
    parser.add_argument("--form-backend", default="fast", help="as run_coach.py --form-backend")
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    frames, fps, name = load_frames(args.video, (args.width, args.height), args.frames)
    print(f"frames: {len(frames)} from {name} at {args.width}x{args.height}, "
          f"{os.cpu_count()} CPU cores")
    limit_torch_threads()
    classifier, status = load_classifier(args.weights, args.form_backend)
    print(f"form model: {args.weights if classifier is not None else status}")
    best_pose, best_full, ratios = None, None, []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.rounds):
            pose_fps, pose_lat, pose_cpu = pose_only(frames)
            full_fps, full_lat, stages, full_cpu = full_loop(frames, fps, Path(scratch),
                                                             args.weights, args.form_backend)
            ratios.append(full_fps / pose_fps)
            print(f"  round {len(ratios)}: pose only {pose_fps:5.1f} fps, full loop "
                  f"{full_fps:5.1f} fps, ratio {ratios[-1]:.3f}")
            if best_pose is None or pose_fps > best_pose[0]:
                best_pose = (pose_fps, pose_lat, pose_cpu)
            if best_full is None or full_fps > best_full[0]:
                best_full = (full_fps, full_lat, stages, full_cpu)
    pose_fps, pose_lat, pose_cpu = best_pose
    full_fps, full_lat, stages, full_cpu = best_full
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine "
          "slows both runs)")
    print(f"pose only : {pose_fps:6.1f} fps   per-frame p50 {np.percentile(pose_lat, 50):6.1f} ms"
          f"  p95 {np.percentile(pose_lat, 95):6.1f} ms   cpu {pose_cpu:5.1f} ms/frame")
    print(f"full loop : {full_fps:6.1f} fps   per-frame p50 {full_lat['p50']:6.1f} ms"
          f"  p95 {full_lat['p95']:6.1f} ms   cpu {full_cpu:5.1f} ms/frame (incl. ffmpeg)")
    for stage, values in stages.items():
        print(f"  stage {stage:<8} p50 {values['p50']:6.2f} ms  p95 {values['p95']:6.2f} ms")
    ratio = float(np.median(ratios))
    print(f"ratio full/pose (median of rounds): {ratio:.3f} (goal >= 0.85)   "
          f"cpu ratio pose/full: {pose_cpu / full_cpu:.3f}   full loop >= 30 fps: "
          f"{'yes' if full_fps >= 30 else 'no'}")


if __name__ == "__main__":
    main()

"""Writes the bundled demo clip, a rendered handstand seen from the side.

Kick-up, banana hold, correction to a straight hold, come-down.

Usage:
    python -m training.synth.make_demo [--out coach/assets/demo_handstand.mp4] [--seed 4]

The clip is a pure function of the seed (640x480, 30 fps, H.264 CRF 28, about 10 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from engine.form import FORM_LABELS
from training.synth import motions, poses
from training.synth.body import D, J, P, sample_bodies, world_points
from training.synth.camera import look_at
from training.synth.labels import label_frames
from training.synth.render import render_background, render_frames, sample_appearance

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "coach" / "assets" / "demo_handstand.mp4"
FPS = 30
IMAGE_SIZE = (640, 480)


def demo_motion(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint angles of the demo performance.

    Returns:
        params (T, NUM_PARAMS), body dims (len(DIM_NAMES),) and the keyframe times (seconds).
    """
    banana = poses.handstand_straight(1, rng)
    banana[:, P["lumbar_ext"]] = 20.0
    banana[:, P["thoracic_ext"]] = 6.0
    for side in ("r", "l"):
        banana[:, P[f"{side}_hip_flex"]] = -14.0
        banana[:, P[f"{side}_sh_flex"]] = 166.0
        banana[:, P[f"{side}_knee"]] = 4.0
    straight = poses.handstand_straight(1, rng)
    straight[:, P["lumbar_ext"]] = 0.0
    straight[:, P["thoracic_ext"]] = 0.0
    straight[:, P["neck_flex"]] = -10.0
    for side in ("r", "l"):
        straight[:, P[f"{side}_hip_flex"]] = 0.0
        straight[:, P[f"{side}_sh_flex"]] = 184.0
        straight[:, P[f"{side}_knee"]] = 1.0
        straight[:, P[f"{side}_elbow"]] = 1.0
    kick_in = motions.kick_frames(banana, rng)
    kick_out = motions.kick_frames(straight, rng)
    keys = np.concatenate(kick_in + [banana, banana, straight, straight] + kick_out[::-1])
    times = np.array([0.0, 0.6, 1.0, 1.35, 1.7, 2.1, 4.4, 5.3, 7.7, 8.1, 8.45, 8.8, 9.2, 9.6])
    keys[:, P["yaw"]] = 90.0  # facing +x: the camera on the z axis sees the side
    motion = motions.Motion(times[None], keys[None], np.array([[0.0, times[-1]]]),
                            np.array([1.0]))
    frame_times = np.arange(int(round((times[-1] + 0.4) * FPS))) / FPS
    params = motions.evaluate(motion, frame_times[None], rng)[0]
    dims = sample_bodies(1, rng)[0]
    return params, dims, times


def make_demo(out: Path, seed: int = 4) -> dict[str, int]:
    """Renders and writes the demo clip.

    Args:
        out: output .mp4 path.
        seed: random seed (body, appearance, room, sway).

    Returns:
        Count of frames per geometric label.
    """
    import imageio.v2 as imageio

    rng = np.random.default_rng(seed)
    params, dims, _ = demo_motion(rng)
    points = world_points(params, dims)
    labels, _ = label_frames(points, np.full(len(points), dims[D["height"]]))
    centre = np.array([points[..., J["pelvis"], 0].mean(), 1.0, 0.0])
    position = centre + np.array([0.0, 0.2, 4.6])
    rotation = look_at(position, centre, np.array(0.0))
    focal = 740.0
    background = render_background(IMAGE_SIZE, rotation, position, focal, rng)
    appearance = sample_appearance(rng, background)
    frames = render_frames(points, rotation, position, focal, IMAGE_SIZE, rng=rng,
                           height=float(dims[D["height"]]), appearance=appearance,
                           background=background, blur=0.6, noise=2.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio.get_writer(
        str(out), fps=FPS, codec="libx264", quality=None, pixelformat="yuv420p",
        macro_block_size=16, ffmpeg_log_level="error",
        ffmpeg_params=["-crf", "28", "-preset", "medium", "-threads", "1",
                       "-x264-params", "deterministic=1", "-movflags", "+faststart"],
    )
    try:
        for frame in frames:
            writer.append_data(frame[..., ::-1])  # BGR -> RGB
    finally:
        writer.close()
    return {name: int((labels == i).sum()) for i, name in enumerate(FORM_LABELS)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Render the bundled demo handstand clip.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    try:
        counts = make_demo(args.out, args.seed)
    except OSError as error:
        print(f"error: cannot write {args.out}: {error}", file=sys.stderr)
        return 1
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({size_kb:.0f} KiB); frames per label: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

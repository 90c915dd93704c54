"""How fast can a user label with training.label? A scripted session with injected keys.

Usage:
    SDL_VIDEODRIVER=dummy python benchmarks/bench_label_speed.py [--images 40]
        [--pose-delay-ms 30] [--speedup 10] [--real-pose [--images-from DIR]]

A scripted "user" looks at each item for a think time drawn from 1.5-2.0 s (user time,
compressed ``--speedup`` times in wall-clock time; the pose back-end is NOT compressed, so
the pose has less time to get ready than with a real user: the ready share is a lower bound)
and then presses a label key (posted with ``pygame.event.post``). The app runs its normal loop
(``LabelWindow.step`` at up to 120 Hz). Three runs on the same images:

- ``prefetch``: poses computed ahead in the background thread (the program's default);
- ``no prefetch``: baseline, the pose is computed when the item is shown and the user waits;
- ``instant user`` (prefetch, and baseline): presses the next key the moment the item's skeleton
  is on screen (think time 0): the ceiling of the program and its pose pipeline.

Printed per run: items labeled per minute of user time (think time + measured waits; wall
time for the instant user), the share of items whose pose was ready when first shown (the
first item left out), and the wait after each key press until
the next item is on screen and until its skeleton is drawn (p50 / p95, ms). Goal: >= 20
images per minute with pose estimation running ahead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402

from engine.media import iter_media_files  # noqa: E402
from engine.pose.base import PoseResult  # noqa: E402
from training.label import LabelWindow  # noqa: E402
from training.label_session import LabelSession, build_items  # noqa: E402
from training.store import LabelStore  # noqa: E402

LABEL_KEYS = (pygame.K_1, pygame.K_2, pygame.K_3, pygame.K_4)


class DelayedFakeBackend:
    """Sleeps ``delay_s`` per image (like a pose network) and returns a fixed skeleton."""

    name = "fake_delay"

    def __init__(self, delay_s: float):
        self.delay_s = delay_s
        self.version = f"{delay_s:.3f}"

    def estimate(self, bgr: np.ndarray) -> PoseResult:
        time.sleep(self.delay_s)
        height, width = bgr.shape[:2]
        keypoints = np.zeros((16, 3), np.float32)
        keypoints[:, 0] = np.linspace(0.3, 0.7, 16) * width
        keypoints[:, 1] = np.linspace(0.2, 0.8, 16) * height
        keypoints[:, 2] = 0.9
        return PoseResult(keypoints, 0)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def generate_images(folder: Path, count: int, rng: np.random.Generator) -> None:
    """Writes ``count`` 1280x720 JPEGs with a noisy background and a stick figure."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
        image = cv2.GaussianBlur(image, (0, 0), 3)
        x = int(rng.uniform(400, 880))
        cv2.line(image, (x, 150), (x, 560), (30, 30, 200), 24)
        cv2.circle(image, (x, 600), 40, (40, 40, 220), -1)
        cv2.imwrite(str(folder / f"user{index % 5}_img_{index:03d}.jpg"), image)


def make_backend(args):
    if not args.real_pose:
        return DelayedFakeBackend(args.pose_delay_ms / 1000.0)
    from engine.pose.blazepose import BlazePoseBackend

    return BlazePoseBackend(stream=False)


def run_session(paths, db, backend, *, threaded, think_s, speedup, count, rng) -> dict:
    with LabelStore(db) as store:
        items = build_items(store, paths)[:count]
        app = LabelWindow(LabelSession(store, items), backend, threaded_prefetch=threaded,
                          window_size=(1100, 760))
        ticker = pygame.time.Clock()
        waits_display, waits_skeleton, thinks = [], [], []
        start = time.perf_counter()
        app.step()
        shown_at = pressed_at = time.perf_counter()
        skeleton_at = shown_at if app.prefetcher.pose(app.session.index) is not None else None
        think = rng.uniform(*think_s) if think_s[1] > 0 else 0.0
        while app.session.stats.items_labeled < len(items):
            now = time.perf_counter()
            if skeleton_at is None and app.prefetcher.pose(app.session.index) is not None:
                skeleton_at = now
            waits_for_skeleton = think_s[1] == 0 and skeleton_at is None
            if now - shown_at >= think / speedup and not waits_for_skeleton:
                thinks.append(think)
                if skeleton_at is not None:
                    waits_skeleton.append(max(0.0, skeleton_at - pressed_at))
                else:
                    waits_skeleton.append(np.nan)
                key = LABEL_KEYS[app.session.stats.items_labeled % len(LABEL_KEYS)]
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0))
                pressed_at = time.perf_counter()
                app.step()
                shown_at = time.perf_counter()
                waits_display.append(shown_at - pressed_at)
                ready = app.prefetcher.pose(app.session.index) is not None
                skeleton_at = shown_at if ready else None
                think = rng.uniform(*think_s) if think_s[1] > 0 else 0.0
                continue
            app.step()
            ticker.tick(120)
        elapsed = time.perf_counter() - start
        # The first item is shown before anything could be computed ahead; leave it out.
        ready_share = float(np.mean(app.session.stats.pose_ready_when_shown[1 : len(items)]))
        labeled = app.session.stats.items_labeled
        app.close()
    user_seconds = sum(thinks) + sum(waits_display)
    if think_s[1] == 0:
        user_seconds = elapsed
    skeleton = np.asarray(waits_skeleton[1:], float)  # the first item has nothing before it
    return {
        "labeled": labeled,
        "per_minute": labeled / user_seconds * 60.0,
        "ready_share": ready_share,
        "display_ms": np.percentile(np.asarray(waits_display) * 1000, [50, 95]),
        "skeleton_ms": (
            np.nanpercentile(skeleton * 1000, [50, 95])
            if np.isfinite(skeleton).any()
            else [np.nan, np.nan]
        ),
        "skeleton_missing": int(np.isnan(skeleton).sum()),
        "wall_s": elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--pose-delay-ms", type=float, default=30.0)
    parser.add_argument("--think-min", type=float, default=1.5)
    parser.add_argument("--think-max", type=float, default=2.0)
    parser.add_argument("--speedup", type=float, default=10.0, help="user-time compression")
    parser.add_argument("--real-pose", action="store_true", help="BlazePose instead of the fake")
    parser.add_argument("--images-from", type=Path, default=None, help="use these images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.images_from is not None:
            paths = [p for p in iter_media_files([args.images_from])][: args.images]
        else:
            generate_images(scratch / "images", args.images, rng)
            paths = [scratch / "images"]
        runs = [
            ("prefetch", True, (args.think_min, args.think_max)),
            ("no prefetch (baseline)", False, (args.think_min, args.think_max)),
            ("instant user, prefetch", True, (0.0, 0.0)),
            ("instant user, baseline", False, (0.0, 0.0)),
        ]
        pose = "BlazePose (image mode)" if args.real_pose else f"fake {args.pose_delay_ms:.0f} ms"
        print(
            f"{args.images} images, pose back-end: {pose}, think time "
            f"{args.think_min}-{args.think_max} s compressed x{args.speedup:g}"
        )
        results = {}
        for number, (name, threaded, think) in enumerate(runs):
            result = run_session(
                paths, scratch / f"labels{number}.db", make_backend(args), threaded=threaded,
                think_s=think, speedup=args.speedup, count=args.images, rng=rng,
            )
            results[name] = result
            print(
                f"{name:24s} {result['per_minute']:7.1f} images/min  pose ready when shown "
                f"{100 * result['ready_share']:5.1f} %  next item on screen p50/p95 "
                f"{result['display_ms'][0]:6.1f}/{result['display_ms'][1]:6.1f} ms  skeleton "
                f"p50/p95 {result['skeleton_ms'][0]:6.1f}/{result['skeleton_ms'][1]:6.1f} ms"
                f"  ({result['labeled']} labeled, {result['wall_s']:.1f} s wall)"
            )
        ours, base = results["prefetch"], results["no prefetch (baseline)"]
        print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
        print(
            f"prefetch / baseline speed ratio {ours['per_minute'] / base['per_minute']:.3f}; "
            f"goal >= 20 images/min with prefetch: "
            f"{'met' if ours['per_minute'] >= 20 else 'NOT met'} ({ours['per_minute']:.1f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

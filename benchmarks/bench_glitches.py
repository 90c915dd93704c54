"""What the pose-glitch filter costs on real motion and what it catches, on synthetic clips.

    python benchmarks/bench_glitches.py [--clips 300] [--frames 48] [--seed 7]

Synthetic clips (the generator's kick-ups, holds, come-downs, walks, yoga poses and other
inversions at 30 fps) are physically valid motion: on their exact projections every frame the
filter changes is a false alarm. Prints, per label of the clip's frames:
- the share of frames changed on exact projections and on the BlazePose-like noisy keypoints;
- the share of injected glitches caught (a leg folded onto the torso for 3 frames, the pose
  turned upside down for 2 frames, left and right exchanged for 2 frames);
- the form model's accuracy on the clips' last frames with and without the filter (noisy
  keypoints), so any cost of the filter to real verdicts shows in the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.form import DEFAULT_FORM_WEIGHTS, load_form_model  # noqa: E402
from engine.glitches import PoseGlitchFilter  # noqa: E402
from engine.verdict import FORM_LABELS  # noqa: E402
from training.synth.generate import generate_clips  # noqa: E402
from training.synth.glitches import fold_left_leg, swap_sides, turn_upside_down  # noqa: E402
from training.synth.motions import FPS  # noqa: E402


def filtered(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clip after the filter and which frames it changed: (T, 16, 3), (T,) bool."""
    glitches = PoseGlitchFilter()
    out, changed = clip.copy(), np.zeros(len(clip), bool)
    for t, pose in enumerate(clip):
        found = pose[:, 2].any()
        checked = glitches.update(pose if found else None, t / FPS)
        if checked.keypoints is not None:
            out[t] = checked.keypoints
        changed[t] = bool(checked.issue)
    return out, changed


def inject(clip: np.ndarray, kind: str, start: int) -> tuple[np.ndarray, slice]:
    """A copy of ``clip`` with one BlazePose-style glitch from frame ``start``."""
    glitch, frames = {"folded leg": (fold_left_leg, 3), "upside down": (turn_upside_down, 2),
                      "left/right swap": (swap_sides, 2)}[kind]
    out = clip.copy()
    span = slice(start, start + frames)
    out[span] = [glitch(pose) for pose in clip[span]]
    return out, span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--weights", type=Path, default=DEFAULT_FORM_WEIGHTS)
    args = parser.parse_args()
    clips = generate_clips(args.clips, clip_length=args.frames,
                           rng=np.random.default_rng(args.seed))
    classifier = load_form_model(args.weights)
    rng = np.random.default_rng(args.seed + 1)
    changed = {"exact": [], "noisy": []}
    caught: dict[str, list[bool]] = {"folded leg": [], "upside down": [], "left/right swap": []}
    frame_labels = clips.frame_labels.reshape(-1)
    judged_plain, judged_filtered = [], []
    for index in range(args.clips):
        exact = clips.clean_keypoints[index]
        noisy = clips.keypoints[index]
        changed["exact"].append(filtered(exact)[1])
        noisy_filtered, noisy_changed = filtered(noisy)
        changed["noisy"].append(noisy_changed)
        found = noisy[:, :, 2].any(axis=1)
        if found.all():
            for kind in caught:
                start = int(rng.integers(8, args.frames - 4))
                glitched, span = inject(exact, kind, start)
                caught[kind].append(bool(filtered(glitched)[1][span].all()))
        judged_plain.append(noisy)
        judged_filtered.append(noisy_filtered)
    truth = clips.labels
    plain = np.array([FORM_LABELS.index(v.label) if v.label in FORM_LABELS else -1
                      for v in classifier.predict_batch(judged_plain)])
    fixed = np.array([FORM_LABELS.index(v.label) if v.label in FORM_LABELS else -1
                      for v in classifier.predict_batch(judged_filtered)])
    print(f"{args.clips} synthetic clips x {args.frames} frames (seed {args.seed})")
    print("frames changed by the filter (false alarms on exact projections):")
    for name, flags in changed.items():
        flags = np.concatenate(flags)
        per_label = ", ".join(
            f"{label} {flags[frame_labels == k].mean():.3f}"
            for k, label in enumerate(FORM_LABELS) if (frame_labels == k).any()
        )
        print(f"  {name:5s} all {flags.mean():.3f}  ({per_label})")
    print("injected glitches caught on every glitched frame:")
    for kind, hits in caught.items():
        print(f"  {kind:15s} {np.mean(hits):.3f} of {len(hits)}")
    judged = (plain >= 0) & (fixed >= 0)
    print(f"form model on noisy clips' last frames ({judged.sum()} judged by both): accuracy "
          f"without filter {np.mean(plain[judged] == truth[judged]):.3f}, with filter "
          f"{np.mean(fixed[judged] == truth[judged]):.3f}; verdicts that differ "
          f"{np.mean(plain[judged] != fixed[judged]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

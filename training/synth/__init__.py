"""Synthetic handstand data: a 3D kinematic human, cameras, BlazePose-like noise, a renderer.

Labels (indices into ``engine.form.FORM_LABELS``) come from the clean 3D pose of each frame;
the full definition is in ``training.synth.labels``. In short:

- ``straight``: a hand balance (wrists on the floor and lowest, arms nearly straight, torso
  pointing down, legs up and together, knees straight) whose shoulders, hips and knees lie
  within 4 % of the wrist-ankle distance from the wrist-ankle line.
- ``banana``: the same hand balance with a deviation of 7 % or more that comes from an arched
  back, extended hips or closed shoulders (not from hip flexion).
- ``other_handstand``: any other hand balance: pike, straddle, split, tuck, stag, bent arms,
  kick-up and come-down phases with a leg above the hips.
- ``not_handstand``: everything else: standing (also arms overhead), walking, lunges, forward
  folds, downward dog, plank, wheel, L-sit, crow, headstand, forearm stand.

Frames between thresholds (e.g. a deviation of 4-7 %) are ambiguous; no clip ends on one.
Frames with no person found (BlazePose-like dropouts) are all zeros, confidence 0.

Usage::

    clips = generate_clips(50_000, clip_length=16, rng=np.random.default_rng(0))
    clips.keypoints        # (N, T, 16, 3) float32 pixels, noisy, confidence in [0, 1]
    clips.labels           # (N,) int into FORM_LABELS (label of the last frame)
    frames = render_clip(clips, 0, np.random.default_rng(1))  # (T, H, W, 3) uint8 BGR
``arch_visible`` is False for front/back views (line of sight within 30 degrees of the
sagittal plane), which cannot show an arch.
"""

from training.synth.generate import SynthClips, SynthConfig, generate_clips

__all__ = ["SynthClips", "SynthConfig", "generate_clips", "render_clip", "render_frames"]


def __getattr__(name: str):
    # The renderer (OpenCV drawing) loads on first use; keypoint-only users never pay for it.
    if name in ("render_frames", "render_clip"):
        from training.synth import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Shows the fix: original | ideal overlay | corrected, the corrected live view, the worst moment.

``write_explanation`` writes three panels side by side: the athlete with arrows from each joint
to where the nearest straight pose puts it, the averaged ideal pose drawn over the athlete, and
the athlete's image warped into that nearest straight pose, with short cues underneath.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from coach.errors import InputError
from coach.overlay import draw_ghost, legible_factor
from engine.draw import MIN_DRAW_CONFIDENCE, draw_skeleton, ui_scale
from engine.explain import Explanation, apply_correction, explain
from engine.ideal import IdealError, IdealPose, load_ideal_pose
from engine.repose import repose
from engine.skeleton import NUM_JOINTS
from engine.verdict import FAULT_LABELS, LINE_LABELS, STRAIGHT_LABEL
from engine.warp import warp_to_pose

ARROW_COLOR = (255, 60, 230)  # BGR magenta: stands out on skin, sky and gym floors
# Joints that move less than this (in % of body height) get no arrow.
MIN_ARROW_PERCENT = 2.0
# Live corrected view: gradient steps per search, and how long (frames) and how close (mean joint
# move in % of body height) a held pose may reuse the last search's correction.
_LIVE_STEPS = 25
_LIVE_REUSE_FRAMES = 15
_LIVE_REUSE_PERCENT = 3.0


_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _put_text(image: np.ndarray, text: str, origin, scale: float, color=(255, 255, 255),
              thickness: int = 1) -> None:
    cv2.putText(image, text, (int(origin[0]), int(origin[1])), _FONT, scale, color, thickness,
                cv2.LINE_AA)


def _text_width(text: str, scale: float, thickness: int) -> int:
    return cv2.getTextSize(text, _FONT, scale, thickness)[0][0]


def _darken(image: np.ndarray, rows: slice, alpha: float = 0.7) -> None:
    region = image[rows]
    region[:] = (region.astype(np.float32) * (1.0 - alpha) + 25.0 * alpha).astype(np.uint8)


def draw_deviation_arrows(
    image: np.ndarray, explanation: Explanation, scale: float = 1.0
) -> None:
    """Draws arrows from the athlete's joints to the corrected joints, in place.

    Args:
        image: (H, W, 3) uint8 BGR, modified in place.
        explanation: the nearest good pose.
        scale: line-size factor (``coach.overlay.ui_scale``).
    """
    thickness = max(2, int(round(3 * scale)))
    for joint in range(NUM_JOINTS):
        seen = float(np.nan_to_num(explanation.original[joint, 2])) >= MIN_DRAW_CONFIDENCE
        if not seen or explanation.displacement_percent[joint] < MIN_ARROW_PERCENT:
            continue
        start = explanation.original[joint, :2]
        end = explanation.corrected[joint, :2]
        if not (np.isfinite(start).all() and np.isfinite(end).all()):
            continue
        a = tuple(int(v) for v in np.round(start))
        b = tuple(int(v) for v in np.round(end))
        length = max(1.0, float(np.linalg.norm(end - start)))
        tip = min(0.5, 14.0 * scale / length)
        cv2.arrowedLine(image, a, b, (20, 20, 20), thickness + 2, cv2.LINE_AA, tipLength=tip)
        cv2.arrowedLine(image, a, b, ARROW_COLOR, thickness, cv2.LINE_AA, tipLength=tip)


def _panel_title(image: np.ndarray, title: str, detail: str, scale: float) -> None:
    _darken(image, slice(0, int(round(52 * scale))))
    margin = int(round(12 * scale))
    _put_text(image, title, (margin, int(24 * scale)), 0.75 * scale,
              thickness=max(1, int(round(2 * scale))))
    if detail:
        _put_text(image, detail, (margin, int(45 * scale)), 0.5 * scale, color=(225, 225, 225),
                  thickness=max(1, int(round(scale))))


def _straight_text(probability: float) -> str:
    return f"straight {probability * 100:.0f} %"


def _cue_lines(explanation: Explanation) -> list[str]:
    if explanation.not_searched:
        return [explanation.not_searched]
    before, after = explanation.straight_before, explanation.straight_after
    if explanation.steps == 0 and explanation.reached:
        return [f"already straight ({_straight_text(before)}): hold that line"]
    if not explanation.reached:
        head = (f"no straight pose found near this one ({_straight_text(before)} -> "
                f"{_straight_text(after)}); closest try shown")
    else:
        head = f"the model: {_straight_text(before)} now, {_straight_text(after)} corrected"
    return [head, *explanation.cues]


def _footer(width: int, lines: Sequence[str], scale: float) -> np.ndarray:
    line_height = int(round(30 * scale))
    footer = np.full((line_height * len(lines) + int(20 * scale), width, 3), 28, np.uint8)
    for i, line in enumerate(lines):
        text_scale = 0.62 * scale
        while text_scale > 0.3 and _text_width(line, text_scale, 1) > width - 24 * scale:
            text_scale *= 0.92
        color = (235, 235, 235) if i == 0 else (200, 255, 255)
        _put_text(footer, ("" if i == 0 else "- ") + line,
                  (int(14 * scale), int(10 * scale) + line_height * (i + 1) - int(8 * scale)),
                  text_scale, color=color, thickness=max(1, int(round(scale))))
    return footer


def _ideal(ideal: IdealPose | None | bool) -> IdealPose | None:
    if ideal is False:
        return None
    if isinstance(ideal, IdealPose):
        return ideal
    try:
        return load_ideal_pose()
    except IdealError:
        return None


def _enlarged(bgr: np.ndarray, explanation: Explanation) -> tuple[np.ndarray, Explanation]:
    """Small photos (web thumbnails) are enlarged so that labels and cues stay readable."""
    factor = legible_factor(bgr.shape[0])
    if factor <= 1.0:
        return bgr, explanation

    def scaled(points: np.ndarray) -> np.ndarray:
        points = points.copy()
        points[..., :2] *= factor
        return points

    bgr = cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    return bgr, dataclasses.replace(
        explanation,
        original=scaled(explanation.original),
        corrected=scaled(explanation.corrected),
        corrected_clip=scaled(explanation.corrected_clip),
        body_height=explanation.body_height * factor,
    )


def person_mask(bgr: np.ndarray) -> np.ndarray | None:
    """BlazePose's segmentation of the athlete (upright first, then turned), or None."""
    try:
        from engine.pose.blazepose import segment_person

        for rotation in (0, 180):
            mask = segment_person(bgr, rotation)
            if mask is not None and (mask > 0.5).any():
                return mask
    except Exception:  # noqa: BLE001 - no segmentation only costs accuracy of the cut-out
        return None
    return None


def corrected_photo(bgr: np.ndarray, explanation: Explanation) -> tuple[np.ndarray, str]:
    """The athlete's photo re-posed part by part into the correction (``engine.repose``).

    Returns:
        (image, "") or, when the correction is too large to look like a photo, (the photo
        as it is, a short line saying so).
    """
    if explanation.not_searched:
        return bgr.copy(), ""
    reposed = repose(bgr, explanation.original, explanation.corrected, person_mask(bgr))
    if reposed.too_large:
        return bgr.copy(), "too large to show on the photo: see the skeleton"
    return reposed.image, ""


def compose_explanation(
    bgr: np.ndarray,
    keypoints: np.ndarray,
    classifier,
    *,
    ideal: IdealPose | None | bool = None,
    explanation: Explanation | None = None,
) -> np.ndarray:
    """The three panels side by side with cues underneath, as one BGR image.

    Args:
        bgr: (H, W, 3) uint8 frame the keypoints belong to.
        keypoints: (16, 3) pixel keypoints, or a (T, 16, 3) clip ending at this frame.
        classifier: the loaded ``engine.form.FormClassifier``.
        ideal: the ideal pose; None loads ``weights/ideal_pose.npz``, False draws none.
        explanation: a ready explanation (computed when None).

    Returns:
        (H + footer, 3 W, 3) uint8 BGR image.
    """
    bgr = np.ascontiguousarray(bgr)
    explanation = explanation or explain(keypoints, classifier)
    bgr, explanation = _enlarged(bgr, explanation)
    height, width = bgr.shape[:2]
    scale = ui_scale(width, height)
    original = bgr.copy()
    draw_skeleton(original, explanation.original, scale)
    draw_deviation_arrows(original, explanation, scale)
    _panel_title(original, "1 original", _straight_text(explanation.straight_before) +
                 ("" if explanation.not_searched else ", arrows: where to move"), scale)

    overlay = bgr.copy()
    ideal_pose = None if explanation.not_searched else _ideal(ideal)
    ghost = ideal_pose.align(explanation.original) if ideal_pose is not None else None
    if ghost is not None:
        draw_ghost(overlay, ghost, scale)
    draw_skeleton(overlay, explanation.original, scale)
    if explanation.not_searched:
        overlay_detail = "not a handstand"
    elif ghost is not None:
        overlay_detail = "averaged straight handstand (green)"
    else:
        overlay_detail = "no ideal pose installed"
    _panel_title(overlay, "2 ideal overlay", overlay_detail, scale)

    corrected, too_large = corrected_photo(bgr, explanation)
    draw_skeleton(corrected, explanation.corrected, scale)
    if explanation.not_searched:
        corrected_detail = "nothing to correct"
    elif too_large:
        corrected_detail = too_large
    else:
        corrected_detail = _straight_text(explanation.straight_after) + ", nearest straight pose"
    _panel_title(corrected, "3 corrected", corrected_detail, scale)

    separator = np.full((height, max(2, int(round(4 * scale))), 3), 255, np.uint8)
    row = np.concatenate([original, separator, overlay, separator, corrected], axis=1)
    return np.concatenate([row, _footer(row.shape[1], _cue_lines(explanation), scale)], axis=0)


def write_image_atomic(path: Path | str, bgr: np.ndarray) -> Path:
    """Encodes ``bgr`` by the path's extension and writes it whole or not at all.

    Raises:
        OSError: the extension is not an image format, or the file cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    try:
        ok, encoded = cv2.imencode(suffix, bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise OSError(errno.EINVAL, f"cannot encode an image as {suffix!r}", str(path))
    # A hidden sibling (same folder, so the rename is atomic), created with the usual
    # permissions (a mkstemp file would stay readable by its owner only).
    temporary = path.parent / f".explain-{os.getpid()}-{threading.get_ident()}{suffix}"
    try:
        with open(temporary, "wb") as stream:
            stream.write(encoded.tobytes())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_explanation(
    bgr: np.ndarray,
    keypoints: np.ndarray,
    classifier,
    out_path: Path | str,
    *,
    ideal: IdealPose | None | bool = None,
) -> Path:
    """Writes original | ideal overlay | corrected side by side, with cues, to ``out_path``.

    Args:
        bgr: (H, W, 3) uint8 frame the keypoints belong to.
        keypoints: (16, 3) pixel keypoints, or a (T, 16, 3) clip ending at this frame.
        classifier: the loaded ``engine.form.FormClassifier``.
        out_path: image file to write (format from the extension, e.g. ``.png``, ``.jpg``).
        ideal: the ideal pose; None loads ``weights/ideal_pose.npz``, False draws none.

    Returns:
        ``out_path``.

    Raises:
        OSError: the file cannot be written (nothing partial is left behind).
        coach.errors.InputError: the keypoints hold no usable pose (one-line message).
    """
    try:
        image = compose_explanation(bgr, keypoints, classifier, ideal=ideal)
    except ValueError as error:
        raise InputError(f"cannot explain this pose: {error}") from None
    return write_image_atomic(out_path, image)


class LiveCorrection:
    """The corrected live view of one session: the athlete's frames in the nearest straight pose.

    While the athlete's pose stays close to the one last searched (``_LIVE_REUSE_PERCENT`` of
    body height on average), that correction's bone rotations are applied to the new frame
    without a search, for at most ``_LIVE_REUSE_FRAMES`` frames; a new search warm-starts from
    them and takes at most a few gradient steps, so the view follows a live stream.

    Args:
        classifier: the loaded ``engine.form.FormClassifier`` the session judges with.
    """

    def __init__(self, classifier) -> None:
        self.classifier = classifier
        self.last: Explanation | None = None
        self.reused = 0

    def explain(self, keypoints: np.ndarray) -> Explanation:
        """The correction of one frame's (16, 3) pixel keypoints, reused or searched."""
        keypoints = np.asarray(keypoints, dtype=np.float32)
        last = self.last
        if last is not None and self.reused < _LIVE_REUSE_FRAMES:
            moved = np.nanmean(np.linalg.norm(keypoints[:, :2] - last.original[:, :2], axis=-1))
            if 100.0 * moved / max(last.body_height, 1e-6) < _LIVE_REUSE_PERCENT:
                self.reused += 1
                # Zero rotations give the pose with unseen joints filled in, as searched poses.
                original = apply_correction(keypoints, np.zeros_like(last.angles))
                corrected = apply_correction(keypoints, last.angles)
                return dataclasses.replace(
                    last, original=original, corrected=corrected, corrected_clip=corrected[None],
                    deviations=100.0 * (corrected[:, :2] - original[:, :2]) / last.body_height,
                )
        initial = None if last is None else last.angles
        self.last = explain(keypoints, self.classifier, max_steps=_LIVE_STEPS,
                            initial_angles=initial)
        self.reused = 0
        return self.last

    def view(self, bgr: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """The frame warped into the nearest straight pose, for the window's toggle.

        Args:
            bgr: (H, W, 3) uint8 frame.
            keypoints: (16, 3) pixel keypoints of that frame.

        Returns:
            (H, W, 3) uint8 BGR: the warped frame with the corrected skeleton and the first cue.
        """
        explanation = self.explain(keypoints)
        height, width = bgr.shape[:2]
        scale = ui_scale(width, height)
        view = warp_to_pose(np.ascontiguousarray(bgr), explanation.original, explanation.corrected)
        draw_skeleton(view, explanation.corrected, scale)
        lines = _cue_lines(explanation)
        if len(lines) > 1:
            _darken(view, slice(height - int(40 * scale), height))
            _put_text(view, lines[1], (int(14 * scale), height - int(14 * scale)), 0.55 * scale,
                      color=(200, 255, 255), thickness=max(1, int(round(scale))))
        return view


def worst_moment(
    probabilities: Sequence[Mapping[str, float] | None],
    labels: Sequence[str | None] | None = None,
    *,
    trusted: Sequence[bool] | None = None,
    times: Sequence[float] | None = None,
    min_hold_frames: int = 3,
    min_fault_probability: float = 0.6,
    edge_seconds: float = 0.3,
) -> int | None:
    """The frame of a hold where the form model most confidently sees a fault.

    A hold is a run of consecutive frames labeled ``straight`` or ``banana`` (the smoothed
    labels when given, else each frame's most probable class) at least ``min_hold_frames``
    long. A frame may be explained only when its pose is trustworthy (no pose glitch was
    found) and the model's most probable class for it is a fault (banana or other handstand)
    at ``min_fault_probability`` or more: a glitch or a borderline frame would make a cue
    name a fault the athlete's body does not show. Frames within ``edge_seconds`` of a hold's
    first or last frame are the way in and out (the kick-up, the come-down: the smoothed label
    trails the body there), not the hold. Among the rest, the least straight is returned.

    Args:
        probabilities: per frame, class -> probability (a ``FormVerdict.probabilities``), or
            None / empty for frames without a verdict.
        labels: per frame label (e.g. the timeline's smoothed label); None derives them.
        trusted: per frame, whether the pose passed the glitch filter; None trusts all.
        times: per frame time in seconds; None assumes 30 fps.
        min_hold_frames: shorter runs are flickers, not holds.
        min_fault_probability: how sure the model must be of the fault.
        edge_seconds: how much of each end of a hold is left out.

    Returns:
        The frame index, or None when no hold holds a confident fault on a trusted pose.
    """
    count = len(probabilities)
    if labels is None:
        labels = [max(p, key=p.get) if p else None for p in probabilities]
    trusted = [True] * count if trusted is None else list(trusted)
    times = [index / 30.0 for index in range(count)] if times is None else list(times)
    if not len(labels) == len(trusted) == len(times) == count:
        raise ValueError(f"{len(labels)} labels, {len(trusted)} trust flags and {len(times)} "
                         f"times for {count} frames")
    best: tuple[float, int] | None = None
    start = 0
    for index in range(count + 1):
        in_hold = index < count and labels[index] in LINE_LABELS and bool(probabilities[index])
        if in_hold:
            continue
        if index - start >= min_hold_frames:
            for frame in range(start, index):
                if min(times[frame] - times[start], times[index - 1] - times[frame]) < (
                    edge_seconds - 1e-9
                ):
                    continue
                frame_probabilities = probabilities[frame]
                likeliest = max(frame_probabilities, key=frame_probabilities.get)
                confident = (likeliest in FAULT_LABELS
                             and frame_probabilities[likeliest] >= min_fault_probability)
                if not (trusted[frame] and confident):
                    continue
                straight = float(frame_probabilities.get(STRAIGHT_LABEL, 0.0))
                if best is None or straight < best[0]:
                    best = (straight, frame)
        start = index + 1
    return None if best is None else best[1]

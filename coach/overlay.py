"""Draws what the athlete sees onto a frame: skeleton, ideal-pose ghost, verdict, hold timer.

Drawing happens on the BGR frame with OpenCV so that the window, saved clips and saved photos
show exactly the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from coach.analysis import FrameAnalysis
from engine.draw import draw_skeleton, ui_scale, visible_joints
from engine.skeleton import BONES
from engine.verdict import (
    BANANA_LABEL,
    NOT_HANDSTAND_LABEL,
    OTHER_HANDSTAND_LABEL,
    STRAIGHT_LABEL,
    UNKNOWN_LABEL,
    label_color_bgr,
)

GHOST_COLOR = (120, 255, 120)

BANNER_TEXT: dict[str, tuple[str, str]] = {
    # label: (headline, coaching line); the colour is the label's (engine.verdict.LABEL_COLORS)
    STRAIGHT_LABEL: ("STRAIGHT LINE", "wrists, shoulders, hips and ankles stacked"),
    BANANA_LABEL: ("BANANA - BACK ARCHED", "ribs in, squeeze glutes, push tall"),
    OTHER_HANDSTAND_LABEL: ("HANDSTAND VARIATION", "not a straight-line handstand"),
    NOT_HANDSTAND_LABEL: ("NOT A HANDSTAND", "kick up when ready"),
    UNKNOWN_LABEL: ("CAN'T JUDGE", ""),
}
NO_MODEL_COLOR = (60, 60, 60)
HELP_LINES: tuple[tuple[str, str], ...] = (
    ("q / Esc", "quit"),
    ("space", "pause / resume"),
    ("r", "start / stop recording"),
    ("g", "ideal-pose ghost on / off"),
    ("c", "corrected view on / off"),
    ("v", "spoken cues on / off"),
    ("h", "this help"),
)


@dataclass
class OverlayState:
    """Window-side state drawn next to the analysis.

    Attributes:
        fps: presentation frames per second.
        latencies: stage -> milliseconds (capture, pose, form, draw, encode).
        recording_seconds: length of the running recording, None when not recording.
        paused: whether the view is paused.
        show_help: whether the key help is shown.
        show_ghost: whether the ideal-pose ghost is drawn.
        show_hold: whether the hold timer is drawn (not for photos).
        progress: fraction of a video file analyzed, None for live sources.
        note: an extra line (for example "corrected view").
    """

    fps: float | None = None
    latencies: dict[str, float] = field(default_factory=dict)
    recording_seconds: float | None = None
    paused: bool = False
    show_help: bool = False
    show_ghost: bool = True
    show_hold: bool = True
    progress: float | None = None
    note: str = ""


# Images smaller than this (pixels high) are enlarged, at most by MAX_ENLARGE, so that the
# banner, cues and labels stay legible on web thumbnails.
MIN_LEGIBLE_HEIGHT = 480
MAX_ENLARGE = 4.0


def legible_factor(height: int) -> float:
    """How much to enlarge an image ``height`` pixels high before drawing text on it (>= 1)."""
    return max(1.0, min(MAX_ENLARGE, MIN_LEGIBLE_HEIGHT / max(1, int(height))))


def enlarged_for_text(bgr: np.ndarray, analysis: FrameAnalysis) -> tuple[np.ndarray, FrameAnalysis]:
    """A small photo and its analysis scaled up by :func:`legible_factor` (else unchanged)."""
    factor = legible_factor(bgr.shape[0])
    if factor <= 1.0:
        return bgr, analysis

    def scaled(points: np.ndarray | None) -> np.ndarray | None:
        if points is None:
            return None
        points = np.array(points, dtype=np.float32, copy=True)
        points[..., :2] *= factor
        return points

    bgr = cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    return bgr, replace(analysis, keypoints=scaled(analysis.keypoints),
                        ghost=scaled(analysis.ghost))


def _blend_rect(image: np.ndarray, top_left, bottom_right, color, alpha: float) -> None:
    x0, y0 = max(0, int(top_left[0])), max(0, int(top_left[1]))
    x1, y1 = min(image.shape[1], int(bottom_right[0])), min(image.shape[0], int(bottom_right[1]))
    if x1 <= x0 or y1 <= y0:
        return
    roi = image[y0:y1, x0:x1]
    fill = np.empty_like(roi)
    fill[:] = color
    cv2.addWeighted(fill, alpha, roi, 1.0 - alpha, 0.0, dst=roi)


def _text(image, text, origin, scale, color=(255, 255, 255), thickness=1, bold=False,
          shadow=True) -> None:
    font = cv2.FONT_HERSHEY_DUPLEX if bold else cv2.FONT_HERSHEY_SIMPLEX
    x, y = int(origin[0]), int(origin[1])
    if shadow:  # keeps text readable over busy video; not needed on solid panels
        offset = max(1, int(round(thickness)))
        cv2.putText(image, text, (x + offset, y + offset), font, scale, (0, 0, 0),
                    thickness + 1, cv2.LINE_AA)
    cv2.putText(image, text, (x, y), font, scale, color, thickness, cv2.LINE_AA)


def _text_width(text: str, scale: float, thickness: int, bold: bool = False) -> int:
    font = cv2.FONT_HERSHEY_DUPLEX if bold else cv2.FONT_HERSHEY_SIMPLEX
    return cv2.getTextSize(text, font, scale, thickness)[0][0]


def draw_ghost(image: np.ndarray, ghost: np.ndarray, scale: float = 1.0) -> None:
    """Draws the ideal pose as a translucent green skeleton under the athlete's, in place."""
    visible = visible_joints(ghost)
    points = np.nan_to_num(ghost[:, :2]).round().astype(np.int32)
    if not visible.any():
        return
    layer = image.copy()
    thickness = max(4, int(round(9 * scale)))
    for parent, child in BONES:
        if visible[parent] and visible[child]:
            cv2.line(layer, tuple(points[parent]), tuple(points[child]), GHOST_COLOR, thickness,
                     cv2.LINE_AA)
    for joint in np.flatnonzero(visible):
        cv2.circle(layer, tuple(points[joint]), thickness // 2 + 2, GHOST_COLOR, -1, cv2.LINE_AA)
    x0, y0 = np.clip(points[visible].min(0) - thickness * 2, 0, None)
    x1, y1 = points[visible].max(0) + thickness * 2
    region = (slice(y0, max(y0, y1)), slice(x0, max(x0, x1)))
    cv2.addWeighted(layer[region], 0.45, image[region], 0.55, 0.0, dst=image[region])


def banner_content(analysis: FrameAnalysis) -> tuple[tuple[int, int, int], str, str, float | None]:
    """What the verdict banner says: colour, headline, detail line and confidence (or None)."""
    verdict = analysis.verdict
    if verdict is None:
        return (NO_MODEL_COLOR, (analysis.status or "NO VERDICT").upper(),
                "poses only - see README to install the form model", None)
    if analysis.keypoints is None:
        return (label_color_bgr(UNKNOWN_LABEL), "NO PERSON IN VIEW", "step into the frame",
                None)
    if not verdict.can_judge or verdict.label not in BANNER_TEXT:
        return (label_color_bgr(UNKNOWN_LABEL), BANNER_TEXT[UNKNOWN_LABEL][0],
                verdict.reason or "", None)
    headline, detail = BANNER_TEXT[verdict.label]
    color = label_color_bgr(verdict.label)
    confidence = float(verdict.probabilities.get(verdict.label, 0.0))
    return color, headline, detail, confidence


def _draw_banner(image: np.ndarray, analysis: FrameAnalysis, scale: float) -> int:
    width = image.shape[1]
    color, headline, detail, confidence = banner_content(analysis)
    height = int(round((68 if detail else 50) * scale))
    _blend_rect(image, (0, 0), (width, height), color, 0.88)
    margin = int(round(14 * scale))
    head_scale = 0.95 * scale
    head_thickness = max(1, int(round(2 * scale)))
    available = width - 2 * margin - (int(150 * scale) if confidence is not None else 0)
    while head_scale > 0.35 and _text_width(headline, head_scale, head_thickness, True) > available:
        head_scale *= 0.9
    _text(image, headline, (margin, int(36 * scale)), head_scale, thickness=head_thickness,
          bold=True, shadow=False)
    if detail:
        detail_scale = 0.55 * scale
        detail_thickness = max(1, int(round(scale)))
        while detail_scale > 0.3 and _text_width(detail, detail_scale, detail_thickness) > \
                width - 2 * margin:
            detail_scale *= 0.9
        _text(image, detail, (margin, int(60 * scale)), detail_scale, color=(235, 235, 235),
              thickness=detail_thickness, shadow=False)
    if confidence is not None:
        label = f"{confidence * 100:.0f}%"
        text_scale = 0.9 * scale
        text_width = _text_width(label, text_scale, head_thickness, True)
        _text(image, label, (width - margin - text_width, int(34 * scale)), text_scale,
              thickness=head_thickness, bold=True, shadow=False)
        bar_w, bar_h = int(110 * scale), max(3, int(6 * scale))
        x0, y0 = width - margin - bar_w, int(44 * scale)
        cv2.rectangle(image, (x0, y0), (x0 + bar_w, y0 + bar_h), (40, 40, 40), -1)
        cv2.rectangle(image, (x0, y0), (x0 + int(bar_w * confidence), y0 + bar_h),
                      (255, 255, 255), -1)
    return height


def _draw_hold(image: np.ndarray, analysis: FrameAnalysis, scale: float) -> None:
    height = image.shape[0]
    holding = analysis.hold_seconds > 0
    box_w, box_h = int(150 * scale), int(76 * scale)
    margin = int(12 * scale)
    x0, y0 = margin, height - margin - box_h
    color = label_color_bgr(STRAIGHT_LABEL) if holding else (35, 35, 35)
    _blend_rect(image, (x0, y0), (x0 + box_w, y0 + box_h), color, 0.8)
    pad = int(10 * scale)
    _text(image, "HOLD", (x0 + pad, y0 + int(20 * scale)), 0.5 * scale,
          color=(225, 225, 225), thickness=max(1, int(round(scale))))
    _text(image, f"{analysis.hold_seconds:4.1f} s", (x0 + pad, y0 + int(52 * scale)),
          1.0 * scale, thickness=max(1, int(round(2 * scale))), bold=True)
    _text(image, f"best {analysis.best_hold_seconds:.1f} s", (x0 + pad, y0 + int(70 * scale)),
          0.45 * scale, color=(225, 225, 225), thickness=max(1, int(round(scale))))


def _draw_stats(image: np.ndarray, state: OverlayState, scale: float) -> None:
    lines = []
    if state.fps is not None:
        lines.append(f"{state.fps:5.1f} fps")
    for stage in ("capture", "pose", "form", "draw", "encode"):
        if stage in state.latencies:
            lines.append(f"{stage:<8}{state.latencies[stage]:6.1f} ms")
    if not lines:
        return
    text_scale = 0.42 * scale
    line_h = int(17 * scale)
    box_w = int(150 * scale)
    height, width = image.shape[:2]
    margin = int(12 * scale)
    x0 = width - margin - box_w
    y0 = height - margin - line_h * len(lines) - int(8 * scale)
    _blend_rect(image, (x0, y0), (width - margin, height - margin), (25, 25, 25), 0.65)
    for i, line in enumerate(lines):
        _text(image, line, (x0 + int(8 * scale), y0 + line_h * (i + 1)), text_scale,
              color=(230, 230, 230), thickness=1)


def _draw_recording(image: np.ndarray, seconds: float, top: int, scale: float) -> None:
    width = image.shape[1]
    margin = int(14 * scale)
    minutes, rest = divmod(int(seconds), 60)
    label = f"REC {minutes:02d}:{rest:02d}"
    text_scale = 0.55 * scale
    text_w = _text_width(label, text_scale, max(1, int(round(scale))), True)
    y = top + int(28 * scale)
    cv2.circle(image, (width - margin - text_w - int(14 * scale), y - int(6 * scale)),
               max(4, int(7 * scale)), (30, 30, 235), -1, cv2.LINE_AA)
    _text(image, label, (width - margin - text_w, y), text_scale,
          thickness=max(1, int(round(scale))), bold=True)


def _draw_center_panel(image: np.ndarray, rows: tuple[tuple[str, ...], ...],
                       scale: float) -> None:
    """A dark panel in the middle of the frame with one or two text columns per row."""
    height, width = image.shape[:2]
    text_scale = 0.55 * scale
    line_h = int(26 * scale)
    gap = int(18 * scale)
    columns = max(len(row) for row in rows)
    widths = [max((_text_width(row[c], text_scale, 1, c == 0) for row in rows if len(row) > c),
                  default=0) for c in range(columns)]
    pad = int(20 * scale)
    box_w = sum(widths) + gap * (columns - 1) + 2 * pad
    box_h = line_h * len(rows) + int(20 * scale)
    x0, y0 = (width - box_w) // 2, (height - box_h) // 2
    _blend_rect(image, (x0, y0), (x0 + box_w, y0 + box_h), (20, 20, 20), 0.82)
    for i, row in enumerate(rows):
        y = y0 + int(4 * scale) + line_h * (i + 1)
        x = x0 + pad
        for c, cell in enumerate(row):
            _text(image, cell, (x, y), text_scale, color=(120, 255, 120) if c == 0 and
                  columns > 1 else (255, 255, 255), thickness=1, bold=c == 0 and columns > 1)
            x += widths[c] + gap


def draw_annotation(
    bgr: np.ndarray, analysis: FrameAnalysis, state: OverlayState | None = None
) -> tuple[np.ndarray, int]:
    """What an athlete needs on a frame: ghost, skeleton, verdict banner and hold timer.

    Saved clips and photos carry exactly this; the window adds :func:`draw_window_extras`.

    Args:
        bgr: (H, W, 3) uint8 frame the analysis was made on.
        analysis: the frame's analysis.
        state: which parts to show (``show_ghost``, ``show_hold``); None shows both.

    Returns:
        (annotated copy (H, W, 3) uint8 BGR, height of the banner in pixels).
    """
    state = state or OverlayState()
    image = np.ascontiguousarray(bgr).copy()
    height, width = image.shape[:2]
    scale = ui_scale(width, height)
    if state.show_ghost and analysis.ghost is not None:
        draw_ghost(image, analysis.ghost, scale)
    if analysis.keypoints is not None:
        draw_skeleton(image, analysis.keypoints, scale)
    banner_height = _draw_banner(image, analysis, scale)
    if state.show_hold:
        _draw_hold(image, analysis, scale)
    return image, banner_height


def draw_window_extras(image: np.ndarray, state: OverlayState, banner_height: int) -> None:
    """Draws the window-only parts in place: fps and latencies, REC, note, progress, panels.

    Args:
        image: (H, W, 3) uint8 BGR from :func:`draw_annotation`, modified in place.
        state: the window-side state.
        banner_height: the banner's height (the REC marker and note go below it).
    """
    height, width = image.shape[:2]
    scale = ui_scale(width, height)
    _draw_stats(image, state, scale)
    if state.recording_seconds is not None:
        _draw_recording(image, state.recording_seconds, banner_height, scale)
    if state.note:
        _text(image, state.note, (int(14 * scale), banner_height + int(26 * scale)),
              0.55 * scale, color=(200, 255, 200), thickness=max(1, int(round(scale))))
    if state.progress is not None:
        bar_h = max(3, int(5 * scale))
        cv2.rectangle(image, (0, height - bar_h), (width, height), (40, 40, 40), -1)
        cv2.rectangle(image, (0, height - bar_h), (int(width * state.progress), height),
                      (230, 230, 230), -1)
    if state.paused:
        _draw_center_panel(image, (("PAUSED - space to resume",),), scale)
    elif state.show_help:
        _draw_center_panel(image, HELP_LINES, scale)


def draw_overlay(
    bgr: np.ndarray, analysis: FrameAnalysis, state: OverlayState | None = None
) -> np.ndarray:
    """Returns an annotated copy of ``bgr`` as the window shows it (annotation + extras).

    Args:
        bgr: (H, W, 3) uint8 frame the analysis was made on.
        analysis: the frame's analysis.
        state: window-side state (fps, latencies, recording, help); None for plain annotation.

    Returns:
        (H, W, 3) uint8 BGR annotated frame.
    """
    state = state or OverlayState()
    image, banner_height = draw_annotation(bgr, analysis, state)
    draw_window_extras(image, state, banner_height)
    return image

"""The session report: one self-contained HTML page a coach can open and send.

Everything is inline (PNG images as data URIs, no scripts, no network): a per-attempt table
(``coach.attempts``), trends across attempts, the probability / label plot, and for every
attempt a thumbnail strip of its best moment (the most straight frame of its longest hold) and
its worst moment (``coach.explain.worst_moment``) with the explanation panel. Latency figures
sit in a collapsed "diagnostics" section.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from coach.errors import OutputError
from coach.reports import clip_ending_at
from engine.draw import draw_skeleton, ui_scale
from engine.media import read_video_frames
from engine.verdict import STRAIGHT_LABEL

THUMB_HEIGHT = 240


def _png_data_uri(bgr: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", bgr)
    if not ok:
        raise OutputError("cannot encode a report image")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _thumbnail(bgr: np.ndarray, height: int = THUMB_HEIGHT) -> np.ndarray:
    scale = height / bgr.shape[0]
    return cv2.resize(bgr, (max(1, int(round(bgr.shape[1] * scale))), height),
                      interpolation=cv2.INTER_AREA)


def _moments(records: list[dict], attempt: dict) -> tuple[int | None, int | None]:
    """(best, worst) frame index of an attempt: most straight frame of its hold, worst moment."""
    from coach.explain import worst_moment

    inside = [i for i, r in enumerate(records) if attempt["start"] <= r["time"] < attempt["end"]]
    if not inside:
        return None, None
    best = None
    if attempt["hold_start"] is not None:
        held = [i for i in inside if attempt["hold_start"] <= records[i]["time"]
                < attempt["hold_end"] and records[i]["probabilities"]]
        if held:
            best = max(held, key=lambda i: records[i]["probabilities"].get(STRAIGHT_LABEL, 0.0))
    chosen = [records[i] for i in inside]
    worst = worst_moment([r["probabilities"] for r in chosen],
                         [r["smoothed_label"] for r in chosen],
                         trusted=[not r.get("pose_issue") for r in chosen],
                         times=[r["time"] for r in chosen])
    return best, None if worst is None else inside[worst]


def _cell(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return html.escape(str(value)) + unit


def _attempt_rows(attempts: list[dict]) -> str:
    rows = []
    for number, attempt in enumerate(attempts, 1):
        quality = attempt.get("quality") or {}
        rows.append(
            "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                number,
                f"{attempt['start']:.1f}&ndash;{attempt['end']:.1f} s",
                _cell(attempt["kick_up_seconds"], " s"),
                _cell(attempt["inverted_seconds"], " s"),
                _cell(attempt["straight_seconds"], " s"),
                _cell(attempt["longest_hold_seconds"], " s"),
                _cell(100 * attempt["banana_share"], " %", 0),
                _cell(100 * attempt["other_share"], " %", 0),
                _cell(quality.get("line_deviation_median_percent"), " %", 1),
                _cell(quality.get("line_deviation_worst_percent"), " %", 1),
                _cell(quality.get("sway_percent_per_second"), " %/s", 1),
                _cell(quality.get("broke_first")),
                _cell(attempt["main_fault"]),
            )) + "</tr>")
    return "\n".join(rows)


def _trend(attempts: list[dict]) -> str:
    """One sentence per measure: first attempt against the last."""
    if len(attempts) < 2:
        return "<p>One attempt: no trend yet.</p>"
    first, last = attempts[0], attempts[-1]
    lines = [f"Longest hold {first['longest_hold_seconds']:.1f} s &rarr; "
             f"{last['longest_hold_seconds']:.1f} s"]
    deviations = [(a.get("quality") or {}).get("line_deviation_median_percent")
                  for a in (first, last)]
    if None not in deviations:
        lines.append(f"line deviation {deviations[0]:.1f} % &rarr; {deviations[1]:.1f} %")
    lines.append(f"banana share {100 * first['banana_share']:.0f} % &rarr; "
                 f"{100 * last['banana_share']:.0f} %")
    return "<p>First &rarr; last attempt: " + "; ".join(lines) + ".</p>"


def build_report(
    timeline: dict, *, video: Path | None = None, classifier=None, ideal=None
) -> str:
    """The report's HTML text.

    Args:
        timeline: ``{"meta", "summary", "frames"}`` as in the timeline JSON.
        video: the analyzed video, for thumbnails (None: no thumbnails, e.g. a live camera).
        classifier: the form model, for the worst moments' explanation panels (None: plain
            annotated frames).
        ideal: the ideal pose for the explanation panels.
    """
    from coach.timeline import plot_timeline

    meta, summary, records = timeline["meta"], timeline["summary"], timeline["frames"]
    attempts = summary.get("attempts", [])
    with tempfile.TemporaryDirectory() as scratch:
        plot_path = plot_timeline(records, Path(scratch) / "plot.png", str(meta.get("source")))
        plot_uri = "data:image/png;base64," + base64.b64encode(plot_path.read_bytes()).decode()
    strips = _strips(records, attempts, video, classifier, ideal)
    latency = summary.get("latency_ms", {})
    diagnostics = "".join(
        f"<tr><td>{html.escape(stage)}</td><td>{_cell(v.get('p50'), ' ms', 1)}</td>"
        f"<td>{_cell(v.get('p95'), ' ms', 1)}</td></tr>"
        for stage, v in latency.items() if isinstance(v, dict))
    title = f"formcoach report: {html.escape(str(meta.get('source', 'session')))}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; font-size: 14px; text-align: left; }}
th {{ background: #f0f0f0; }}
.strip img {{ height: {THUMB_HEIGHT}px; margin: 4px; border: 1px solid #ddd; }}
.strip figure {{ display: inline-block; margin: 0 8px 8px 0; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary.get('frames', 0)} frames, {summary.get('duration_seconds', 0):.1f} s;
longest straight hold <b>{summary.get('longest_straight_hold_seconds', 0):.2f} s</b>;
{len(attempts)} attempt(s).</p>
<h2>Attempts</h2>
<table id="attempts"><tr><th>#</th><th>time</th><th>kick-up</th><th>inverted</th>
<th>straight</th><th>longest hold</th><th>banana</th><th>other</th><th>line dev. median</th>
<th>line dev. worst</th><th>sway</th><th>broke first</th><th>main fault</th></tr>
{_attempt_rows(attempts)}
</table>
<h2>Trends</h2>
{_trend(attempts)}
<h2>Form over time</h2>
<img id="plot" alt="class probabilities and label over time" src="{plot_uri}">
<h2>Best and worst moments</h2>
{strips}
<details id="diagnostics"><summary>Diagnostics</summary>
<p>Pose back-end {html.escape(str(meta.get('pose_backend')))}, form weights
{html.escape(str(meta.get('form_weights')))}, stop reason
{html.escape(str(summary.get('stop_reason')))}.</p>
<table><tr><th>stage</th><th>p50</th><th>p95</th></tr>{diagnostics}</table>
</details>
</body></html>
"""


def _strips(records, attempts, video, classifier, ideal) -> str:
    moments = [_moments(records, attempt) for attempt in attempts]
    wanted = {i for pair in moments for i in pair if i is not None}
    frames = read_video_frames(video, wanted) if video is not None else {}
    blocks = []
    for number, (best, worst) in enumerate(moments, 1):
        figures = []
        for kind, index in (("best", best), ("worst", worst)):
            if index is None or index not in frames:
                continue
            image = _moment_image(frames[index], records, index, kind, classifier, ideal)
            caption = f"attempt {number}: {kind} moment, {records[index]['time']:.2f} s"
            figures.append(f'<figure class="{kind}"><img alt="{caption}" '
                           f'src="{_png_data_uri(_thumbnail(image))}">'
                           f"<figcaption>{caption}</figcaption></figure>")
        if not figures:
            figures.append(f"<p>attempt {number}: no frames to show</p>")
        blocks.append(f'<div class="strip">{"".join(figures)}</div>')
    return "\n".join(blocks) or "<p>No attempts.</p>"


def _moment_image(bgr, records, index, kind, classifier, ideal) -> np.ndarray:
    keypoints = records[index]["keypoints"]
    if kind == "worst" and classifier is not None and keypoints is not None:
        from coach.explain import compose_explanation

        clip = clip_ending_at(records, index, int(getattr(classifier, "clip_length", 1) or 1))
        try:
            return compose_explanation(bgr, clip, classifier, ideal=ideal)
        except ValueError:
            pass  # an unusable pose: show the frame itself
    image = bgr.copy()
    if keypoints is not None:
        draw_skeleton(image, np.asarray(keypoints, np.float32), ui_scale(*image.shape[1::-1]))
    return image


def write_report(path: Path, timeline: dict, **options) -> Path:
    """Writes :func:`build_report` to ``path`` atomically (a temporary file renamed).

    Raises:
        OutputError: the file cannot be written (one line).
    """
    text = build_report(timeline, **options)
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    return path

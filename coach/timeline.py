"""The timeline (one record per analyzed frame), the session summary and the timeline plot.

While a session runs, each record is appended to ``<timeline>.partial.jsonl`` and flushed, so a
hard crash still leaves every analyzed frame on disk; on a normal stop the complete timeline is
written to a temporary file and renamed over the target (a reader never sees half a file) and
the partial file is removed.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from coach.analysis import FrameAnalysis, verdict_probabilities
from coach.errors import OutputError
from coach.recorder import check_writable
from engine.form import FORM_LABELS, UNKNOWN_LABEL

TIMELINE_VERSION = 1
SUMMARY_LABELS = (*FORM_LABELS, UNKNOWN_LABEL)


def _round_list(array: np.ndarray, digits: int = 2) -> list:
    return np.round(np.nan_to_num(array.astype(np.float64)), digits).tolist()


def frame_record(analysis: FrameAnalysis) -> dict:
    """One timeline entry: time, keypoints, class probabilities, raw and smoothed label."""
    keypoints = analysis.keypoints
    raw = analysis.raw
    return {
        "frame": analysis.index,
        "time": round(analysis.timestamp, 4),
        "keypoints": None if keypoints is None else _round_list(keypoints),
        "rotation": analysis.rotation,
        "probabilities": verdict_probabilities(raw),
        "label": raw.label if raw is not None else UNKNOWN_LABEL,
        "smoothed_label": analysis.label,
        "smoothed_probabilities": verdict_probabilities(analysis.verdict),
        "can_judge": bool(analysis.verdict.can_judge) if analysis.verdict else False,
        "reason": (analysis.verdict.reason if analysis.verdict else analysis.status) or "",
        "hold_seconds": round(analysis.hold_seconds, 3),
    }


def write_json_atomic(path: Path | str, payload) -> Path:
    """Writes JSON to a temporary file next to ``path`` and renames it into place.

    Raises:
        OutputError: the file cannot be written.
    """
    path = check_writable(path)
    if path.exists() and not path.is_file():
        # A device or pipe (/dev/stdout, /dev/full): write into it; renaming would replace it.
        try:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, separators=(",", ":"))
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        return path
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def summarize(records: list[dict], fps: float) -> dict:
    """Session summary from timeline records.

    Args:
        records: :func:`frame_record` dicts in frame order.
        fps: frame rate; one frame stands for ``1 / fps`` seconds.

    Returns:
        frames, duration, longest straight hold (seconds, start and end time), the share of
        frames per smoothed label and the share of frames with a person.
    """
    frame_time = 1.0 / max(fps, 1e-6)
    counts = Counter(record["smoothed_label"] for record in records)
    total = len(records)
    best = (0, None, None)
    run_start, run_length = None, 0
    for record in records:
        if record["smoothed_label"] == "straight":
            run_start = record["time"] if run_length == 0 else run_start
            run_length += 1
            if run_length > best[0]:
                best = (run_length, run_start, record["time"] + frame_time)
        else:
            run_length = 0
    return {
        "frames": total,
        "fps": round(fps, 3),
        "duration_seconds": round(total * frame_time, 3),
        "longest_straight_hold_seconds": round(best[0] * frame_time, 3),
        "longest_straight_hold_start": None if best[1] is None else round(best[1], 3),
        "longest_straight_hold_end": None if best[2] is None else round(best[2], 3),
        "label_share": {label: round(counts.get(label, 0) / total, 4) if total else 0.0
                        for label in SUMMARY_LABELS},
        "person_share": round(sum(r["keypoints"] is not None for r in records) / total, 4)
        if total else 0.0,
    }


def plot_timeline(records: list[dict], path: Path | str, title: str = "") -> Path:
    """Plots class probabilities over time with the smoothed label as a coloured band (PNG).

    Raises:
        OutputError: the PNG cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"straight": "#3ca046", "banana": "#d73c28", "other_handstand": "#e19600",
              "not_handstand": "#465f78", UNKNOWN_LABEL: "#9a9a9a"}
    path = check_writable(path)
    times = np.array([r["time"] for r in records], dtype=np.float64)
    figure, (probs_axis, band_axis) = plt.subplots(
        2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    have_probabilities = any(r["probabilities"] for r in records)
    for label in FORM_LABELS:
        values = np.array([(r["smoothed_probabilities"] or {}).get(label, np.nan)
                           for r in records], dtype=np.float64)
        if have_probabilities:
            probs_axis.plot(times, values, color=colors[label], label=label, linewidth=1.6)
    if not have_probabilities:
        probs_axis.text(0.5, 0.5, "no form model installed: no probabilities",
                        ha="center", va="center", transform=probs_axis.transAxes)
    probs_axis.set_ylim(-0.02, 1.02)
    probs_axis.set_ylabel("probability")
    if have_probabilities:
        probs_axis.legend(loc="upper left", ncol=4, fontsize=8, frameon=False)
    probs_axis.set_title(title or "form over time")
    frame_time = float(np.median(np.diff(times))) if len(times) > 1 else 1 / 30
    for time, record in zip(times, records, strict=True):
        band_axis.axvspan(time, time + frame_time, color=colors[record["smoothed_label"]],
                          linewidth=0)
    band_axis.set_yticks([])
    band_axis.set_xlabel("time (s)")
    band_axis.set_ylabel("label", rotation=0, ha="right", va="center")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        plt.close(figure)
    return path


class TimelineWriter:
    """Collects frame records, appending each to a partial JSONL file as it arrives.

    Args:
        path: the final timeline ``.json``.
        meta: source description stored at the top of the file.

    Raises:
        OutputError: the file cannot be created.
    """

    def __init__(self, path: Path | str, meta: dict) -> None:
        self.path = check_writable(path)
        self.meta = dict(meta)
        self.records: list[dict] = []
        self.partial_path: Path | None = None
        self._partial = None
        if self.path.exists() and not self.path.is_file():
            return  # a device or pipe gets the final JSON only
        self.partial_path = self.path.with_name(self.path.name + ".partial.jsonl")
        try:
            self._partial = open(self.partial_path, "w", encoding="utf-8")  # noqa: SIM115
            self._partial.write(json.dumps({"meta": self.meta}) + "\n")
            self._partial.flush()
        except OSError as error:
            raise OutputError(f"cannot write {self.partial_path}: {error.strerror}") from None

    def append(self, record: dict) -> None:
        """Adds one frame record (and flushes it to the partial file)."""
        self.records.append(record)
        if self._partial is None:
            return
        try:
            self._partial.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._partial.flush()
        except OSError as error:
            raise OutputError(f"cannot write {self.partial_path}: {error.strerror}") from None

    def close(self, summary: dict | None = None) -> Path:
        """Writes the complete timeline atomically and removes the partial file."""
        if self._partial is not None:
            self._partial.close()
        payload = {"version": TIMELINE_VERSION, "meta": self.meta, "summary": summary,
                   "frames": self.records}
        write_json_atomic(self.path, payload)
        if self.partial_path is not None:
            self.partial_path.unlink(missing_ok=True)
        return self.path

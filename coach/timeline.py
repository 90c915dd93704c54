"""The timeline (one record per analyzed frame), the session summary and the timeline plot.

While a session runs, each record is appended to ``<timeline>.partial.jsonl`` and flushed, so a
hard crash still leaves every analyzed frame on disk; on a normal stop the complete timeline is
written to a temporary file and renamed over the target (a reader never sees half a file) and
the partial file is removed. ``load_timeline`` reads either file back, and
``python -m coach.timeline recover TIMELINE.partial.jsonl`` turns the journal a hard-killed
session left behind into the complete timeline, summary and plot.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from coach.analysis import FrameAnalysis, HoldTimer, verdict_probabilities
from coach.errors import CoachError, InputError, printable
from coach.recorder import check_writable, output_error
from engine.verdict import FORM_LABELS, LABEL_COLORS, UNKNOWN_LABEL

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
        "pose_issue": analysis.pose_issue,
        "pose_held": analysis.pose_held,
        "estimated_keypoints": None if analysis.estimated_keypoints is None
        else _round_list(analysis.estimated_keypoints),
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
            raise output_error(path, error) from None
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
        raise output_error(path, error) from None
    return path


def summarize(records: list[dict], fps: float) -> dict:
    """Session summary from timeline records.

    Args:
        records: :func:`frame_record` dicts in frame order.
        fps: frame rate; one frame stands for ``1 / fps`` seconds.

    Returns:
        frames, duration, longest straight hold (seconds, start and end time; timed by
        ``coach.analysis.HoldTimer``, as in the live window), the share of
        frames per smoothed label, the share of frames with a person, and the attempts
        (``coach.attempts.find_attempts``: kick-up, hold, hold quality, main fault).
    """
    # Imported here: the attempts' cue wording pulls in the model code, which the timeline's
    # own tools (recovery) do not otherwise need.
    from coach.attempts import find_attempts

    frame_time = 1.0 / max(fps, 1e-6)
    counts = Counter(record["smoothed_label"] for record in records)
    total = len(records)
    hold = HoldTimer(frame_time)
    for record in records:
        hold.update(record["smoothed_label"], record["time"])
    return {
        "frames": total,
        "fps": round(fps, 3),
        "duration_seconds": round(total * frame_time, 3),
        "longest_straight_hold_seconds": round(hold.best, 3),
        "longest_straight_hold_start": None if hold.best_start is None
        else round(hold.best_start, 3),
        "longest_straight_hold_end": None if hold.best_end is None else round(hold.best_end, 3),
        "label_share": {label: round(counts.get(label, 0) / total, 4) if total else 0.0
                        for label in SUMMARY_LABELS},
        "person_share": round(sum(r["keypoints"] is not None for r in records) / total, 4)
        if total else 0.0,
        "attempts": [attempt.as_dict() for attempt in find_attempts(records)],
    }


def plot_timeline(records: list[dict], path: Path | str, title: str = "") -> Path:
    """Plots class probabilities over time with the smoothed label as a coloured band (PNG).

    Raises:
        OutputError: the PNG cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {label: tuple(c / 255 for c in rgb) for label, rgb in LABEL_COLORS.items()}
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
        raise output_error(path, error) from None
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
        # Where each record's line ends in the journal (ASCII JSON: characters are bytes).
        self._journal_ends: list[int] = []
        if self.path.exists() and not self.path.is_file():
            return  # a device or pipe gets the final JSON only
        self.partial_path = self.path.with_name(self.path.name + ".partial.jsonl")
        try:
            self._partial = open(self.partial_path, "w", encoding="utf-8")  # noqa: SIM115
            header = json.dumps({"meta": self.meta}) + "\n"
            self._partial.write(header)
            self._partial.flush()
        except OSError as error:
            raise output_error(self.partial_path, error) from None
        self._journal_ends.append(len(header))

    def append(self, record: dict) -> None:
        """Adds one frame record (and flushes it to the partial file).

        Raises:
            OutputError: the partial file cannot be written; the record is then not kept, so
                the timeline holds exactly the frames before it (as the clip does).
        """
        if self._partial is not None:
            line = json.dumps(record, separators=(",", ":")) + "\n"
            try:
                self._partial.write(line)
                self._partial.flush()
            except OSError as error:
                raise output_error(self.partial_path, error) from None
            self._journal_ends.append(self._journal_ends[-1] + len(line))
        self.records.append(record)

    def keep_first(self, count: int) -> None:
        """Drops the records after the first ``count``, in the journal too (a clip cut short).

        Truncating frees space, so this works on a full disk as well.
        """
        del self.records[count:]
        if self.partial_path is None or not self._journal_ends:
            return
        if self._partial is not None:
            partial, self._partial = self._partial, None
            with contextlib.suppress(OSError):  # its unwritten tail is cut off below anyway
                partial.close()
        with contextlib.suppress(OSError):
            os.truncate(self.partial_path, self._journal_ends[len(self.records)])

    def close(self, summary: dict | None = None) -> Path:
        """Writes the complete timeline atomically and removes the partial file.

        Raises:
            OutputError: it cannot be written; the partial file then keeps every record.
        """
        if self._partial is not None:
            partial, self._partial = self._partial, None
            # On a full disk closing fails too; the final JSON below then says why.
            with contextlib.suppress(OSError):
                partial.close()
        payload = {"version": TIMELINE_VERSION, "meta": self.meta, "summary": summary,
                   "frames": self.records}
        write_json_atomic(self.path, payload)
        if self.partial_path is not None:
            self.partial_path.unlink(missing_ok=True)
        return self.path


JOURNAL_SUFFIX = ".partial.jsonl"


def _is_frame_record(record: object) -> bool:
    """Whether ``record`` has what the summary and the plot read from a frame record."""
    if not isinstance(record, dict):
        return False
    frame, time = record.get("frame"), record.get("time")
    return (
        isinstance(frame, int) and not isinstance(frame, bool)
        and isinstance(time, (int, float)) and not isinstance(time, bool)
        and record.get("smoothed_label") in SUMMARY_LABELS
        and "keypoints" in record
        and isinstance(record.get("probabilities"), dict | None)
        and isinstance(record.get("smoothed_probabilities"), dict | None)
    )


def _records_from_journal(text: str, path: Path) -> tuple[dict, list]:
    lines = text.splitlines()
    meta: dict = {}
    records: list = []
    for number, line in enumerate(lines):
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:
                break  # a hard kill can tear the last line; every earlier record is whole
            raise InputError(f"timeline journal {path} is corrupt at line {number + 1}") from None
        if number == 0 and isinstance(item, dict) and set(item) == {"meta"}:
            meta = item["meta"] if isinstance(item["meta"], dict) else {}
            continue
        records.append(item)
    return meta, records


def load_timeline(path: Path | str) -> dict:
    """Reads a timeline: the final JSON, or the journal a hard-killed session left behind.

    Args:
        path: ``timeline.json`` or ``timeline.json.partial.jsonl``.

    Returns:
        ``{"version", "meta", "summary", "frames"}``; ``summary`` is None for a journal.

    Raises:
        InputError: missing, unreadable or malformed file (one line naming it).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"timeline not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise InputError(f"cannot read timeline {path}: {reason}") from None
    if path.name.endswith(JOURNAL_SUFFIX):
        meta, frames = _records_from_journal(text, path)
        payload = {"version": TIMELINE_VERSION, "meta": meta, "summary": None, "frames": frames}
    else:
        try:
            payload = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise InputError(f"timeline {path} is not valid JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("frames"), list):
        raise InputError(f"{path} is not a formcoach timeline (no list of frames)")
    if not isinstance(payload.get("meta", {}), dict):
        raise InputError(f"{path} is not a formcoach timeline (meta is not an object)")
    for index, record in enumerate(payload["frames"]):
        if not _is_frame_record(record):
            raise InputError(f"{path}: frame record {index} is malformed")
    return payload


def recover(journal: Path | str, out: Path | str | None = None) -> Path:
    """Rebuilds the complete timeline, its summary and plot from a session's journal.

    Args:
        journal: the ``.partial.jsonl`` file of an interrupted session.
        out: the timeline to write; by default the journal's name without the suffix.

    Returns:
        The timeline written (the plot sits next to it as ``.png``, the summary as
        :func:`recovered_summary_path`, with ``stop_reason: "recovered"``).

    Raises:
        InputError: the journal cannot be read.
        OutputError: the timeline cannot be written.
    """
    journal = Path(journal)
    timeline = load_timeline(journal)
    if out is None:
        name = journal.name.removesuffix(JOURNAL_SUFFIX) if journal.name.endswith(
            JOURNAL_SUFFIX) else journal.name + ".json"
        out = journal.with_name(name)
    out = check_writable(out)
    fps = timeline["meta"].get("fps")
    fps = float(fps) if isinstance(fps, (int, float)) and fps > 0 else 30.0
    timeline["summary"] = {**summarize(timeline["frames"], fps),
                           "source": timeline["meta"].get("source"), "stop_reason": "recovered"}
    write_json_atomic(out, timeline)
    write_json_atomic(recovered_summary_path(out), timeline["summary"])
    plot_timeline(timeline["frames"], out.with_suffix(".png"), title=printable(out.stem))
    return out


def recovered_summary_path(timeline: Path) -> Path:
    """Where ``recover`` writes the summary: ``summary.json`` beside an ``--out`` timeline."""
    if timeline.name == "timeline.json":
        return timeline.with_name("summary.json")
    return timeline.with_name(timeline.stem + ".summary.json")


def main(argv: list[str] | None = None) -> int:
    """``python -m coach.timeline recover JOURNAL [--out FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m coach.timeline",
        description="Rebuild timeline.json, its summary and plot from the .partial.jsonl "
        "journal a hard-killed session left behind.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    recover_parser = commands.add_parser("recover", help="journal -> timeline, summary, plot")
    recover_parser.add_argument("journal", type=Path)
    recover_parser.add_argument("--out", type=Path, help="timeline to write")
    args = parser.parse_args(argv)
    try:
        written = recover(args.journal, args.out)
    except CoachError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    print(f"wrote {printable(written)}, {printable(recovered_summary_path(written))} and "
          f"{printable(written.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

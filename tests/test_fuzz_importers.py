"""Fuzzing the label importers (CSV / JSONL into the SQLite store) and the timeline reader.

Odd or hostile label files must import what is valid, report the rest, or fail with a
``StoreError`` naming the file; they must never raise anything else or leave the store broken.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import cv2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability import fuzzing, media

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_WORK = Path(tempfile.mkdtemp(prefix="formcoach_fuzz_labels_"))
cv2.imwrite(str(_WORK / "person.png"), media.person_frame(48, 36))
media.encode_video(_WORK / "clip.mp4", media.person_frames(3, 64, 48))


@pytest.fixture(scope="module")
def store():
    from training.store import LabelStore

    with LabelStore(_WORK / "labels.db") as label_store:
        yield label_store
    shutil.rmtree(_WORK, ignore_errors=True)


def _import(store, text: str, suffix: str) -> None:
    from training.label_io import import_labels
    from training.store import StoreError

    path = _WORK / f"labels{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = store.label_count()
    try:
        report = import_labels(store, path)
    except StoreError as error:
        message = str(error)
        assert message and "\n" not in message.strip(), repr(message)
        assert store.label_count() == before  # a failed import changes nothing
        event("refused with StoreError")
        return
    assert report.imported >= 0
    event(f"imported {'some' if report.imported else 'none'}, bad rows "
          f"{'some' if report.bad_rows else 'none'}")
    assert store.label_count() == before + report.imported
    for line in report.bad_rows:
        assert "\n" not in line.strip(), line


@FUZZ
@given(text=fuzzing.csv_text())
def test_csv_import_never_raises_foreign_errors(store, text: str) -> None:
    _import(store, text, ".csv")


@FUZZ
@given(text=fuzzing.jsonl_text())
def test_jsonl_import_never_raises_foreign_errors(store, text: str) -> None:
    _import(store, text, ".jsonl")


@settings(FUZZ, max_examples=40)
@given(data=st.binary(max_size=600), suffix=st.sampled_from((".csv", ".jsonl", ".txt")))
def test_binary_label_file_is_refused_cleanly(store, data: bytes, suffix: str) -> None:
    from training.label_io import import_labels
    from training.store import StoreError

    path = _WORK / f"binary{suffix}"
    path.write_bytes(data)
    before = store.label_count()
    try:
        import_labels(store, path)
    except StoreError as error:
        assert "\n" not in str(error).strip()
    assert store.label_count() >= before


def test_store_stays_healthy_after_fuzzing(store) -> None:
    # Runs after the fuzz tests in this module: the database must still check out.
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    from training.label_io import export_labels

    exported = _WORK / "export.jsonl"
    count = export_labels(store, exported)
    assert count == len(exported.read_text(encoding="utf-8").splitlines())


# ------------------------------------------------------------------------------ the timeline


def _valid_timeline() -> bytes:
    record = {"frame": 0, "time": 0.0, "keypoints": None, "rotation": 0, "probabilities": {},
              "label": "unknown", "smoothed_label": "unknown", "smoothed_probabilities": {},
              "can_judge": False, "reason": "no person", "hold_seconds": 0.0}
    payload = {"version": 1, "meta": {"source": "x.mp4", "fps": 30.0}, "summary": None,
               "frames": [record, {**record, "frame": 1, "time": 0.033}]}
    return json.dumps(payload).encode()


@settings(FUZZ, max_examples=60)
@given(data=fuzzing.file_bytes(_valid_timeline()),
       suffix=st.sampled_from((".json", ".json.partial.jsonl")))
def test_timeline_reader_returns_records_or_coach_error(data: bytes, suffix: str) -> None:
    from coach.errors import CoachError
    from coach.timeline import load_timeline

    path = _WORK / f"timeline{suffix}"
    path.write_bytes(data)
    try:
        timeline = load_timeline(path)
    except CoachError as error:
        assert "\n" not in str(error).strip()
        return
    frames = timeline["frames"] if isinstance(timeline, dict) else timeline
    assert isinstance(frames, list)


def test_recover_rebuilds_the_timeline_from_a_torn_journal(tmp_path) -> None:
    from coach.timeline import TimelineWriter, load_timeline, recover

    record = json.loads(_valid_timeline())["frames"][0]
    writer = TimelineWriter(tmp_path / "session.json", {"source": "cam", "fps": 10.0})
    for index in range(5):
        writer.append({**record, "frame": index, "time": index / 10, "smoothed_label": "straight"})
    # A hard kill: the writer never closes, and the last line is cut mid-record.
    with open(writer.partial_path, "a", encoding="utf-8") as journal:
        journal.write('{"frame": 5, "ti')
    journal_path = writer.partial_path
    out = recover(journal_path)
    assert out == tmp_path / "session.json"
    timeline = load_timeline(out)
    assert [frame["frame"] for frame in timeline["frames"]] == [0, 1, 2, 3, 4]
    assert timeline["meta"]["source"] == "cam"
    assert timeline["summary"]["longest_straight_hold_seconds"] == pytest.approx(0.5)
    plot = cv2.imread(str(out.with_suffix(".png")))
    assert plot is not None and plot.shape[1] > plot.shape[0] > 100  # the timeline plot


def test_recover_command_reports_a_corrupt_journal_in_one_line(tmp_path, capsys) -> None:
    from coach.timeline import main

    journal = tmp_path / "t.json.partial.jsonl"
    journal.write_text('{"meta": {}}\nnot json\n{"frame": 1}\n', encoding="utf-8")
    assert main(["recover", str(journal)]) == 3
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "line 2" in error and "\n" not in error

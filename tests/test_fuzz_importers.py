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
    from training.store import StoreError

    path = _WORK / f"labels{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = store.label_count()
    try:
        report = store.import_file(path)
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
    from training.store import StoreError

    path = _WORK / f"binary{suffix}"
    path.write_bytes(data)
    before = store.label_count()
    try:
        store.import_file(path)
    except StoreError as error:
        assert "\n" not in str(error).strip()
    assert store.label_count() >= before


def test_store_stays_healthy_after_fuzzing(store) -> None:
    # Runs after the fuzz tests in this module: the database must still check out.
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    exported = _WORK / "export.jsonl"
    count = store.export_file(exported)
    assert count == len(exported.read_text(encoding="utf-8").splitlines())


# ------------------------------------------------------------------------------ the timeline
# The app may grow a reader of its own timeline files; fuzz it when it exists.
_TIMELINE_READER = getattr(pytest.importorskip("coach.timeline"), "load_timeline", None)


def _valid_timeline() -> bytes:
    record = {"frame": 0, "time": 0.0, "keypoints": None, "rotation": 0, "probabilities": {},
              "label": "unknown", "smoothed_label": "unknown", "smoothed_probabilities": {},
              "can_judge": False, "reason": "no person", "hold_seconds": 0.0}
    payload = {"version": 1, "meta": {"source": "x.mp4", "fps": 30.0}, "summary": None,
               "frames": [record, {**record, "frame": 1, "time": 0.033}]}
    return json.dumps(payload).encode()


@pytest.mark.skipif(_TIMELINE_READER is None, reason="coach.timeline has no load_timeline")
@settings(FUZZ, max_examples=60)
@given(data=fuzzing.file_bytes(_valid_timeline()),
       suffix=st.sampled_from((".json", ".json.partial.jsonl")))
def test_timeline_reader_returns_records_or_coach_error(data: bytes, suffix: str) -> None:
    from coach.errors import CoachError

    path = _WORK / f"timeline{suffix}"
    path.write_bytes(data)
    try:
        timeline = _TIMELINE_READER(path)
    except CoachError as error:
        assert "\n" not in str(error).strip()
        return
    frames = timeline["frames"] if isinstance(timeline, dict) else timeline
    assert isinstance(frames, list)

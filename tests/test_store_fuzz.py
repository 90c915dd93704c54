"""The label importers take any bytes: a report or a one-line StoreError, never a crash."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.label_io import import_labels
from training.store import LabelStore, StoreError

_CELLS = st.sampled_from(
    ["a.png", "sub/b.jpg", "", "missing.png", "straight", "unclear", "banana", "bogus", "0.5",
     "x", "-3", "7", "nan", '"', ",", "\n", "é", "/etc/passwd", "a.png#2"]
)

# the module-scoped folder is shared on purpose: every example imports into the same store
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "sub").mkdir()
    cv2.imwrite(str(root / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(root / "sub" / "b.jpg"), np.zeros((8, 8, 3), np.uint8))
    return root


def _check(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.write_bytes(data)
    db = folder / "fuzz.db"
    with LabelStore(db) as store:
        before = store.label_count()
        try:
            report = import_labels(store, path)
        except StoreError as error:
            assert "\n" not in str(error)
            assert store.label_count() == before  # a refused file imports nothing
            return
        assert store.label_count() == before + report.imported
        for line in report.bad_rows:
            assert "\n" not in line


@settings(max_examples=80, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    header=st.lists(st.sampled_from(["file", "label", "confidence", "notes", "frame", "x"]),
                    max_size=6),
    rows=st.lists(st.lists(_CELLS, max_size=6), max_size=6),
)
def test_csv_import_never_crashes(folder, header, rows):
    text = "\n".join(",".join(cells) for cells in [header, *rows])
    _check(folder, "in.csv", text.encode("utf-8"))


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(data=st.binary(max_size=300), suffix=st.sampled_from(["in.csv", "in.jsonl"]))
def test_binary_import_never_crashes(folder, data, suffix):
    _check(folder, suffix, data)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    _CELLS, st.lists(st.integers(), max_size=2))


@settings(max_examples=80, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(rows=st.lists(st.dictionaries(
    st.sampled_from(["file", "label", "confidence", "notes", "frame", "created", "labeler"]),
    _VALUES, max_size=7), max_size=5))
def test_jsonl_import_never_crashes(folder, rows):
    import json

    _check(folder, "in.jsonl", "\n".join(json.dumps(row) for row in rows).encode("utf-8"))

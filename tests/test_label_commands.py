"""LabelSession without a window: labels, undo, segments, navigation and resume."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.label_session import KEYS, LabelSession, build_items, key_table_markdown
from training.store import STORE_LABELS, LabelStore

REPO = Path(__file__).resolve().parent.parent


def _media(root: Path) -> Path:
    """Two photos, then a 12-frame video (items: 2 images + video frames 0, 2, ..., 10)."""
    root.mkdir(parents=True)
    for index in range(2):
        cv2.imwrite(str(root / f"a_user{index}_img.png"), np.full((24, 32, 3), 50, np.uint8))
    writer = cv2.VideoWriter(str(root / "b_clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (32, 24))
    for index in range(12):
        writer.write(np.full((24, 32, 3), 10 * index, np.uint8))
    writer.release()
    return root


@pytest.fixture()
def store_items(tmp_path):
    store = LabelStore(tmp_path / "labels.db")
    items = build_items(store, [_media(tmp_path / "media")], video_step=2)
    yield store, items
    store.close()


def test_label_moves_to_next_unlabeled_and_undo_returns(store_items):
    store, items = store_items
    session = LabelSession(store, items, labeler="ann")
    assert session.index == 0 and len(items) == 8
    assert session.label("banana")
    assert session.index == 1 and store.current_label(items[0].frame_id) == "banana"
    session.run("move", 2)
    session.run("label", "straight")
    assert session.index == 4 and session.labeled_count == 2
    assert session.undo()
    assert session.index == 3 and items[3].frame_id not in session.labels
    assert store.current_label(items[3].frame_id) is None
    assert session.undo() and session.index == 0 and session.labeled_count == 0
    assert not session.undo() and session.message == "nothing to undo"
    assert session.stats.items_labeled == 0 and session.stats.labels_made == 0


def test_undo_brings_back_an_earlier_sessions_label(store_items):
    store, items = store_items
    store.add_label(items[0].frame_id, "straight")
    session = LabelSession(store, items)
    session.go(0)
    session.label("banana")
    session.undo()
    assert session.labels[items[0].frame_id] == "straight"


def test_segment_labels_every_marked_video_frame_as_one_action(store_items):
    store, items = store_items
    session = LabelSession(store, items)
    session.mark("in")  # on a photo: refused
    assert session.mark_in is None and "video" in session.message
    session.go(2)  # video frame 0
    session.run("mark", "in")
    session.move(3)
    session.run("mark", "out")
    assert session.segment() == [2, 3, 4, 5]
    session.label("straight")
    assert session.mark_in is None and session.index == 6
    assert "4 frames" in session.message
    assert [store.current_label(items[i].frame_id) for i in range(2, 6)] == ["straight"] * 4
    session.undo()  # one action: the whole segment goes
    assert all(store.current_label(items[i].frame_id) is None for i in range(2, 6))


def test_segment_without_out_point_ends_at_current_item(store_items):
    store, items = store_items
    session = LabelSession(store, items)
    session.go(5)
    session.mark("in")
    session.move(2)
    assert session.segment() == [5, 6, 7]
    assert session.clear_marks() and session.segment() == [7]
    assert not session.clear_marks()


def test_resume_starts_at_first_unlabeled(store_items):
    store, items = store_items
    first = LabelSession(store, items)
    for _ in range(3):
        first.label("not_handstand")
    again = LabelSession(store, items)
    assert again.index == 3 and again.labeled_count == 3
    for item in items[3:]:
        store.add_label(item.frame_id, "unsure")
    done = LabelSession(store, items)
    assert done.first_unlabeled(0) is None and done.index == 0


def test_navigation_is_clipped(store_items):
    store, items = store_items
    session = LabelSession(store, items)
    session.move(-10)
    assert session.index == 0
    session.move(100)
    assert session.index == len(items) - 1


def test_failed_save_keeps_the_item(tmp_path):
    db = tmp_path / "labels.db"
    store = LabelStore(db, timeout_s=0.05)
    items = build_items(store, [_media(tmp_path / "media")], video_step=6)
    session = LabelSession(store, items)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert not session.label("banana")
        assert session.index == 0 and session.message.startswith("NOT SAVED")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert session.label("banana") and session.index == 1
    store.close()


def test_labels_per_minute_uses_clock(store_items):
    store, items = store_items
    now = [10.0]
    session = LabelSession(store, items, clock=lambda: now[0])
    session.label("straight")
    session.label("banana")
    now[0] += 12.0
    assert session.labels_per_minute() == pytest.approx(10.0)


def test_nothing_to_label_is_an_error(tmp_path):
    from training.store import StoreError

    with LabelStore(tmp_path / "labels.db") as store, pytest.raises(StoreError, match="nothing"):
        LabelSession(store, [])


def test_keys_cover_every_label_once_and_match_the_readme():
    labels = [key.argument for key in KEYS if key.command == "label"]
    assert sorted(labels) == sorted(STORE_LABELS)
    names = [name for key in KEYS for name in key.keys]
    assert len(names) == len(set(names))
    assert key_table_markdown() in (REPO / "README.md").read_text(encoding="utf-8")


def test_session_needs_no_pygame():
    # The session and what it imports of the project are free of pygame.
    for module in ("training/label_session.py", "training/store.py", "engine/media.py"):
        tree = ast.parse((REPO / module).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(name.split(".")[0] == "pygame" for name in imported), module

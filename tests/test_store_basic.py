"""Label store: schema, labels, undo, poses, import/export round trips, bad databases."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.label_io import export_labels, import_labels
from training.labeled_set import compute_missing_poses, load_labeled_set
from training.store import LabelStore, StoreError, group_of
from training.store import main as store_main

REPO = Path(__file__).resolve().parent.parent


def _image(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((48, 64, 3), value, np.uint8)
    cv2.rectangle(image, (10, 10), (30, 40), (value, 255 - value, 50), -1)
    assert cv2.imwrite(str(path), image)
    return path


def _video(path: Path, frames: int = 12, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for index in range(frames):
        writer.write(np.full((48, 64, 3), index * 10 % 255, np.uint8))
    writer.release()
    return path


def _pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(0, 48, (16, 3)).astype(np.float32)
    keypoints[:, 2] = 0.9
    return keypoints


class FakeBackend:
    name = "fake"
    version = "1"
    stream = False

    def __init__(self):
        self.calls = 0

    def estimate(self, bgr):
        from engine.pose.base import PoseResult

        self.calls += 1
        # grey levels are multiples of 10; rounding absorbs video compression
        return PoseResult(_pose(int(round(bgr[0, 0, 0] / 10.0)) * 10), 0)

    def reset(self):
        pass

    def close(self):
        pass


def test_wal_mode_and_schema(tmp_path):
    with LabelStore(tmp_path / "labels.db"):
        pass
    db = sqlite3.connect(tmp_path / "labels.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"media", "frames", "poses", "labels"} <= tables


def test_labels_undo_and_current_label(tmp_path):
    image = _image(tmp_path / "a" / "user3_img_5.jpg")
    with LabelStore(tmp_path / "labels.db") as store:
        media = store.add_media(image)
        assert media.kind == "image" and len(media.sha256) == 64
        assert store.add_media(image).id == media.id  # idempotent
        frame = store.frame_id(media)
        store.put_pose(frame, "fake", "1", None, (64, 48))  # no person found: cached too
        assert store.get_pose(frame, "fake").keypoints is None
        assert store._query("PRAGMA synchronous")[0][0] == 2  # FULL again for labels
        first = store.add_label(frame, "banana", labeler="ann")
        second = store.add_label(frame, "straight", labeler="ann")
        assert store.current_label(frame) == "straight"
        assert store.undo(second) == [frame]
        assert store.current_label(frame) == "banana"
        store.undo(first)
        assert store.current_label(frame) is None
        with pytest.raises(StoreError, match="unknown label"):
            store.add_label(frame, "wobbly")


def test_load_labeled_set_needs_label_and_pose(tmp_path):
    paths = [_image(tmp_path / "p" / f"user{i % 2}_img_{i}.png", 20 * i) for i in range(5)]
    with LabelStore(tmp_path / "labels.db") as store:
        frames = [store.frame_id(store.add_media(p)) for p in paths]
        store.add_label(frames[0], "straight")
        store.add_label(frames[1], "banana")
        store.add_label(frames[2], "unsure")  # left out: not trainable
        store.add_label(frames[3], "not_handstand")  # left out: no pose until computed
        store.put_pose(frames[0], "fake", "1", _pose(0), (64, 48))
        store.put_pose(frames[1], "fake", "1", _pose(1), (64, 48))
        store.put_pose(frames[4], "fake", "1", _pose(4), (64, 48))  # left out: no label
    data = load_labeled_set(tmp_path / "labels.db")
    assert list(data.labels) == ["straight", "banana"]
    assert data.keypoints.shape == (2, 16, 3) and data.keypoints.dtype == np.float32
    np.testing.assert_array_equal(data.keypoints[1], _pose(1))
    np.testing.assert_array_equal(data.image_sizes, [[64, 48], [64, 48]])
    assert list(data.groups) == [group_of(paths[0].resolve(), "image")] * 1 + [
        group_of(paths[1].resolve(), "image")
    ]
    assert data.groups[0].endswith("|user0") and data.groups[1].endswith("|user1")
    assert data.files[0] == str(paths[0].resolve())

    with LabelStore(tmp_path / "labels.db") as store:
        backend = FakeBackend()
        assert compute_missing_poses(store, backend) == 1  # frame 3 only
        assert compute_missing_poses(store, backend) == 0
    assert sorted(load_labeled_set(tmp_path / "labels.db").labels) == [
        "banana",
        "not_handstand",
        "straight",
    ]


def test_groups_rule(tmp_path):
    assert group_of("/d/user3_img_5.jpg", "image") == "folder:/d|user3"
    assert group_of("/d/image_13.jpg", "image") == "folder:/d"
    assert group_of("/d/IMG_0042.jpg", "image") == "folder:/d"
    assert group_of("/d/clip.mp4", "video") == "video:/d/clip.mp4"


def _dev_style_csv(tmp_path: Path) -> Path:
    root = tmp_path / "dev"
    _image(root / "site" / "correct" / "image_1.jpg", 10)
    _image(root / "site" / "incorrect" / "image_2.jpg", 60)
    _image(root / "gym" / "video_frames" / "user1_img_0.jpg", 110)
    _image(root / "yoga" / "adho mukha svanasana.png", 160)
    (root / "labels.csv").write_text(
        "file,label,confidence,notes\n"
        "site/correct/image_1.jpg,straight,0.6,side view; wall-supported\n"
        'site/incorrect/image_2.jpg,banana,0.55,"closed shoulders, arched"\n'
        "gym/video_frames/user1_img_0.jpg,unclear,0.4,low camera\n"
        "yoga/adho mukha svanasana.png,not_handstand,0.95,\n"
        "gone/missing.jpg,straight,0.5,not on disk\n",
        encoding="utf-8",
    )
    return root / "labels.csv"


def test_dev_csv_imports_as_is(tmp_path):
    csv_path = _dev_style_csv(tmp_path)
    with LabelStore(tmp_path / "labels.db") as store:
        report = import_labels(store, csv_path)
        assert report.imported == 4 and report.bad_rows == []
        assert report.missing_files == [str(csv_path.parent / "gone/missing.jpg")]
        records = {Path(r.path).name: r for r in store.current_labels()}
    assert records["user1_img_0.jpg"].label == "unsure"  # "unclear" is the dev set's spelling
    assert records["image_2.jpg"].notes == "closed shoulders, arched"
    assert records["image_1.jpg"].confidence == pytest.approx(0.6)
    assert records["adho mukha svanasana.png"].notes is None


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_import_round_trip(tmp_path, suffix):
    csv_path = _dev_style_csv(tmp_path)
    video = _video(tmp_path / "dev" / "clip.avi")
    with LabelStore(tmp_path / "one.db") as store:
        import_labels(store, csv_path)
        media = store.add_media(video)
        frames = store.frame_ids(media, [2, 3, 4])
        store.add_label(frames, "straight", labeler="bo", confidence=0.9)
        store.add_label(frames[1], "banana", labeler="bo", notes='tricky, "arch"')
        before = store.current_labels()
        assert export_labels(store, tmp_path / "dev" / f"out{suffix}") == 7
    if suffix == ".jsonl":
        lines = (tmp_path / "dev" / "out.jsonl").read_text().splitlines()
        assert all(isinstance(json.loads(line), dict) for line in lines)
    with LabelStore(tmp_path / "two.db") as store:
        report = import_labels(store, tmp_path / "dev" / f"out{suffix}")
        assert report.imported == 7 and not report.missing_files and not report.bad_rows
        after = store.current_labels()

    def key(records):
        return [
            (r.path, r.kind, r.frame_index, round(r.time_s, 6), r.label, r.labeler,
             r.confidence, r.notes, r.created)
            for r in records
        ]

    assert key(after) == key(before)
    assert {r.frame_index for r in after if r.kind == "video"} == {2, 3, 4}


def test_missing_store_is_one_line_error(tmp_path):
    with pytest.raises(StoreError, match="no label store"):
        load_labeled_set(tmp_path / "nope.db")


def test_corrupt_store_is_one_line_error(tmp_path):
    bad = tmp_path / "labels.db"
    bad.write_bytes(b"this is not sqlite at all\n" * 200)
    with pytest.raises(StoreError, match="corrupt or not a label store") as info:
        LabelStore(bad)
    assert "\n" not in str(info.value)


def test_locked_store_is_one_line_error(tmp_path):
    path = tmp_path / "labels.db"
    LabelStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with (
            pytest.raises(StoreError, match="locked") as info,
            LabelStore(path, timeout_s=0.1) as store,
        ):
            store.add_media(_image(tmp_path / "x.png"))
        assert "\n" not in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("content", [None, b"garbage" * 100])
def test_cli_errors_are_one_line(tmp_path, capsys, content):
    db = tmp_path / "labels.db"
    if content is not None:
        db.write_bytes(content)
    assert store_main(["--db", str(db), "export", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


@pytest.mark.slow
def test_cli_subprocess_error_has_no_traceback(tmp_path):
    db = tmp_path / "labels.db"
    db.write_bytes(b"garbage" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "training.store", "--db", str(db), "stats"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_import_then_export(tmp_path, capsys):
    csv_path = _dev_style_csv(tmp_path)
    db = tmp_path / "labels.db"
    assert store_main(["--db", str(db), "import", str(csv_path)]) == 0
    assert "imported 4 labels, 1 missing files, 0 bad rows" in capsys.readouterr().out
    assert store_main(["--db", str(db), "export", str(tmp_path / "dev" / "again.jsonl")]) == 0
    assert "wrote 4 labels" in capsys.readouterr().out
    text = (tmp_path / "dev" / "again.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert {row["file"] for row in rows} == {
        "site/correct/image_1.jpg", "site/incorrect/image_2.jpg",
        "gym/video_frames/user1_img_0.jpg", "yoga/adho mukha svanasana.png"}
    assert store_main(["--db", str(db), "stats"]) == 0
    assert "labels 4" in capsys.readouterr().out


def test_compute_missing_poses_on_video_frames(tmp_path):
    video = _video(tmp_path / "clip.avi", frames=12)
    with LabelStore(tmp_path / "labels.db") as store:
        media = store.add_media(video)
        assert media.kind == "video" and media.frame_count == 12
        frames = store.frame_ids(media, [1, 5, 9])
        store.add_label(frames, "straight")
        backend = FakeBackend()
        assert compute_missing_poses(store, backend) == 3
    data = load_labeled_set(tmp_path / "labels.db")
    np.testing.assert_array_equal(data.keypoints[1], _pose(50))  # frame 5 is grey level 50
    assert set(data.groups) == {f"video:{video.resolve()}"}
    assert list(data.files) == [f"{video.resolve()}#{i}" for i in (1, 5, 9)]


def test_damaged_pages_are_one_line_error(tmp_path):
    path = tmp_path / "labels.db"
    with LabelStore(path) as store:
        frame = store.frame_id(store.add_media(_image(tmp_path / "a.png")))
        for _ in range(200):
            store.add_label(frame, "straight", notes="x" * 50)
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # keep the header page, damage the others
        data[offset : offset + 100] = bytes(range(100))
    path.write_bytes(bytes(data))
    for open_store in (lambda: LabelStore(path), lambda: load_labeled_set(path)):
        with pytest.raises(StoreError, match="corrupt") as info:
            open_store()
        assert "\n" not in str(info.value)


def test_foreign_sqlite_file_is_left_alone(tmp_path):
    path = tmp_path / "photos.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a label store"):
        LabelStore(path)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()

"""Scripted labeling sessions: injected key events drive LabelWindow; the store is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"

import pygame  # noqa: E402

from engine.pose.base import PoseResult  # noqa: E402
from engine.skeleton import R_WRIST  # noqa: E402
from training.label import LabelWindow  # noqa: E402
from training.label_session import LabelSession, build_items  # noqa: E402
from training.store import LabelStore  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WINDOW = (640, 558)  # image area 640x480


def _keypoints(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    keypoints = np.zeros((16, 3), np.float32)
    keypoints[:, 0] = rng.uniform(0.2, 0.8, 16) * width
    keypoints[:, 1] = rng.uniform(0.2, 0.8, 16) * height
    keypoints[:, 2] = 0.95
    return keypoints


class FakeBackend:
    """Returns fixed keypoints; ``gate`` (when given) holds each estimate until it is set."""

    name = "fake"
    version = "1"

    def __init__(self, gate: threading.Event | None = None):
        self.gate = gate
        self.calls = 0

    def estimate(self, bgr):
        if self.gate is not None:
            self.gate.wait(10)
        self.calls += 1
        height, width = bgr.shape[:2]
        return PoseResult(_keypoints(width, height), 180)

    def reset(self):
        pass

    def close(self):
        pass


def _media(root: Path) -> Path:
    photos = root / "a_photos"
    photos.mkdir(parents=True)
    for name, value in (("user1_img_0", 40), ("user1_img_1", 80), ("user2_img_0", 120)):
        cv2.imwrite(str(photos / f"{name}.png"), np.full((120, 160, 3), value, np.uint8))
    writer = cv2.VideoWriter(str(root / "b_clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0,
                             (160, 120))
    for index in range(20):
        writer.write(np.full((120, 160, 3), 10 * index, np.uint8))
    writer.release()
    return root


def _press(*keys: int) -> None:
    for key in keys:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode=""))


@pytest.fixture()
def session(tmp_path):
    root = _media(tmp_path / "media")
    store = LabelStore(tmp_path / "labels.db")
    items = build_items(store, [root], video_step=2)
    apps = []

    def start(labeler=None, clock=None, **kwargs):
        kwargs.setdefault("window_size", WINDOW)
        session = LabelSession(store, items, labeler=labeler,
                               **({"clock": clock} if clock is not None else {}))
        app = LabelWindow(session, kwargs.pop("backend", FakeBackend()), **kwargs)
        apps.append(app)
        return app

    yield store, items, start
    for app in apps:
        app.close()
    store.close()


def test_items_cover_images_and_sampled_video_frames(session):
    _, items, _ = session
    assert [Path(i.media.path).name for i in items[:3]] == [
        "user1_img_0.png", "user1_img_1.png", "user2_img_0.png"]
    assert [i.frame_index for i in items[3:]] == list(range(0, 20, 2))


def test_scripted_session_labels_undo_skip_back_and_segment(session):
    store, items, start = session
    app = start(labeler="ann")
    assert app.session.index == 0
    _press(pygame.K_1, pygame.K_2, pygame.K_z)  # straight, banana, undo the banana
    app.step()
    assert app.session.index == 1 and items[1].frame_id not in app.session.labels
    _press(pygame.K_3, pygame.K_s)  # other_handstand on item 1, skip item 2
    app.step()
    assert app.session.index == 3
    _press(pygame.K_LEFT, pygame.K_4)  # back to item 2: not_handstand; moves on to item 3
    app.step()
    assert app.session.index == 3
    # video frames 0..6 straight: in, three frames ahead, out, label
    _press(pygame.K_i, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_o, pygame.K_1)
    app.step()
    assert app.session.index == 7
    # in at frame 8, no out point: the label at frame 12 covers frames 8..12
    _press(pygame.K_i, pygame.K_RIGHT, pygame.K_RIGHT, pygame.K_u)
    app.step()
    assert app.session.index == 10
    # undo the unsure segment, skip one frame, unsure
    _press(pygame.K_BACKSPACE, pygame.K_RIGHT, pygame.K_5)
    app.step()
    assert app.step() is True
    _press(pygame.K_q)
    assert app.step() is False

    labels = {
        (Path(r.path).name, r.frame_index): (r.label, r.labeler) for r in store.current_labels()
    }
    assert labels == {
        ("user1_img_0.png", 0): ("straight", "ann"),
        ("user1_img_1.png", 0): ("other_handstand", "ann"),
        ("user2_img_0.png", 0): ("not_handstand", "ann"),
        ("b_clip.avi", 0): ("straight", "ann"),
        ("b_clip.avi", 2): ("straight", "ann"),
        ("b_clip.avi", 4): ("straight", "ann"),
        ("b_clip.avi", 6): ("straight", "ann"),
        ("b_clip.avi", 10): ("unsure", "ann"),
    }
    assert store.label_count() == 8  # undone labels are gone from the history
    video = {r.frame_index: r.time_s for r in store.current_labels() if r.kind == "video"}
    assert video[6] == pytest.approx(0.6)
    assert app.session.stats.items_labeled == 8


def test_resumes_at_first_unlabeled_item(session):
    store, items, start = session
    for item in items[:5]:
        store.add_label(item.frame_id, "banana")
    app = start()
    assert app.session.index == 5
    _press(pygame.K_3)
    app.step()
    app.close()
    again = start()
    assert again.session.index == 6
    assert again.session.labeled_count == 6


def test_image_shown_before_pose_then_skeleton_drawn(session):
    _, items, start = session
    gate = threading.Event()
    app = start(backend=FakeBackend(gate), prefetch=2)
    app.step()
    assert app.session.stats.pose_ready_when_shown == [False]
    screen = pygame.display.get_surface()
    image = app.prefetcher.image(0)
    assert image is not None  # the image is on screen although the pose is not ready
    height, width = image.display.shape[:2]
    origin = np.array([(WINDOW[0] - width) // 2, (480 - height) // 2])
    wrist = _keypoints(160, 120)[R_WRIST, :2] * image.scale + origin
    at = tuple(int(v) for v in np.round(wrist))
    assert tuple(screen.get_at(at))[:3] == (40, 40, 40)
    gate.set()
    assert app.prefetcher.wait_for_pose(0)
    app.step()
    red, green, blue = tuple(screen.get_at(at))[:3]
    assert red > 200 and 100 < green < 200 and blue < 60  # right-side joint colour (orange)
    assert app.prefetcher.wait_for_pose(2)  # prefetched ahead of the user
    _press(pygame.K_1)
    app.step()
    assert app.session.stats.pose_ready_when_shown == [False, True]
    # computed poses are cached in the store for retraining and for the next session
    cached = app.session.store.get_pose(items[0].frame_id, "fake", "1")
    assert cached is not None and cached.rotation == 180
    np.testing.assert_allclose(cached.keypoints, _keypoints(160, 120))


def test_help_toggle_and_segment_on_image_refused(session):
    _, _, start = session
    app = start()
    _press(pygame.K_h, pygame.K_i)
    app.step()
    assert app.show_help and app.session.mark_in is None and "video" in app.session.message
    _press(pygame.K_h, pygame.K_ESCAPE)
    assert app.step() is False and not app.show_help


def test_labels_per_minute_uses_clock(session):
    _, _, start = session
    now = [100.0]
    app = start(clock=lambda: now[0])
    _press(pygame.K_1, pygame.K_2, pygame.K_4)
    app.step()
    now[0] += 6.0
    assert app.session.labels_per_minute() == pytest.approx(30.0)


def test_cli_missing_path_is_one_line_error(tmp_path, capsys):
    from training.label import main

    assert main([str(tmp_path / "nothing"), "--db", str(tmp_path / "l.db")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: no such file or folder: {tmp_path / 'nothing'}"]


@pytest.mark.slow
def test_cli_corrupt_db_is_one_line_error(tmp_path):
    db = tmp_path / "l.db"
    db.write_bytes(b"\x00garbage" * 512)
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    result = subprocess.run(
        [sys.executable, "-m", "training.label", str(image), "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt" in lines[0] and "Traceback" not in result.stderr


def test_locked_store_mid_session_keeps_item_and_retries(tmp_path):
    import sqlite3

    root = _media(tmp_path / "media")
    db = tmp_path / "labels.db"
    store = LabelStore(db, timeout_s=0.05)
    items = build_items(store, [root], video_step=10)
    app = LabelWindow(LabelSession(store, items), FakeBackend(), window_size=WINDOW)
    try:
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        _press(pygame.K_2)
        assert app.step() is True
        message = app.session.message
        assert app.session.index == 0 and "NOT SAVED" in message and "locked" in message
        holder.execute("ROLLBACK")
        holder.close()
        _press(pygame.K_2)
        app.step()
        assert app.session.index == 1 and store.current_label(items[0].frame_id) == "banana"
    finally:
        app.close()
        store.close()


def test_prefetch_is_bounded(session):
    _, items, start = session
    backend = FakeBackend()
    app = start(backend=backend, prefetch=3)
    app.step()
    assert app.prefetcher.wait_for_pose(3)
    assert backend.calls == 4  # the shown item and 3 ahead, nothing further
    for _ in range(9):
        _press(pygame.K_s)
        app.step()
        assert len(app.prefetcher._images) <= 3 + 3  # two behind, the item, three ahead
    assert app.prefetcher.wait_for_pose(min(len(items) - 1, app.session.index + 3))
    # items skipped before their turn are never computed; nothing beyond the window is
    assert backend.calls <= min(len(items), app.session.index + 4)

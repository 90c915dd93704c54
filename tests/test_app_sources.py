import threading

import cv2
import numpy as np
import pytest

from coach.errors import CameraLostError, InputError
from coach.sources import CameraSource, VideoFileSource
from engine.media import MediaError, list_images, read_image, read_video_frames


def write_video(path, frames: int, size=(96, 64), fps=25.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        frame = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        frame[:, :, 1] = (i * 10) % 256  # frame index readable from the green channel
        writer.write(frame)
    writer.release()
    return path


def test_video_file_source_delivers_every_frame_in_order(tmp_path):
    source = VideoFileSource(write_video(tmp_path / "clip.mp4", 12))
    assert source.fps == pytest.approx(25.0)
    assert source.size == (96, 64)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert [f.index for f in frames] == list(range(12))
    assert frames[5].timestamp == pytest.approx(5 / 25)
    greens = [int(f.bgr[:, :, 1].mean()) for f in frames]
    assert all(abs(g - i * 10) <= 3 for i, g in enumerate(greens))


def test_read_video_frames_returns_exactly_the_asked_frames(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 12)
    frames = read_video_frames(path, {0, 7, 11, 30})
    assert sorted(frames) == [0, 7, 11]  # 30 is past the end: left out
    assert all(abs(int(frames[i][:, :, 1].mean()) - i * 10) <= 3 for i in frames)
    assert read_video_frames(path, set()) == {}


def _written(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", "not found"),
    (lambda p: p, "folder"),
    (lambda p: _written(p / "empty.mp4", b""), "empty"),
    (lambda p: _written(p / "text.mp4", b"hello " * 100), "decod"),
])
def test_video_file_source_rejects_bad_files(tmp_path, make, message):
    with pytest.raises(MediaError, match=message):
        VideoFileSource(make(tmp_path))


class FakeCapture:
    """A camera that delivers ``good`` numbered frames, then fails (cable pulled)."""

    def __init__(self, good: int):
        self.good = good
        self.reads = 0
        self.gate = threading.Semaphore(0)

    def read(self):
        self.reads += 1
        if self.reads > self.good:
            return False, None
        return True, np.full((8, 8, 3), self.reads % 256, dtype=np.uint8)

    def get(self, _prop):
        return 30.0

    def release(self):
        pass


def test_camera_source_reports_a_lost_camera():
    source = CameraSource(0, capture=FakeCapture(good=5), lost_after=3)
    seen = 0
    with pytest.raises(CameraLostError, match="camera 0"):
        while True:
            assert source.read() is not None
            seen += 1
    source.close()
    assert 1 <= seen <= 5


def test_camera_source_always_returns_the_newest_frame():
    capture = FakeCapture(good=50)
    source = CameraSource(0, capture=capture, lost_after=1000)
    # Let the capture thread run through every frame before reading once.
    while capture.reads < 51:
        threading.Event().wait(0.001)
    frame = source.read()
    source.close()
    assert int(frame.bgr[0, 0, 0]) == 50  # the last good frame, older ones were dropped


def test_camera_that_cannot_open_is_an_input_error():
    with pytest.raises(InputError, match="camera"):
        CameraSource("/dev/no_such_camera_formcoach")


def test_read_image_normalizes_odd_formats(tmp_path):
    gray = np.full((20, 30), 128, dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    deep = np.full((20, 30, 3), 65535, dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    for name in ("gray.png", "rgba.png", "deep.png"):
        image = read_image(tmp_path / name)
        assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert read_image(tmp_path / "deep.png").max() == 255
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(MediaError, match="decode"):
        read_image(tmp_path / "bad.jpg")


def test_list_images_expands_folders(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.png", "a.jpg", "notes.txt"):
        (folder / name).write_bytes(b"x")
    assert [p.name for p in list_images([folder])] == ["a.jpg", "b.png"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MediaError, match="no images"):
        list_images([empty])
    with pytest.raises(MediaError, match="not found"):
        list_images([tmp_path / "nope.png"])

"""Frame sources: cameras (newest frame only), video files (every frame) and still images.

Finding, reading and decoding files (``list_images``, ``read_image``, ``opencv_name``, the image
extensions) lives in ``engine.media``, shared with the labeling tools.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from coach.errors import CameraLostError, InputError, UsageError, printable
from engine.media import MediaError, check_readable_file, ensure_bgr, open_video

_DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class Frame:
    """One frame of a source.

    Attributes:
        index: position in the source, 0-based (for cameras: frames delivered to the app).
        timestamp: seconds since the source started (video time for files).
        bgr: (H, W, 3) uint8 image.
        capture_ms: how long getting the frame took (decode time, or its age for cameras).
    """

    index: int
    timestamp: float
    bgr: np.ndarray
    capture_ms: float = 0.0


class FrameSource(Protocol):
    """What the loop reads frames from."""

    name: str
    fps: float
    live: bool
    frame_count: int | None

    def read(self) -> Frame | None:
        """Returns the next frame, or None at the end of the stream."""
        ...

    def close(self) -> None:
        """Releases the source."""
        ...


def _sane_fps(value: float) -> float:
    return value if math.isfinite(value) and 1.0 <= value <= 240.0 else _DEFAULT_FPS


class VideoFileSource:
    """Every frame of a video file, decoded ahead in a thread (nothing is dropped).

    Args:
        path: the video file.
        prefetch: how many decoded frames may wait for the loop.

    Raises:
        MediaError: missing, empty or undecodable file, or a video without frames.
    """

    live = False

    def __init__(self, path: Path | str, prefetch: int = 8) -> None:
        self.path = Path(path)
        self.name = printable(self.path.name)  # shown and stored as one plain line
        check_readable_file(self.path, "video")
        self._capture = open_video(self.path)
        if not self._capture.isOpened():
            raise MediaError(f"cannot decode video (not a video or corrupt): {self.path}")
        ok, first = self._capture.read()
        if not ok or first is None or first.size == 0:
            self._capture.release()
            raise MediaError(f"video has no decodable frames: {self.path}")
        self.fps = _sane_fps(self._capture.get(cv2.CAP_PROP_FPS))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self.size = (first.shape[1], first.shape[0])
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._decode, args=(first, self._frame_time(0, None)), name="video-decode",
            daemon=True,
        )
        self._thread.start()

    def _put(self, item: Frame | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _frame_time(self, index: int, previous: float | None) -> float:
        """Seconds of the frame just read.

        The container's timestamp, so variable-frame-rate phone videos keep their real timing;
        ``index / fps`` (or one frame after ``previous``) where it gives none or goes backwards.
        """
        milliseconds = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        if previous is None:
            return milliseconds / 1000.0 if math.isfinite(milliseconds) and \
                milliseconds >= 0 else index / self.fps
        if math.isfinite(milliseconds) and milliseconds / 1000.0 > previous:
            return milliseconds / 1000.0
        return previous + 1.0 / self.fps

    def _decode(self, first: np.ndarray, first_time: float) -> None:
        index, bgr, decode_ms, timestamp = 0, first, 0.0, first_time
        while bgr is not None:
            frame = Frame(index, timestamp, ensure_bgr(bgr), decode_ms)
            if not self._put(frame):
                return
            start = time.perf_counter()
            ok, bgr = self._capture.read()
            decode_ms = (time.perf_counter() - start) * 1000.0
            # A truncated file ends early rather than failing: what decodes is analyzed.
            bgr = bgr if ok and bgr is not None and bgr.size else None
            index += 1
            if bgr is not None:
                timestamp = self._frame_time(index, timestamp)
        self._put(None)

    def read(self) -> Frame | None:
        """Returns the next frame in order, or None after the last one (or once closed)."""
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def close(self) -> None:
        """Stops decoding and releases the file."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._capture.release()


class CameraSource:
    """A live camera; a capture thread keeps only the newest frame so latency never piles up.

    Args:
        device: camera index (``0``) or device path (``/dev/video0``).
        capture: an already-open object with ``read() -> (ok, bgr)`` and ``release()``
            (tests pass a file-backed one); opened from ``device`` when None.
        pace_fps: when set, the capture thread waits between frames to imitate a real camera.
        lost_after: consecutive failed reads after which the camera counts as lost.

    Raises:
        InputError: the camera cannot be opened or delivers no first frame.
    """

    live = True
    frame_count = None

    def __init__(
        self,
        device: int | str = 0,
        capture=None,
        pace_fps: float | None = None,
        lost_after: int = 30,
    ) -> None:
        self.device = device
        self.name = f"camera {device}"
        if capture is None:
            capture = cv2.VideoCapture(device)
            if not capture.isOpened():
                raise InputError(f"camera {device} cannot be opened (no such camera or it is busy)")
        self._capture = capture
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise InputError(f"camera {device} opened but delivers no frames")
        reported = capture.get(cv2.CAP_PROP_FPS) if hasattr(capture, "get") else 0.0
        self.fps = _sane_fps(pace_fps or reported or _DEFAULT_FPS)
        self.size = (first.shape[1], first.shape[0])
        self._pace = 1.0 / pace_fps if pace_fps else 0.0
        self._lost_after = lost_after
        self._start = time.monotonic()
        self._cond = threading.Condition()
        self._newest: tuple[np.ndarray, float] | None = (ensure_bgr(first), self._start)
        self._sequence = 1
        self._taken = 0
        self._delivered = 0
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab, name="camera-capture", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if self._pace:
                time.sleep(self._pace)
            try:
                ok, bgr = self._capture.read()
            except cv2.error:
                ok, bgr = False, None
            if not ok or bgr is None:
                failures += 1
                if failures >= self._lost_after:
                    with self._cond:
                        self._lost = True
                        self._cond.notify_all()
                    return
                continue
            failures = 0
            with self._cond:
                self._newest = (ensure_bgr(bgr), time.monotonic())
                self._sequence += 1
                self._cond.notify_all()

    def read(self) -> Frame | None:
        """Returns the newest frame not yet returned, waiting for one if needed.

        Raises:
            CameraLostError: the camera stopped delivering frames.
        """
        with self._cond:
            while self._sequence == self._taken and not self._lost:
                if self._stop.is_set():
                    return None
                self._cond.wait(timeout=0.1)
            if self._sequence == self._taken:
                raise CameraLostError(f"{self.name} stopped delivering frames (unplugged?)")
            bgr, grabbed = self._newest
            self._taken = self._sequence
        now = time.monotonic()
        frame = Frame(self._delivered, grabbed - self._start, bgr, (now - grabbed) * 1000.0)
        self._delivered += 1
        return frame

    def close(self) -> None:
        """Stops the capture thread and releases the camera."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._capture.release()


def parse_camera(value: str) -> int | str:
    """Turns ``--camera`` text into an OpenCV index (``"0"`` -> 0) or a device path.

    Raises:
        UsageError: neither a non-negative index nor a path (``abc``, ``-1``).
    """
    text = value.strip()
    if text.isdigit():
        return int(text)
    if text.startswith("/") or "://" in text:  # /dev/video0, or a stream URL OpenCV opens
        return value
    raise UsageError(f"--camera takes a camera index (0, 1, ...) or a device path "
                     f"(/dev/video0), got {value!r}")


class FrameListSource:
    """Frames already in memory, delivered in order like a video file (tests, benchmarks).

    Args:
        frames: (H, W, 3) uint8 BGR frames.
        fps: their frame rate.
        name: shown in the window title and the timeline.
    """

    live = False

    def __init__(self, frames: list[np.ndarray], fps: float = _DEFAULT_FPS,
                 name: str = "frames") -> None:
        if not frames:
            raise InputError(f"{name}: no frames")
        self.frames = frames
        self.fps = float(fps)
        self.name = name
        self.frame_count = len(frames)
        self.size = (frames[0].shape[1], frames[0].shape[0])
        self._next = 0

    def read(self) -> Frame | None:
        """Returns the next frame, or None after the last one."""
        if self._next >= len(self.frames):
            return None
        index, self._next = self._next, self._next + 1
        return Frame(index, index / self.fps, self.frames[index])

    def close(self) -> None:
        """Nothing to release."""

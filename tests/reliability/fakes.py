"""Simulated cameras for the reliability tests: ones that deliver a while and then fail.

``install_flaky_camera`` replaces ``cv2.VideoCapture`` in a ``run_coach.py`` subprocess (see
``cli.run_coach(prelude=...)``), ``flaky_camera`` in this process for a ``with`` block, so that
camera indices open a fake camera, while file paths still open real files.
"""

from __future__ import annotations

import contextlib
import time

import cv2
import numpy as np

from . import media


class FlakyCamera:
    """A camera that delivers ``frames_before_loss`` frames, then fails every read.

    Args:
        frames_before_loss: successful reads before the "cable is pulled".
        failure: ``"false"`` (``read`` returns ``(False, None)``, what OpenCV does when a USB
            camera disappears) or ``"raise"`` (``read`` raises ``cv2.error``).
        size: (w, h) of the frames.
        fps: frames per second it delivers (a real camera blocks in ``read`` until the next
            frame is exposed); the failing reads come at the same pace.
    """

    def __init__(
        self, frames_before_loss: int = 15, failure: str = "false", size=(160, 120),
        fps: float = 30.0,
    ) -> None:
        self.frames_before_loss = frames_before_loss
        self.failure = failure
        self.size = size
        self.reads = 0
        self.released = False
        self._interval = 1.0 / fps
        self._next_frame_time = time.monotonic()
        width, height = size
        self._frames = media.person_frames(8, width, height)

    def isOpened(self) -> bool:  # noqa: N802 - the OpenCV API
        return not self.released

    def read(self, *_args) -> tuple[bool, np.ndarray | None]:
        delay = self._next_frame_time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_frame_time = max(self._next_frame_time, time.monotonic()) + self._interval
        self.reads += 1
        if self.released or self.reads > self.frames_before_loss:
            if self.failure == "raise":
                raise cv2.error("camera disconnected (simulated)")
            return False, None
        return True, self._frames[self.reads % len(self._frames)].copy()

    def grab(self) -> bool:
        return self.read()[0]

    def retrieve(self, *_args):
        return self.read()

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return 30.0
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.size[0])
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.size[1])
        return 0.0

    def set(self, *_args) -> bool:
        return False

    def release(self) -> None:
        self.released = True


def install_flaky_camera(frames_before_loss: int = 15, failure: str = "false"):
    """Makes ``cv2.VideoCapture(<int>)`` open a ``FlakyCamera`` in this process.

    Returns:
        A function that puts the real ``cv2.VideoCapture`` back.
    """
    real_capture = cv2.VideoCapture

    def video_capture(source=None, *args, **kwargs):
        if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
            return FlakyCamera(frames_before_loss, failure)
        if source is None:
            return real_capture()
        return real_capture(source, *args, **kwargs)

    cv2.VideoCapture = video_capture
    return lambda: setattr(cv2, "VideoCapture", real_capture)


@contextlib.contextmanager
def flaky_camera(frames_before_loss: int = 15, failure: str = "false"):
    """``install_flaky_camera`` for the duration of a ``with`` block (in-process runs)."""
    restore = install_flaky_camera(frames_before_loss, failure)
    try:
        yield
    finally:
        restore()

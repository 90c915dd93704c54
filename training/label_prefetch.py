"""Frames and poses prepared ahead of the labeling window, in one background thread.

The labeler shows an item at once and its skeleton when the pose arrives: ``PosePrefetcher``
decodes the next items, fits them to the window (``prepare_display``) and runs the pose
back-end on those whose pose is not cached in the store yet.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.media import FrameReader
from training.label_session import Item
from training.store import CachedPose

DEFAULT_PREFETCH = 8


@dataclass
class DisplayImage:
    """A frame decoded and shrunk to the window, plus what the pose back-end needs.

    Attributes:
        bgr: (H, W, 3) uint8 frame at full size, None when it could not be read.
        display: (h, w, 3) uint8 BGR frame fitted to the image area of the window.
        scale: display pixels per frame pixel.
    """

    bgr: np.ndarray | None
    display: np.ndarray
    scale: float


def prepare_display(bgr: np.ndarray | None, area: tuple[int, int]) -> DisplayImage:
    """Fits a frame into ``area`` (width, height) of the window, keeping its aspect ratio."""
    if bgr is None:
        return DisplayImage(None, np.full((area[1] // 2, area[0] // 2, 3), 60, np.uint8), 1.0)
    height, width = bgr.shape[:2]
    scale = min(area[0] / width, area[1] / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return DisplayImage(bgr, cv2.resize(bgr, size, interpolation=interpolation), scale)


# No skeleton to show: the frame is unreadable or the back-end failed (not cached in the store;
# a back-end that ran and found nobody gives a CachedPose with keypoints None, which is cached).
NO_POSE = CachedPose(None, (0, 0))


class PosePrefetcher:
    """Reads frames and estimates poses ahead of the one shown, in one background thread.

    The thread works on the items from the focused one up to ``depth`` items ahead, nearest
    first: it decodes and fits each frame to the window and, unless a pose is already known
    (cached in the store), runs the back-end. Decoded frames outside the window around the
    focus are dropped, so memory stays bounded.

    Args:
        items: what will be shown.
        backend: a ``PoseBackend``; used only by the worker thread (None: no poses).
        area: (width, height) of the image area of the window.
        depth: how many items ahead to prepare.
        known_poses: frame id -> pose already cached in the store.
        threaded: False computes the focused item in the caller's thread instead (the
            no-prefetch baseline of the benchmark).
    """

    def __init__(
        self,
        items: Sequence[Item],
        backend,
        area: tuple[int, int],
        *,
        depth: int = DEFAULT_PREFETCH,
        known_poses: dict[int, CachedPose] | None = None,
        threaded: bool = True,
    ):
        self.items = list(items)
        self.backend = backend
        self.area = area
        self.depth = max(0, depth)
        self.poses: dict[int, CachedPose] = dict(known_poses or {})
        self.new_poses: list[tuple[int, CachedPose]] = []
        self.error: str | None = None
        self._images: OrderedDict[int, DisplayImage] = OrderedDict()
        self._focus = 0
        self._reading: int | None = None  # the item whose frame the worker is decoding
        self._stop = False
        self._condition = threading.Condition()
        self._reader = FrameReader()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._work, name="pose-prefetch", daemon=True)
            self._thread.start()

    # ----------------------------------------------------------------- called from the UI thread
    def _in_window(self, index: int) -> bool:
        """Whether a decoded frame of ``index`` is worth keeping (two behind to depth ahead)."""
        return self._focus - 2 <= index <= self._focus + self.depth

    def focus(self, index: int) -> None:
        """Makes ``index`` the item shown; the worker prepares it and the next ``depth``."""
        with self._condition:
            self._focus = index
            for stale in [i for i in self._images if not self._in_window(i)]:
                del self._images[stale]
            self._condition.notify_all()
        if self._thread is None:
            self._prepare(index)

    def image(self, index: int, wait_s: float = 0.0) -> DisplayImage | None:
        """The prepared frame of an item, or None when the worker has not read it yet.

        Args:
            index: the item.
            wait_s: when the worker is decoding this very frame, wait up to this long for it
                rather than decoding it a second time.
        """
        with self._condition:
            if index not in self._images and self._reading == index and wait_s > 0:
                self._condition.wait_for(lambda: index in self._images, wait_s)
            return self._images.get(index)

    def put_image(self, index: int, image: DisplayImage) -> None:
        """Hands a frame the UI thread read itself to the worker (so it is not read twice)."""
        with self._condition:
            if self._in_window(index):
                self._images.setdefault(index, image)
            self._condition.notify_all()

    def pose(self, index: int) -> CachedPose | None:
        """The pose of an item (``NO_POSE`` when nobody was found), None when not ready yet."""
        with self._condition:
            return self.poses.get(self.items[index].frame_id)

    def take_new_poses(self) -> list[tuple[int, CachedPose]]:
        """Poses computed since the last call, as (frame id, pose), to cache in the store."""
        with self._condition:
            taken, self.new_poses = self.new_poses, []
            return taken

    def wait_for_pose(self, index: int, timeout_s: float = 10.0) -> bool:
        """Blocks until the pose of ``index`` is known (for tests); False on timeout."""
        frame_id = self.items[index].frame_id
        with self._condition:
            return self._condition.wait_for(lambda: frame_id in self.poses, timeout_s)

    def close(self) -> None:
        """Stops the worker and releases the back-end."""
        with self._condition:
            self._stop = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._reader.close()
        if self.backend is not None:
            self.backend.close()

    # ---------------------------------------------------------------------- the worker thread
    def _next_task(self) -> int | None:
        end = min(len(self.items), self._focus + self.depth + 1)
        for index in range(self._focus, end):
            if index not in self._images:
                return index
            if self.backend is not None and self.items[index].frame_id not in self.poses:
                return index
        return None

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._stop or self._next_task() is not None)
                if self._stop:
                    return
                index = self._next_task()
            if index is not None:
                self._prepare(index)

    def _prepare(self, index: int) -> None:
        item = self.items[index]
        with self._condition:
            image = self._images.get(index)
            need_pose = self.backend is not None and item.frame_id not in self.poses
        if image is None:
            with self._condition:
                self._reading = index
            try:
                image = prepare_display(
                    self._reader.read(item.media.path, item.media.kind, item.frame_index),
                    self.area,
                )
            finally:
                with self._condition:
                    self._reading = None
                    if self._in_window(index):  # the user may have moved on meanwhile
                        image = self._images.setdefault(index, image)
                    self._condition.notify_all()
        pose = None
        if need_pose:
            pose = self._estimate(image.bgr)
        with self._condition:
            if pose is not None:
                self.poses[item.frame_id] = pose
                if pose is not NO_POSE:  # unreadable frames and back-end errors are not cached
                    self.new_poses.append((item.frame_id, pose))
            self._condition.notify_all()

    def _estimate(self, bgr: np.ndarray | None) -> CachedPose:
        if bgr is None:
            return NO_POSE
        try:
            if getattr(self.backend, "stream", False):
                self.backend.reset()  # items are unrelated photos: no tracking across them
            result = self.backend.estimate(bgr)
        except Exception as error:  # noqa: BLE001 - a failing back-end must not stop labeling
            self.error = " ".join(str(error).split()) or type(error).__name__
            return NO_POSE
        height, width = bgr.shape[:2]
        keypoints = None if result.keypoints is None else np.asarray(result.keypoints, np.float32)
        return CachedPose(keypoints, (width, height), int(result.rotation))

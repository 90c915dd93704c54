"""The labeling program: label your own photos and video frames for retraining, fast.

Usage:
    python -m training.label PATH... [--db labels.db] [--labeler NAME]

PATH is an image, a video or a folder (searched recursively). Each image and every
``--video-step``-th video frame is one item. The window shows the item with its detected
skeleton; one key labels it and moves on to the next unlabeled item:

    1 straight   2 banana   3 other_handstand   4 not_handstand   5 / u unsure
    z / Backspace undo    s / Right skip    Left back    PageUp / PageDown 10 items
    i / o  mark a video segment's in / out points, then a label key labels the whole segment
    Esc    clear the segment marks (quits when there are none)    h help    q quit

Every label is committed to the SQLite store (``training.store``) the moment the key is
pressed, so quitting, a crash or ``kill -9`` loses nothing; starting again resumes at the
first unlabeled item. Poses are computed ahead by a background thread (a bounded prefetch of
the next items, BlazePose in image mode, cached in the store): an item whose pose is not ready
yet is shown at once and its skeleton appears when the pose arrives.

The program is a ``LabelApp`` that tests and the benchmark drive one ``step()`` at a time with
events posted to pygame's queue (``SDL_VIDEODRIVER=dummy`` runs it without a screen).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from training.store import (
    DEFAULT_DB,
    STORE_LABELS,
    CachedPose,
    FrameReader,
    LabelStore,
    MediaInfo,
    StoreError,
    iter_media_files,
)

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (the environment variable above must be set first)

from coach.overlay import draw_skeleton, ui_scale  # noqa: E402
from engine.verdict import LABEL_COLORS  # noqa: E402

DEFAULT_WINDOW = (1100, 760)
STATUS_HEIGHT = 78
DEFAULT_PREFETCH = 8
DEFAULT_VIDEO_STEP = 5

KEY_LABELS: dict[int, str] = {
    pygame.K_1: "straight",
    pygame.K_KP1: "straight",
    pygame.K_2: "banana",
    pygame.K_KP2: "banana",
    pygame.K_3: "other_handstand",
    pygame.K_KP3: "other_handstand",
    pygame.K_4: "not_handstand",
    pygame.K_KP4: "not_handstand",
    pygame.K_5: "unsure",
    pygame.K_KP5: "unsure",
    pygame.K_u: "unsure",
}
HELP_LINES = (
    "1  straight            2  banana",
    "3  other_handstand     4  not_handstand",
    "5 / u  unsure",
    "z / Backspace   undo the last label",
    "s / Right       skip     Left  back",
    "PageUp / PageDown   10 items back / ahead",
    "i / o   video: mark segment in / out,",
    "        then a label key labels the segment",
    "Esc     clear segment marks (quit if none)",
    "h  this help          q  quit (all saved)",
)
assert set(KEY_LABELS.values()) == set(STORE_LABELS)


@dataclass(frozen=True)
class Item:
    """One thing to label: an image, or one frame of a video."""

    media: MediaInfo
    frame_index: int
    frame_id: int

    @property
    def name(self) -> str:
        """Short description for the window."""
        name = Path(self.media.path).name
        if self.media.kind != "video":
            return name
        seconds = self.frame_index / self.media.fps if self.media.fps else 0.0
        return f"{name}  frame {self.frame_index}  ({seconds:.2f} s)"


def _count_video_frames(path: str) -> int:
    capture = cv2.VideoCapture(path)
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def build_items(
    store: LabelStore,
    paths: Sequence[str | Path],
    *,
    video_step: int = DEFAULT_VIDEO_STEP,
    warn: Callable[[str], None] | None = None,
) -> list[Item]:
    """Registers the media under ``paths`` in the store and lists the items to label.

    Args:
        store: the label store.
        paths: files and folders.
        video_step: every this many frames of a video is one item.
        warn: called with a one-line message for each file that is skipped.

    Raises:
        StoreError: a path does not exist or is not a supported file.
    """
    report = warn if warn is not None else (lambda text: None)
    medias = store.add_media_many(
        list(iter_media_files(paths)), on_error=lambda error: report(f"skipped: {error}")
    )
    wanted: list[tuple[MediaInfo, int]] = []
    for media in medias:
        if media.kind == "image":
            wanted.append((media, 0))
            continue
        count = media.frame_count or _count_video_frames(media.path)
        if count <= 0:
            report(f"skipped: {media.path}: no frames")
        wanted.extend((media, index) for index in range(0, count, max(1, video_step)))
    frame_ids = store.frame_ids_many(wanted)
    items = [
        Item(media, index, frame_id)
        for (media, index), frame_id in zip(wanted, frame_ids, strict=True)
    ]
    return items


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


@dataclass
class SessionStats:
    """What the session did, for the window and the benchmark.

    Attributes:
        labels_made: label actions in this session (undo subtracts).
        items_labeled: items labeled in this session (a segment counts each frame).
        pose_ready_when_shown: per first showing of an item, whether its pose was ready.
        started: clock time the session started.
    """

    labels_made: int = 0
    items_labeled: int = 0
    pose_ready_when_shown: list[bool] = field(default_factory=list)
    started: float = 0.0


class LabelApp:
    """The labeling window, drivable one ``step()`` at a time.

    Args:
        store: the label store (labels are committed through it).
        items: what to label (see ``build_items``).
        backend: a ``PoseBackend`` for skeletons (None: no skeletons).
        labeler: name stored with each label.
        prefetch: how many items ahead the worker prepares.
        threaded_prefetch: False computes poses in the UI thread (benchmark baseline).
        window_size: (width, height) of the window.
        clock: seconds, monotonic (injectable for simulated time).
    """

    def __init__(
        self,
        store: LabelStore,
        items: Sequence[Item],
        backend=None,
        *,
        labeler: str | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        threaded_prefetch: bool = True,
        window_size: tuple[int, int] = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not items:
            raise StoreError("nothing to label: no images or videos found")
        self.store = store
        self.items = list(items)
        self.labeler = labeler
        self.clock = clock
        self.window_size = window_size
        self.area = (window_size[0], window_size[1] - STATUS_HEIGHT)
        self.frame_index_of = {item.frame_id: i for i, item in enumerate(self.items)}
        self.items_of_media: dict[int, list[int]] = {}
        for index, item in enumerate(self.items):
            self.items_of_media.setdefault(item.media.id, []).append(index)
        current = store.current_label_map()
        self.labels: dict[int, str] = {
            item.frame_id: current[item.frame_id]
            for item in self.items
            if item.frame_id in current
        }
        known: dict[int, CachedPose] = {}
        if backend is not None:
            for item in self.items:
                cached = store.get_pose(item.frame_id, backend.name, str(backend.version))
                if cached is not None:
                    known[item.frame_id] = cached if cached.keypoints is not None else NO_POSE
        self.backend_id = (backend.name, str(backend.version)) if backend is not None else None
        self.prefetcher = PosePrefetcher(
            self.items,
            backend,
            self.area,
            depth=prefetch,
            known_poses=known,
            threaded=threaded_prefetch,
        )
        self.undo_stack: list[tuple[int, list[int]]] = []  # (action, frame ids)
        self.mark_in: int | None = None
        self.mark_out: int | None = None
        self.show_help = False
        self.running = True
        self.message = ""
        self.stats = SessionStats(started=clock())
        self._shown: set[int] = set()
        self._dirty = True
        self._display_index = -1
        self._reader = FrameReader()
        pygame.display.init()
        pygame.font.init()
        try:
            self.screen = pygame.display.set_mode(window_size)
        except pygame.error as error:
            self.prefetcher.close()
            raise StoreError(f"cannot open a window: {error}") from None
        pygame.display.set_caption("formcoach labeling")
        pygame.key.set_repeat(0)
        self.font = pygame.font.Font(None, 24)
        self.big_font = pygame.font.Font(None, 34)
        self.index = self.first_unlabeled(0)
        self._go(self.index if self.index is not None else 0)

    # ----------------------------------------------------------------------------- navigation
    def first_unlabeled(self, start: int) -> int | None:
        """Index of the first item at or after ``start`` without a label (wrapping), or None."""
        count = len(self.items)
        for offset in range(count):
            index = (start + offset) % count
            if self.items[index].frame_id not in self.labels:
                return index
        return None

    @property
    def labeled_count(self) -> int:
        """How many of the items have a label (from any session)."""
        return len(self.labels)

    def _go(self, index: int) -> None:
        self.index = int(np.clip(index, 0, len(self.items) - 1))
        self.prefetcher.focus(self.index)
        self._dirty = True

    def _segment(self) -> list[int]:
        """Indices the next label applies to: the marked segment, or just the current item."""
        if self.mark_in is None and self.mark_out is None:
            return [self.index]
        anchor = self.mark_in if self.mark_in is not None else self.mark_out
        other = self.mark_out if self.mark_in is not None and self.mark_out is not None else None
        end = other if other is not None else self.index
        media_id = self.items[anchor].media.id
        low, high = sorted((anchor, end))
        return [i for i in range(low, high + 1) if self.items[i].media.id == media_id]

    # -------------------------------------------------------------------------------- actions
    def label(self, label: str) -> None:
        """Labels the current item (or the marked segment), commits, and moves on."""
        indices = self._segment()
        frame_ids = [self.items[i].frame_id for i in indices]
        try:
            action = self.store.add_label(frame_ids, label, labeler=self.labeler)
        except StoreError as error:
            # Nothing was written; stay on the item so the user can press the key again.
            self.message = f"NOT SAVED: {error}"
            self._dirty = True
            return
        self.undo_stack.append((action, frame_ids))
        for frame_id in frame_ids:
            self.labels[frame_id] = label
        self.stats.labels_made += 1
        self.stats.items_labeled += len(frame_ids)
        self.mark_in = self.mark_out = None
        segment = f" ({len(frame_ids)} frames)" if len(frame_ids) > 1 else ""
        self.message = f"{label}{segment} saved"
        following = self.first_unlabeled(max(indices) + 1)
        self._go(following if following is not None else max(indices) + 1)

    def undo(self) -> None:
        """Removes the last label made in this session and shows its item again."""
        if not self.undo_stack:
            self.message = "nothing to undo"
            self._dirty = True
            return
        action, frame_ids = self.undo_stack[-1]
        try:
            self.store.undo(action)
        except StoreError as error:
            self.message = f"NOT UNDONE: {error}"
            self._dirty = True
            return
        self.undo_stack.pop()
        for frame_id in frame_ids:
            previous = self.store.current_label(frame_id)
            if previous is None:
                self.labels.pop(frame_id, None)
            else:
                self.labels[frame_id] = previous
        self.stats.labels_made -= 1
        self.stats.items_labeled -= len(frame_ids)
        self.message = f"undid the label of {len(frame_ids)} item(s)"
        self._go(self.frame_index_of[frame_ids[0]])

    def mark(self, which: str) -> None:
        """Marks the current video frame as the segment's in (``"in"``) or out point."""
        item = self.items[self.index]
        if item.media.kind != "video":
            self.message = "in/out points are for video frames"
        else:
            other = self.mark_out if which == "in" else self.mark_in
            if other is not None and self.items[other].media.id != item.media.id:
                self.mark_in = self.mark_out = None
            if which == "in":
                self.mark_in = self.index
            else:
                self.mark_out = self.index
            count = len(self._segment())
            self.message = f"segment: {count} frames; press a label key to label them all"
        self._dirty = True

    def handle_event(self, event: pygame.event.Event) -> None:
        """Applies one pygame event (key presses, window close)."""
        if event.type == pygame.QUIT:
            self.running = False
            return
        if event.type == pygame.VIDEOEXPOSE or event.type == pygame.WINDOWEXPOSED:
            self._dirty = True
            return
        if event.type != pygame.KEYDOWN:
            return
        key = event.key
        if key in KEY_LABELS:
            self.label(KEY_LABELS[key])
        elif key in (pygame.K_z, pygame.K_BACKSPACE):
            self.undo()
        elif key in (pygame.K_s, pygame.K_RIGHT):
            self._go(self.index + 1)
        elif key == pygame.K_LEFT:
            self._go(self.index - 1)
        elif key == pygame.K_PAGEDOWN:
            self._go(self.index + 10)
        elif key == pygame.K_PAGEUP:
            self._go(self.index - 10)
        elif key == pygame.K_i:
            self.mark("in")
        elif key == pygame.K_o:
            self.mark("out")
        elif key == pygame.K_h:
            self.show_help = not self.show_help
            self._dirty = True
        elif key == pygame.K_ESCAPE:
            if self.mark_in is not None or self.mark_out is not None:
                self.mark_in = self.mark_out = None
                self.message = "segment cleared"
                self._dirty = True
            else:
                self.running = False
        elif key == pygame.K_q:
            self.running = False

    # ------------------------------------------------------------------------------- the loop
    def step(self) -> bool:
        """Handles queued events, caches finished poses, redraws if needed.

        Returns:
            False once the user quit.
        """
        for event in pygame.event.get():
            self.handle_event(event)
            if not self.running:
                return False
        new_poses = self.prefetcher.take_new_poses()
        if new_poses and self.backend_id is not None:
            # Poses are only a cache: if the store refuses them they are computed next time.
            with contextlib.suppress(StoreError):
                self.store.put_poses(
                    [(frame_id, pose.keypoints, pose.image_size, pose.rotation)
                     for frame_id, pose in new_poses],
                    *self.backend_id,
                )
            if any(frame_id == self.items[self.index].frame_id for frame_id, _ in new_poses):
                self._dirty = True
        if self.index not in self._shown:
            self._shown.add(self.index)
            self.stats.pose_ready_when_shown.append(self.prefetcher.pose(self.index) is not None)
        if self._dirty:
            self.draw()
            pygame.display.flip()
            self._dirty = False
        return True

    def run(self, fps: int = 60) -> None:
        """Runs until the user quits."""
        ticker = pygame.time.Clock()
        while self.step():
            ticker.tick(fps)

    def close(self) -> None:
        """Stops the prefetch thread; labels are already committed."""
        self.prefetcher.close()
        self._reader.close()
        pygame.display.quit()

    # ------------------------------------------------------------------------------- drawing
    def _current_image(self) -> DisplayImage:
        image = self.prefetcher.image(self.index, wait_s=0.5)
        if image is None:
            # Not prefetched (a jump): read it here, it is quick; the pose follows later.
            item = self.items[self.index]
            image = prepare_display(
                self._reader.read(item.media.path, item.media.kind, item.frame_index), self.area
            )
            self.prefetcher.put_image(self.index, image)
        return image

    def labels_per_minute(self) -> float:
        """Labeled items per minute of this session."""
        minutes = max(self.clock() - self.stats.started, 1e-6) / 60.0
        return self.stats.items_labeled / minutes

    def draw(self) -> None:
        """Draws the current item, its skeleton, the status bar and the help."""
        self.screen.fill((25, 25, 28))
        item = self.items[self.index]
        image = self._current_image()
        pose = self.prefetcher.pose(self.index)
        canvas = image.display.copy()
        if pose is not None and pose.keypoints is not None:
            keypoints = pose.keypoints.copy()
            keypoints[:, :2] *= image.scale
            draw_skeleton(canvas, keypoints, ui_scale(canvas.shape[1], canvas.shape[0]))
        height, width = canvas.shape[:2]
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
        surface = pygame.image.frombuffer(rgb, (width, height), "RGB")  # shares rgb's memory
        origin = ((self.area[0] - width) // 2, (self.area[1] - height) // 2)
        self.screen.blit(surface, origin)
        if image.bgr is None:
            self._text("cannot read this file: skip it (s) or label it", (20, 20), (255, 120, 90))
        if item.media.kind == "video":
            self._draw_timeline(item)
        self._draw_status(item, pose, image)
        if self.show_help:
            self._draw_help()

    def _text(self, text: str, at: tuple[int, int], color=(235, 235, 235), font=None) -> None:
        rendered = (font or self.font).render(text, True, color)
        self.screen.blit(rendered, at)

    def _draw_status(self, item: Item, pose: CachedPose | None, image: DisplayImage) -> None:
        top = self.window_size[1] - STATUS_HEIGHT
        pygame.draw.rect(self.screen, (40, 40, 46), (0, top, self.window_size[0], STATUS_HEIGHT))
        current = self.labels.get(item.frame_id)
        if current:
            color = LABEL_COLORS.get(current, (200, 200, 200))
            tag = self.big_font.render(current.upper(), True, (255, 255, 255))
            box = tag.get_rect(topleft=(12, 12)).inflate(16, 10)
            pygame.draw.rect(self.screen, color, box, border_radius=6)
            self.screen.blit(tag, (box.x + 8, box.y + 5))
        if self.backend_id is None:
            pose_text = "no pose back-end"
        elif image.bgr is None:
            pose_text = "unreadable"
        elif pose is None:
            pose_text = "pose: computing..."
        elif pose.keypoints is None:
            pose_text = "pose: no person found"
        else:
            pose_text = "pose: ok" + (" (upside down)" if pose.rotation == 180 else "")
        line = (
            f"item {self.index + 1} / {len(self.items)}   labeled {self.labeled_count} / "
            f"{len(self.items)}   {self.labels_per_minute():.1f} labels/min   {pose_text}"
        )
        self._text(item.name, (12, top + 6))
        self._text(line, (12, top + 29))
        marks = []
        if self.mark_in is not None:
            marks.append(f"in: frame {self.items[self.mark_in].frame_index}")
        if self.mark_out is not None:
            marks.append(f"out: frame {self.items[self.mark_out].frame_index}")
        hint = "   ".join(marks) if marks else self.message
        failed = self.message.startswith("NOT ")
        if failed:
            hint = self.message
        elif self.prefetcher.error:
            hint = f"pose back-end error: {self.prefetcher.error}"
        self._text(
            (hint + "   |   " if hint else "")
            + "1 straight 2 banana 3 other 4 not 5/u unsure  z undo  s skip  h help  q quit",
            (12, top + 52),
            (255, 110, 90) if failed else (190, 190, 200),
        )
        if self.first_unlabeled(0) is None:
            self._text(
                f"all {len(self.items)} items labeled - q to quit, Left to review",
                (12, 56),
                (140, 240, 140),
                self.big_font,
            )

    def _draw_timeline(self, item: Item) -> None:
        """A strip under the video frame: its items coloured by label, marks and position."""
        indices = self.items_of_media[item.media.id]
        left, width = 12, self.area[0] - 24
        top, height = self.area[1] - 16, 10
        step = width / len(indices)
        for slot, index in enumerate(indices):
            label = self.labels.get(self.items[index].frame_id)
            color = LABEL_COLORS.get(label, (70, 70, 76)) if label else (70, 70, 76)
            x0, x1 = left + round(slot * step), left + round((slot + 1) * step)
            pygame.draw.rect(self.screen, color, (x0, top, max(1, x1 - x0), height))
        for mark in (self.mark_in, self.mark_out):
            if mark is not None and mark in indices:
                x = left + round((indices.index(mark) + 0.5) * step)
                pygame.draw.line(self.screen, (255, 220, 60), (x, top - 5), (x, top + height + 4),
                                 3)
        x = left + round((indices.index(self.index) + 0.5) * step)
        pygame.draw.polygon(
            self.screen, (255, 255, 255), [(x, top - 1), (x - 6, top - 9), (x + 6, top - 9)]
        )

    def _draw_help(self) -> None:
        width, height = 470, 40 + 26 * len(HELP_LINES)
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill((0, 0, 0, 205))
        left = (self.window_size[0] - width) // 2
        top = (self.window_size[1] - STATUS_HEIGHT - height) // 2
        self.screen.blit(panel, (left, top))
        self._text("keys", (left + 16, top + 10), (255, 220, 120))
        for row, text in enumerate(HELP_LINES):
            self._text(text, (left + 16, top + 36 + 26 * row))


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 320 or height < 240:
        raise argparse.ArgumentTypeError("the window must be at least 320x240")
    return width, height


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.label",
        description=(
            "Label handstand photos and video frames for retraining. Each key press is saved "
            "at once to the label store; run it again to continue where you left off. "
            "Keys: 1 straight, 2 banana, 3 other_handstand, 4 not_handstand, 5/u unsure, "
            "z undo, s/Right skip, Left back, i/o video segment in/out, h help, q quit."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="images, videos or folders")
    parser.add_argument("--db", default=str(DEFAULT_DB), help="label store (default labels.db)")
    parser.add_argument("--labeler", default=None, help="your name, stored with each label")
    parser.add_argument(
        "--video-step", type=int, default=DEFAULT_VIDEO_STEP,
        help=f"label every N-th video frame (default {DEFAULT_VIDEO_STEP})",
    )
    parser.add_argument(
        "--prefetch", type=int, default=DEFAULT_PREFETCH,
        help=f"items whose pose is computed ahead (default {DEFAULT_PREFETCH})",
    )
    parser.add_argument("--no-pose", action="store_true", help="do not detect skeletons")
    parser.add_argument(
        "--size", type=_parse_size, default=DEFAULT_WINDOW, metavar="WxH",
        help="window size (default {}x{})".format(*DEFAULT_WINDOW),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = _parse_args(argv)
    app = None
    try:
        with LabelStore(args.db) as store:
            items = build_items(
                store, args.paths, video_step=args.video_step,
                warn=lambda text: print(text, file=sys.stderr),
            )
            backend = None
            if not args.no_pose:
                from engine.pose.base import PoseBackendError
                from engine.pose.blazepose import BlazePoseBackend

                try:
                    backend = BlazePoseBackend(stream=False)
                except PoseBackendError as error:
                    print(f"warning: no skeletons ({error})", file=sys.stderr)
            app = LabelApp(
                store, items, backend, labeler=args.labeler, prefetch=args.prefetch,
                window_size=args.size,
            )
            app.run()
            print(
                f"labeled {app.stats.items_labeled} items this session; "
                f"{app.labeled_count} / {len(items)} labeled in {args.db}"
            )
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; every label made so far is saved", file=sys.stderr)
        return 130
    finally:
        if app is not None:
            app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

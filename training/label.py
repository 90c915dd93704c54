"""The labeling program: label your own photos and video frames for retraining, fast.

Usage:
    python -m training.label PATH... [--db labels.db] [--labeler NAME]

PATH is an image, a video or a folder (searched recursively). Each image and every
``--video-step``-th video frame is one item. The window shows the item with its detected
skeleton; one key labels it and moves on to the next unlabeled item. The keys are declared
once, in ``training.label_session.KEYS`` (the help screen, ``--help`` and the README's key list
come from it).

Every label is committed to the SQLite store (``training.store``) the moment the key is
pressed, so quitting, a crash or ``kill -9`` loses nothing; starting again resumes at the
first unlabeled item. Poses are computed ahead by a background thread
(``training.label_prefetch``: a bounded prefetch of the next items, BlazePose in image mode,
cached in the store): an item whose pose is not ready yet is shown at once and its skeleton
appears when the pose arrives.

What a key does to the labels lives in ``training.label_session.LabelSession`` (no window);
``LabelWindow`` here only shows it. Tests and the benchmark drive the window one ``step()`` at a
time with events posted to pygame's queue (``SDL_VIDEODRIVER=dummy`` runs it without a screen).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

import cv2

from engine.draw import draw_skeleton, ui_scale
from engine.media import FrameReader, MediaError
from engine.verdict import LABEL_COLORS
from training.label_prefetch import (
    DEFAULT_PREFETCH,
    NO_POSE,
    DisplayImage,
    PosePrefetcher,
    prepare_display,
)
from training.label_session import (
    DEFAULT_VIDEO_STEP,
    KEYS,
    Item,
    KeyBinding,
    LabelSession,
    build_items,
    key_summary,
)
from training.store import DEFAULT_DB, CachedPose, LabelStore, StoreError

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (the environment variable above must be set first)

DEFAULT_WINDOW = (1100, 760)
STATUS_HEIGHT = 78



class LabelWindow:
    """The pygame window over a ``LabelSession``, drivable one ``step()`` at a time.

    Args:
        session: the labels and the queue of items.
        backend: a ``PoseBackend`` for skeletons (None: no skeletons).
        prefetch: how many items ahead the worker prepares.
        threaded_prefetch: False computes poses in the UI thread (benchmark baseline).
        window_size: (width, height) of the window.

    Raises:
        StoreError: the window cannot be opened.
    """

    def __init__(
        self,
        session: LabelSession,
        backend=None,
        *,
        prefetch: int = DEFAULT_PREFETCH,
        threaded_prefetch: bool = True,
        window_size: tuple[int, int] = DEFAULT_WINDOW,
    ):
        self.session = session
        self.window_size = window_size
        self.area = (window_size[0], window_size[1] - STATUS_HEIGHT)
        store = session.store
        known: dict[int, CachedPose] = {}
        if backend is not None:
            for item in session.items:
                cached = store.get_pose(item.frame_id, backend.name, str(backend.version))
                if cached is not None:
                    known[item.frame_id] = cached if cached.keypoints is not None else NO_POSE
        self.backend_id = (backend.name, str(backend.version)) if backend is not None else None
        self.prefetcher = PosePrefetcher(
            session.items,
            backend,
            self.area,
            depth=prefetch,
            known_poses=known,
            threaded=threaded_prefetch,
        )
        self.show_help = False
        self.running = True
        self._shown: set[int] = set()
        self._dirty = True
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
        self.bindings: dict[int, KeyBinding] = {
            pygame.key.key_code(name): binding for binding in KEYS for name in binding.keys
        }
        self.prefetcher.focus(session.index)

    # -------------------------------------------------------------------------------- events
    def handle_event(self, event: pygame.event.Event) -> None:
        """Applies one pygame event (key presses, window close)."""
        if event.type == pygame.QUIT:
            self.running = False
            return
        if event.type in (pygame.VIDEOEXPOSE, pygame.WINDOWEXPOSED):
            self._dirty = True
            return
        if event.type != pygame.KEYDOWN or event.key not in self.bindings:
            return
        binding = self.bindings[event.key]
        self._dirty = True
        if binding.command == "help":
            self.show_help = not self.show_help
        elif binding.command == "quit":
            self.running = False
        elif binding.command == "escape":
            if not self.session.clear_marks():
                self.running = False
        else:
            self.session.run(binding.command, binding.argument)
            self.prefetcher.focus(self.session.index)

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
        session = self.session
        new_poses = self.prefetcher.take_new_poses()
        if new_poses and self.backend_id is not None:
            # Poses are only a cache: if the store refuses them they are computed next time.
            with contextlib.suppress(StoreError):
                session.store.put_poses(
                    [(frame_id, pose.keypoints, pose.image_size, pose.rotation)
                     for frame_id, pose in new_poses],
                    *self.backend_id,
                )
            if any(frame_id == session.item.frame_id for frame_id, _ in new_poses):
                self._dirty = True
        if session.index not in self._shown:
            self._shown.add(session.index)
            session.stats.pose_ready_when_shown.append(
                self.prefetcher.pose(session.index) is not None
            )
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
        index = self.session.index
        image = self.prefetcher.image(index, wait_s=0.5)
        if image is None:
            # Not prefetched (a jump): read it here, it is quick; the pose follows later.
            item = self.session.item
            image = prepare_display(
                self._reader.read(item.media.path, item.media.kind, item.frame_index), self.area
            )
            self.prefetcher.put_image(index, image)
        return image

    def draw(self) -> None:
        """Draws the current item, its skeleton, the status bar and the help."""
        self.screen.fill((25, 25, 28))
        item = self.session.item
        image = self._current_image()
        pose = self.prefetcher.pose(self.session.index)
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
        session = self.session
        top = self.window_size[1] - STATUS_HEIGHT
        pygame.draw.rect(self.screen, (40, 40, 46), (0, top, self.window_size[0], STATUS_HEIGHT))
        current = session.labels.get(item.frame_id)
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
        count = len(session.items)
        line = (
            f"item {session.index + 1} / {count}   labeled {session.labeled_count} / "
            f"{count}   {session.labels_per_minute():.1f} labels/min   {pose_text}"
        )
        why = session.why.get(item.frame_id)
        self._text(item.name + (f"   {why}" if why else ""), (12, top + 6))
        self._text(line, (12, top + 29))
        marks = []
        if session.mark_in is not None:
            marks.append(f"in: frame {session.items[session.mark_in].frame_index}")
        if session.mark_out is not None:
            marks.append(f"out: frame {session.items[session.mark_out].frame_index}")
        hint = "   ".join(marks) if marks else session.message
        failed = session.message.startswith("NOT ")
        if failed:
            hint = session.message
        elif self.prefetcher.error:
            hint = f"pose back-end error: {self.prefetcher.error}"
        self._text(
            (hint + "   |   " if hint else "") + key_summary(),
            (12, top + 52),
            (255, 110, 90) if failed else (190, 190, 200),
        )
        if session.first_unlabeled(0) is None:
            self._text(
                f"all {count} items labeled - q to quit, Left to review",
                (12, 56),
                (140, 240, 140),
                self.big_font,
            )

    def _draw_timeline(self, item: Item) -> None:
        """A strip under the video frame: its items coloured by label, marks and position."""
        session = self.session
        indices = session.items_of_media[item.media.id]
        left, width = 12, self.area[0] - 24
        top, height = self.area[1] - 16, 10
        step = width / len(indices)
        for slot, index in enumerate(indices):
            label = session.labels.get(session.items[index].frame_id)
            color = LABEL_COLORS.get(label, (70, 70, 76)) if label else (70, 70, 76)
            x0, x1 = left + round(slot * step), left + round((slot + 1) * step)
            pygame.draw.rect(self.screen, color, (x0, top, max(1, x1 - x0), height))
        for mark in (session.mark_in, session.mark_out):
            if mark is not None and mark in indices:
                x = left + round((indices.index(mark) + 0.5) * step)
                pygame.draw.line(self.screen, (255, 220, 60), (x, top - 5), (x, top + height + 4),
                                 3)
        x = left + round((indices.index(session.index) + 0.5) * step)
        pygame.draw.polygon(
            self.screen, (255, 255, 255), [(x, top - 1), (x - 6, top - 9), (x + 6, top - 9)]
        )

    def _draw_help(self) -> None:
        keys_width = max(self.font.size(binding.shown)[0] for binding in KEYS) + 24
        does_width = max(self.font.size(binding.does)[0] for binding in KEYS)
        width = min(self.window_size[0] - 20, 32 + keys_width + does_width)
        height = 40 + 24 * len(KEYS)
        panel = pygame.Surface((width, height), pygame.SRCALPHA)
        panel.fill((0, 0, 0, 205))
        left = (self.window_size[0] - width) // 2
        top = max(0, (self.window_size[1] - STATUS_HEIGHT - height) // 2)
        self.screen.blit(panel, (left, top))
        self._text("keys", (left + 16, top + 10), (255, 220, 120))
        for row, binding in enumerate(KEYS):
            y = top + 36 + 24 * row
            self._text(binding.shown, (left + 16, y), (255, 220, 120))
            self._text(binding.does, (left + 16 + keys_width, y))


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
            f"Keys: {key_summary()} (h in the window lists them all)."
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
        "--suggest", action="store_true",
        help="ask first about the items the form model is least sure of: entropy of its "
             "probabilities plus disagreement between the pose as found, turned 180 deg and "
             "mirrored (the window shows each item's figures; poses are computed first)",
    )
    parser.add_argument(
        "--weights", default=None,
        help="form model for --suggest (default: the shipped weights/form_handstand.pt)",
    )
    parser.add_argument(
        "--size", type=_parse_size, default=DEFAULT_WINDOW, metavar="WxH",
        help="window size (default {}x{})".format(*DEFAULT_WINDOW),
    )
    return parser.parse_args(argv)


def _suggest_model(weights: str | None):
    """The form model ``--suggest`` ranks with (loaded before BlazePose starts, to fail fast)."""
    from engine.form import DEFAULT_FORM_WEIGHTS, FormModelError, load_form_model

    try:
        return load_form_model(weights or DEFAULT_FORM_WEIGHTS)
    except FormModelError as error:
        raise StoreError(f"--suggest: {error}") from None


def _suggest(store: LabelStore, items: list[Item], classifier, backend):
    """Items in the order ``--suggest`` asks for them, and why (``training.suggest``)."""
    from training.suggest import suggest_items

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rsuggest: pose {done}/{total}", end=end, file=sys.stderr, flush=True)

    return suggest_items(store, items, classifier, backend, progress=show)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = _parse_args(argv)
    if args.suggest and args.no_pose:
        print("error: --suggest needs poses (leave out --no-pose)", file=sys.stderr)
        return 2
    window = None
    try:
        with LabelStore(args.db) as store:
            items = build_items(
                store, args.paths, video_step=args.video_step,
                warn=lambda text: print(text, file=sys.stderr),
            )
            classifier = _suggest_model(args.weights) if args.suggest else None
            backend = None
            if not args.no_pose:
                from engine.pose.base import PoseBackendError
                from engine.pose.blazepose import BlazePoseBackend

                try:
                    backend = BlazePoseBackend(stream=False)
                except PoseBackendError as error:
                    if args.suggest:
                        raise StoreError(f"--suggest needs poses: {error}") from None
                    print(f"warning: no skeletons ({error})", file=sys.stderr)
            why = None
            if args.suggest:
                items, why = _suggest(store, items, classifier, backend)
            session = LabelSession(store, items, labeler=args.labeler, why=why)
            window = LabelWindow(session, backend, prefetch=args.prefetch, window_size=args.size)
            window.run()
            print(
                f"labeled {session.stats.items_labeled} items this session; "
                f"{session.labeled_count} / {len(items)} labeled in {args.db}"
            )
    except (StoreError, MediaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; every label made so far is saved", file=sys.stderr)
        return 130
    finally:
        if window is not None:
            window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a labeling session does, without a window: items, labels, undo, segments, resume.

``LabelSession`` holds the queue of items (images and sampled video frames, see
``build_items``), the labels already in the store, the undo stack of this session and the
in/out marks of a video segment. Every label is committed to the store (``training.store``)
before the call returns, so a crash loses nothing; a new session over the same items resumes
at the first unlabeled one. ``training.label.LabelWindow`` shows the session and turns key
presses into its commands through ``KEYS``, the one table of keys (it also drives the help
screen, the ``--help`` text and the README's key list, see ``key_table_markdown``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.media import count_frames, iter_media_files
from training.store import STORE_LABELS, LabelStore, MediaInfo, StoreError

DEFAULT_VIDEO_STEP = 5


@dataclass(frozen=True)
class KeyBinding:
    """One command of the labeling window and the keys that give it.

    Attributes:
        keys: pygame key names (``pygame.key.key_code`` turns them into key codes).
        shown: the keys as the help screen and the README write them.
        command: ``label``, ``undo``, ``move``, ``mark`` (session commands, see
            ``LabelSession.run``) or ``escape``, ``help``, ``quit`` (handled by the window).
        argument: the label, the number of items to move, or ``in``/``out``.
        does: what the key does, for the help screen and the README.
        hint: a short reminder for the window's status line ("" leaves it out there).
    """

    keys: tuple[str, ...]
    shown: str
    command: str
    argument: str | int | None
    does: str
    hint: str = ""


KEYS: tuple[KeyBinding, ...] = (
    KeyBinding(("1", "[1]"), "1", "label", "straight", "straight", "1 straight"),
    KeyBinding(("2", "[2]"), "2", "label", "banana", "banana", "2 banana"),
    KeyBinding(("3", "[3]"), "3", "label", "other_handstand",
               "other_handstand (pike, straddle, tuck, split, kick-up)", "3 other"),
    KeyBinding(("4", "[4]"), "4", "label", "not_handstand", "not_handstand", "4 not"),
    KeyBinding(("5", "[5]", "u"), "5 / u", "label", "unsure", "unsure (kept out of training)",
               "5/u unsure"),
    KeyBinding(("z", "backspace"), "z / Backspace", "undo", None, "undo the last label",
               "z undo"),
    KeyBinding(("s", "right"), "s / Right", "move", 1, "skip to the next item", "s skip"),
    KeyBinding(("left",), "Left", "move", -1, "go back one item"),
    KeyBinding(("page down",), "PageDown", "move", 10, "10 items ahead"),
    KeyBinding(("page up",), "PageUp", "move", -10, "10 items back"),
    KeyBinding(("i",), "i", "mark", "in", "video: mark a segment's in point"),
    KeyBinding(("o",), "o", "mark", "out",
               "video: mark its out point; the next label key labels every item in it"),
    KeyBinding(("escape",), "Esc", "escape", None,
               "clear the segment marks (quits when there are none)"),
    KeyBinding(("h",), "h", "help", None, "key help on / off", "h help"),
    KeyBinding(("q",), "q", "quit", None, "quit (every label is already saved)", "q quit"),
)
assert {key.argument for key in KEYS if key.command == "label"} == set(STORE_LABELS)


def key_table_markdown() -> str:
    """The README's key list: a markdown table of ``KEYS``."""
    rows = ["| key | does |", "|---|---|"]
    rows += [f"| {key.shown} | {key.does} |" for key in KEYS]
    return "\n".join(rows)


def key_summary() -> str:
    """The keys in one line (the status line, ``--help``)."""
    return "  ".join(key.hint for key in KEYS if key.hint)


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
        MediaError: a path does not exist or is not a supported file.
        StoreError: the store cannot be written.
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
        count = media.frame_count or count_frames(Path(media.path))
        if count <= 0:
            report(f"skipped: {media.path}: no frames")
        wanted.extend((media, index) for index in range(0, count, max(1, video_step)))
    frame_ids = store.frame_ids_many(wanted)
    return [
        Item(media, index, frame_id)
        for (media, index), frame_id in zip(wanted, frame_ids, strict=True)
    ]


@dataclass
class SessionStats:
    """What the session did, for the window and the benchmark.

    Attributes:
        labels_made: label actions in this session (undo subtracts).
        items_labeled: items labeled in this session (a segment counts each frame).
        pose_ready_when_shown: per first showing of an item, whether its pose was ready
            (filled by the window).
        started: clock time the session started.
    """

    labels_made: int = 0
    items_labeled: int = 0
    pose_ready_when_shown: list[bool] = field(default_factory=list)
    started: float = 0.0


class LabelSession:
    """Labels, undo, segments and navigation over a list of items; no window.

    Args:
        store: the label store (labels are committed through it).
        items: what to label, in the order shown (see ``build_items``).
        labeler: name stored with each label.
        clock: seconds, monotonic (injectable for simulated time).
        why: frame id -> why the item is where it is in the queue (``--suggest``, see
            ``training.suggest``), shown with the item.

    Raises:
        StoreError: there is nothing to label, or the store cannot be read.
    """

    def __init__(
        self,
        store: LabelStore,
        items: Sequence[Item],
        *,
        labeler: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        why: dict[int, str] | None = None,
    ):
        if not items:
            raise StoreError("nothing to label: no images or videos found")
        self.store = store
        self.items = list(items)
        self.labeler = labeler
        self.clock = clock
        self.why = dict(why or {})
        self.position_of = {item.frame_id: i for i, item in enumerate(self.items)}
        self.items_of_media: dict[int, list[int]] = {}
        for index, item in enumerate(self.items):
            self.items_of_media.setdefault(item.media.id, []).append(index)
        current = store.current_label_map()
        self.labels: dict[int, str] = {
            item.frame_id: current[item.frame_id]
            for item in self.items
            if item.frame_id in current
        }
        self.undo_stack: list[tuple[int, list[int]]] = []  # (action, frame ids)
        self.mark_in: int | None = None
        self.mark_out: int | None = None
        self.message = ""
        self.stats = SessionStats(started=clock())
        first = self.first_unlabeled(0)
        self.index = 0
        self.go(first if first is not None else 0)

    # ----------------------------------------------------------------------------- navigation
    @property
    def item(self) -> Item:
        """The item shown."""
        return self.items[self.index]

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

    def go(self, index: int) -> None:
        """Shows item ``index`` (clipped to the list)."""
        self.index = min(max(int(index), 0), len(self.items) - 1)

    def move(self, steps: int) -> None:
        """Moves ``steps`` items ahead (negative: back)."""
        self.go(self.index + steps)

    def segment(self) -> list[int]:
        """Indices the next label applies to: the marked segment, or just the current item."""
        if self.mark_in is None and self.mark_out is None:
            return [self.index]
        anchor = self.mark_in if self.mark_in is not None else self.mark_out
        other = self.mark_out if self.mark_in is not None and self.mark_out is not None else None
        end = other if other is not None else self.index
        media_id = self.items[anchor].media.id
        low, high = sorted((anchor, end))
        return [i for i in range(low, high + 1) if self.items[i].media.id == media_id]

    # -------------------------------------------------------------------------------- commands
    def label(self, label: str) -> bool:
        """Labels the current item (or the marked segment), commits, and moves on.

        Returns:
            Whether the label was saved (if not, ``message`` says why and the item stays).
        """
        indices = self.segment()
        frame_ids = [self.items[i].frame_id for i in indices]
        try:
            action = self.store.add_label(frame_ids, label, labeler=self.labeler)
        except StoreError as error:
            # Nothing was written; stay on the item so the user can press the key again.
            self.message = f"NOT SAVED: {error}"
            return False
        self.undo_stack.append((action, frame_ids))
        for frame_id in frame_ids:
            self.labels[frame_id] = label
        self.stats.labels_made += 1
        self.stats.items_labeled += len(frame_ids)
        self.mark_in = self.mark_out = None
        segment = f" ({len(frame_ids)} frames)" if len(frame_ids) > 1 else ""
        self.message = f"{label}{segment} saved"
        following = self.first_unlabeled(max(indices) + 1)
        self.go(following if following is not None else max(indices) + 1)
        return True

    def undo(self) -> bool:
        """Removes the last label made in this session and shows its item again.

        Returns:
            Whether a label was removed.
        """
        if not self.undo_stack:
            self.message = "nothing to undo"
            return False
        action, frame_ids = self.undo_stack[-1]
        try:
            self.store.undo(action)
        except StoreError as error:
            self.message = f"NOT UNDONE: {error}"
            return False
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
        self.go(self.position_of[frame_ids[0]])
        return True

    def mark(self, which: str) -> None:
        """Marks the current video frame as the segment's in (``"in"``) or out point."""
        item = self.item
        if item.media.kind != "video":
            self.message = "in/out points are for video frames"
            return
        other = self.mark_out if which == "in" else self.mark_in
        if other is not None and self.items[other].media.id != item.media.id:
            self.mark_in = self.mark_out = None
        if which == "in":
            self.mark_in = self.index
        else:
            self.mark_out = self.index
        self.message = f"segment: {len(self.segment())} frames; press a label key to label them all"

    def clear_marks(self) -> bool:
        """Forgets the segment marks; returns whether there were any."""
        if self.mark_in is None and self.mark_out is None:
            return False
        self.mark_in = self.mark_out = None
        self.message = "segment cleared"
        return True

    def run(self, command: str, argument: str | int | None = None) -> None:
        """Applies one session command of ``KEYS`` (``label``, ``undo``, ``move``, ``mark``)."""
        if command == "label":
            self.label(str(argument))
        elif command == "undo":
            self.undo()
        elif command == "move":
            self.move(int(argument or 0))
        elif command == "mark":
            self.mark(str(argument))
        else:
            raise ValueError(f"not a session command: {command!r}")

    # ---------------------------------------------------------------------------------- figures
    def labels_per_minute(self) -> float:
        """Labeled items per minute of this session."""
        minutes = max(self.clock() - self.stats.started, 1e-6) / 60.0
        return self.stats.items_labeled / minutes

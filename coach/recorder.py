"""Annotated-clip recorder: frames piped to ffmpeg (imageio-ffmpeg) from a writer thread.

The clip is a fragmented MP4 (a fragment per second, at each keyframe) so that even a hard stop
leaves a decodable file with every completed second; a normal stop (q, Ctrl-C, SIGTERM, end of
stream, camera loss) closes ffmpeg's input and waits, which flushes every frame. ffmpeg runs in
its own process group (imageio-ffmpeg does that) so Ctrl-C in the terminal does not kill it
before the app has finalized the clip.
"""

from __future__ import annotations

import errno
import fcntl
import os
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from coach.errors import OutputError, printable

_STOP = object()
# Below this much free space a failed write is a full disk (ffmpeg itself only says that its
# pipe broke: it runs with its own messages silenced).
_FULL_DISK_BYTES = 1 << 20
# errno values of a write that hit the disk rather than a bug: said in words, exit 4.
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG)


def _free_bytes(path: Path) -> int | None:
    try:
        stat = os.statvfs(path.parent if str(path.parent) else ".")
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def write_failure_reason(path: Path, error: BaseException) -> str:
    """Why writing ``path`` failed, in words ("No space left on device", ...).

    A broken pipe to ffmpeg says nothing by itself; the reason is then what the file system
    shows: a folder that is gone, a full disk, or a device that refuses data (``/dev/full``).
    """
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        return os.strerror(error.errno)
    if isinstance(error, OSError) and error.errno != errno.EPIPE and error.strerror:
        return error.strerror  # the system said why (name too long, permission, ...)
    try:
        if not path.parent.exists():
            return f"its folder {printable(path.parent)} is gone"
        free = _free_bytes(path)
        if free is not None and free < _FULL_DISK_BYTES:
            return os.strerror(errno.ENOSPC)
        if path.exists() and not path.is_file():
            with open(path, "ab") as device:
                device.write(b"\0")
    except OSError as probe:
        return probe.strerror or str(probe)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def output_error(path: Path | str, error: BaseException) -> OutputError:
    """The one-line ``cannot write PATH: reason`` error of a failed write."""
    path = Path(path)
    return OutputError(f"cannot write {printable(path)}: {write_failure_reason(path, error)}")


def check_writable(path: Path | str) -> Path:
    """Checks that ``path`` can be created (its folder exists or can be made, and is writable).

    Raises:
        OutputError: naming the path and the problem.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise OutputError(f"output is a folder, expected a file: {printable(path)}")
        if len(os.fsencode(path.name)) > 255:
            raise OutputError(f"cannot write {printable(path)}: file name too long")
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"cannot write {printable(path)}: its folder cannot be created "
                f"({error.strerror})"
            ) from None
        if not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {printable(path)}: folder "
                              f"{printable(folder)} is not writable")
    except OSError as error:  # e.g. a name or path too long for the file system
        raise output_error(path, error) from None
    return path


class OutputLock:
    """Exclusive locks on a run's output files, so a second run on the same outputs is refused.

    Each output gets a hidden ``.<name>.lock`` beside it (held with ``flock``, so a crashed
    run's lock goes with its process); outputs that are devices or pipes are not locked.

    Args:
        paths: the outputs (None entries are skipped).

    Raises:
        OutputError: another run holds one of the outputs (nothing is locked then).
    """

    def __init__(self, paths: Iterable[Path | str | None]) -> None:
        self._held: list[tuple[Path, int]] = []
        try:
            for path in paths:
                if path is not None and not (Path(path).exists() and not Path(path).is_file()):
                    self._lock(Path(path))
        except BaseException:
            self.release()
            raise

    def _lock(self, path: Path) -> None:
        lock_path = path.with_name(f".{path.name}.lock")
        while True:
            try:
                descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:  # the user named the output, not its hidden lock
                raise output_error(path, error) from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                raise OutputError(
                    f"cannot write {printable(path)}: another formcoach run is writing it "
                    "(wait for it to finish, or choose another output)"
                ) from None
            # The previous holder unlinks its lock file on release: if ours was unlinked
            # between open and flock, lock the new one instead.
            try:
                current = os.stat(lock_path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(descriptor).st_ino:
                self._held.append((lock_path, descriptor))
                return
            os.close(descriptor)

    def release(self) -> None:
        """Unlocks every output (idempotent)."""
        while self._held:
            lock_path, descriptor = self._held.pop()
            lock_path.unlink(missing_ok=True)
            os.close(descriptor)

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


class ClipRecorder:
    """Writes BGR frames to an MP4 at a fixed frame rate.

    Args:
        path: the ``.mp4`` to write.
        fps: the source's frame rate (the clip plays back at the real speed).
        preset: x264 speed preset; ``ultrafast`` for live recording (about 40 % less CPU than
            ``veryfast``, files about 3x larger), ``veryfast`` for file analysis.
        queue_size: frames that may wait for the encoder before ``write`` blocks (never drops).

    Raises:
        OutputError: the output cannot be created.
    """

    def __init__(self, path: Path | str, fps: float, preset: str = "veryfast",
                 queue_size: int = 16) -> None:
        self.path = check_writable(path)
        self.fps = float(fps)
        self.preset = preset
        self.frames_written = 0
        self.frames_queued = 0
        self.encode_ms = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._size: tuple[int, int] | None = None
        self._closed = False

    def _open(self, size: tuple[int, int]):
        import imageio_ffmpeg

        keyframe_interval = max(1, int(round(self.fps)))
        writer = imageio_ffmpeg.write_frames(
            str(self.path),
            size,
            pix_fmt_in="bgr24",
            fps=self.fps,
            codec="libx264",
            quality=None,
            macro_block_size=2,
            # The app reports an encoder failure in one line of its own; ffmpeg would add five.
            ffmpeg_log_level="fatal",
            output_params=[
                "-preset", self.preset,
                "-crf", "23",
                "-g", str(keyframe_interval),
                "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            ],
        )
        writer.send(None)
        return writer

    def _run(self, writer) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                start = time.perf_counter()
                writer.send(item)
                self.encode_ms = (time.perf_counter() - start) * 1000.0
                self.frames_written += 1
        except BaseException as error:  # reported to the caller on the next write/close
            self._error = error
            while self._queue.get() is not _STOP:
                pass
        finally:
            try:
                writer.close()
            except BaseException as error:
                self._error = self._error or error

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise output_error(self.path, self._error)

    def write(self, bgr: np.ndarray) -> None:
        """Queues one (H, W, 3) uint8 BGR frame; every frame must have the first one's size."""
        self._raise_if_failed()
        if self._closed:
            raise OutputError(f"clip {self.path} is already closed")
        height, width = bgr.shape[:2]
        if self._thread is None:
            self._size = (width, height)
            try:
                writer = self._open((width + width % 2, height + height % 2))
            except (OSError, RuntimeError) as error:
                raise OutputError(f"cannot start the video encoder for {self.path}: {error}") \
                    from None
            self._thread = threading.Thread(
                target=self._run, args=(writer,), name="clip-encoder", daemon=True
            )
            self._thread.start()
        elif (width, height) != self._size:
            raise OutputError(f"frame size changed from {self._size} to {(width, height)}")
        if width % 2 or height % 2:
            # x264 (yuv420p) needs even sizes: repeat the last column / row instead of letting
            # imageio rescale every frame (and warn about it).
            bgr = np.pad(bgr, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        self._queue.put(np.ascontiguousarray(bgr))
        self.frames_queued += 1

    @property
    def started(self) -> bool:
        """Whether any frame was written (an empty clip is never created)."""
        return self._thread is not None

    def close(self) -> int:
        """Flushes every queued frame and finalizes the file; returns the frames written.

        Raises:
            OutputError: the encoder failed (the frames it had taken stay playable).
        """
        if self._closed:
            return self.frames_written
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_if_failed()
        return self.frames_written

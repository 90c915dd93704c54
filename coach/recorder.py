"""Annotated-clip recorder: frames piped to ffmpeg (imageio-ffmpeg) from a writer thread.

The clip is a fragmented MP4 (a fragment per second, at each keyframe) so that even a hard stop
leaves a decodable file with every completed second; a normal stop (q, Ctrl-C, SIGTERM, end of
stream, camera loss) closes ffmpeg's input and waits, which flushes every frame. ffmpeg runs in
its own process group (imageio-ffmpeg does that) so Ctrl-C in the terminal does not kill it
before the app has finalized the clip.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from coach.errors import OutputError

_STOP = object()


def check_writable(path: Path | str) -> Path:
    """Checks that ``path`` can be created (its folder exists or can be made, and is writable).

    Raises:
        OutputError: naming the path and the problem.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise OutputError(f"output is a folder, expected a file: {path}")
        if len(path.name.encode()) > 255:
            raise OutputError(f"cannot write {path}: file name too long")
        folder = path.parent if str(path.parent) else Path(".")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"cannot write {path}: its folder cannot be created ({error.strerror})"
            ) from None
        if not os.access(folder, os.W_OK):
            raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    except OSError as error:  # e.g. a name or path too long for the file system
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    return path


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
            detail = str(self._error).splitlines()[0] if str(self._error) else type(self._error)
            raise OutputError(
                f"cannot write clip {self.path} (disk full or folder gone?): {detail}"
            )

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

"""Finding and reading media files: which files are images or videos, and their pixels.

One place for what the app (``coach``) and the labeling tools (``training``) both read:

- ``IMAGE_EXTENSIONS`` / ``VIDEO_EXTENSIONS`` and ``media_kind``: which files count;
- ``read_image``: a photo as (H, W, 3) uint8 BGR, or a one-line ``MediaError`` naming the file;
- ``opencv_name``, ``count_frames``, ``video_timing``: opening videos by any file name;
- ``list_images``: the app's photos (files, or the images directly in a folder);
- ``iter_media_files``: the labeler's files and folders expanded (recursively) into media files;
- ``FrameReader``: images and video frames by index, videos kept open for sequential access.

Pure file IO and decoding with OpenCV: no window, no model.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
# A frame this large is almost certainly a mistake (or a decompression bomb); BlazePose looks at
# a 256-px crop anyway, so bigger images are scaled down rather than refused.
MAX_ANALYSIS_PIXELS = 4096 * 4096


class MediaError(ValueError):
    """A media file is missing, unreadable, empty, undecodable or of an unsupported type.

    The message is one line and names the file.
    """


def media_kind(path: Path) -> str | None:
    """Returns ``"image"``, ``"video"`` or None (not a supported file) from the extension."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def check_readable_file(path: Path, what: str) -> None:
    """Raises ``MediaError`` unless ``path`` is a readable, non-empty regular file.

    Args:
        path: the file.
        what: how the message names it (``"image"``, ``"video"``).
    """
    if not path.exists():
        raise MediaError(f"{what} not found: {path}")
    if path.is_dir():
        raise MediaError(f"{what} is a folder, not a file: {path}")
    if not path.is_file():  # /dev/zero, /dev/null, a FIFO: endless, empty or blocking
        raise MediaError(f"{what} is not a regular file (a device or pipe): {path}")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{what} is not readable (permissions): {path}")
    if path.stat().st_size == 0:
        raise MediaError(f"{what} is empty (0 bytes): {path}")


def _plain_text(text: str) -> bool:
    """Whether OpenCV may be given ``text`` as a file name (valid UTF-8, no control characters)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 name
        return False
    return text.isprintable()


@contextlib.contextmanager
def opencv_name(path: Path) -> Iterator[str]:
    """A file name OpenCV can open for ``path``: the path itself, or a temporary plain link.

    ``cv2.VideoCapture`` crashes the process on a name that is not valid UTF-8 and FFmpeg
    misreads control characters, so such files are opened through a symbolic link with a
    plain name (removed on exit; an opened capture keeps reading the file).
    """
    text = os.fsdecode(path)
    if _plain_text(text):
        yield text
        return
    folder = tempfile.mkdtemp(prefix="formcoach-")
    try:
        # The container format is found from the content; a plain suffix helps some probes.
        suffix = path.suffix if path.suffix.isascii() and path.suffix[1:].isalnum() else ""
        link = os.path.join(folder, "media" + suffix)
        os.symlink(os.path.abspath(path), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_video(path: Path | str) -> cv2.VideoCapture:
    """A ``cv2.VideoCapture`` on ``path`` (any file name); check ``isOpened()``."""
    with opencv_name(Path(path)) as name:
        return cv2.VideoCapture(name)


def count_frames(path: Path) -> int:
    """How many frames of the video at ``path`` decode (0 when it cannot be opened)."""
    capture = open_video(path)
    frames = 0
    while capture.isOpened() and capture.grab():
        frames += 1
    capture.release()
    return frames


def video_timing(path: Path) -> tuple[float | None, int | None]:
    """The frame rate and frame count a video's container reports (None where it gives none).

    Raises:
        MediaError: the video cannot be opened.
    """
    capture = open_video(path)
    try:
        if not capture.isOpened():
            raise MediaError(f"{path}: cannot open video")
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        return fps, count
    finally:
        capture.release()


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """Brings any decoded image to (H, W, 3) uint8 BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def read_image(path: Path | str) -> np.ndarray:
    """Reads an image file as (H, W, 3) uint8 BGR, scaled down when absurdly large.

    Raises:
        MediaError: missing, empty, unreadable or undecodable file.
    """
    path = Path(path)
    check_readable_file(path, "image")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise MediaError(f"image cannot be read ({error.strerror}): {path}") from None
    # IMREAD_COLOR applies the EXIF orientation of phone photos (IMREAD_UNCHANGED would not)
    # and brings grayscale, alpha and 16-bit images to 8-bit BGR.
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        # OpenCV refuses a header that promises more than 2^30 pixels before allocating them:
        # a broken header or a decompression bomb.
        raise MediaError(f"image is too large to decode (or its header is corrupt): {path}") \
            from None
    if image is None or image.size == 0:
        raise MediaError(f"cannot decode image (not an image or corrupt): {path}")
    image = ensure_bgr(image)
    pixels = image.shape[0] * image.shape[1]
    if pixels > MAX_ANALYSIS_PIXELS:
        scale = math.sqrt(MAX_ANALYSIS_PIXELS / pixels)
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def list_images(paths: Iterable[Path | str]) -> list[Path]:
    """Expands files and folders (not recursive) into a sorted list of image files.

    Raises:
        MediaError: a path does not exist, or nothing to analyze was found.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise MediaError(f"image path not found: {path}")
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not images:
                known = ", ".join(sorted(IMAGE_EXTENSIONS))
                raise MediaError(f"folder holds no images ({known}): {path}")
            found.extend(images)
        else:
            found.append(path)
    if not found:
        raise MediaError("no images given")
    return found


def iter_media_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expands files and folders (recursively, sorted) into supported media files.

    Raises:
        MediaError: a path does not exist, or a file given by name is not an image or video.
    """
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and media_kind(child) is not None:
                    yield child
        elif path.is_file():
            if media_kind(path) is None:
                raise MediaError(f"{path}: not a supported image or video file")
            yield path
        else:
            raise MediaError(f"no such file or folder: {path}")


def read_video_frames(path: Path | str, indices: set[int]) -> dict[int, np.ndarray]:
    """Decodes the frames with the given indices in one pass (exact: no seeking; any name).

    Returns:
        index -> (H, W, 3) uint8 BGR for the indices that decode (missing ones are left out).
    """
    frames: dict[int, np.ndarray] = {}
    if not indices:
        return frames
    capture = open_video(path)
    try:
        for index in range(max(indices) + 1):
            if not capture.grab():
                break
            if index in indices:
                ok, bgr = capture.retrieve()
                if ok and bgr is not None and bgr.size:
                    frames[index] = ensure_bgr(bgr)
    finally:
        capture.release()
    return frames


class FrameReader:
    """Reads images and video frames, keeping video files open for fast sequential access.

    Not thread-safe; use one per thread.

    Args:
        max_open: how many videos stay open at once (the least recently read is closed).
    """

    def __init__(self, max_open: int = 4):
        self._captures: dict[str, tuple[cv2.VideoCapture, int]] = {}
        self._max_open = max_open

    def read(self, path: str, kind: str, frame_index: int = 0) -> np.ndarray | None:
        """BGR uint8 (H, W, 3) of an image or of one video frame.

        Returns:
            The frame, or None when the file or frame cannot be read (a labeling queue shows
            such items as unreadable rather than stopping).
        """
        if kind == "image":
            try:
                return read_image(path)
            except MediaError:
                return None
        capture, next_index = self._captures.pop(path, (None, -1))
        if capture is None:
            if len(self._captures) >= self._max_open:
                oldest = next(iter(self._captures))
                self._captures.pop(oldest)[0].release()
            capture = open_video(path)
            next_index = 0
            if not capture.isOpened():
                capture.release()
                return None
        if frame_index != next_index:
            # Seeking back or far ahead; a short way forward is cheaper to read through.
            if frame_index < next_index or frame_index - next_index > 30:
                capture.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
                next_index = frame_index
            while next_index < frame_index:
                if not capture.grab():
                    break
                next_index += 1
        ok, frame = capture.read()
        self._captures[path] = (capture, frame_index + 1 if ok else -1)
        return ensure_bgr(frame) if ok and frame is not None and frame.size else None

    def close(self) -> None:
        """Releases all open videos."""
        for capture, _ in self._captures.values():
            capture.release()
        self._captures.clear()

"""Crafting small test media: drawn people, videos through the bundled ffmpeg, odd images.

Everything here writes tiny files (64-160 px, a few frames) so a whole corpus takes seconds.
Videos go through imageio-ffmpeg's bundled ffmpeg binary, so the odd container features
(variable frame rate, rotation metadata, no video stream) are exactly what a phone produces.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from engine.media import count_frames

SKIN_BGR = (140, 170, 215)
SHIRT_BGR = (60, 60, 200)
PANTS_BGR = (90, 50, 30)


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A gym-like background: a wall gradient over a floor, with a little noise.

    Returns:
        (height, width, 3) uint8 BGR.
    """
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    wall = np.array([200, 210, 220], np.float32) * (1.0 - 0.3 * rows)
    image = np.broadcast_to(wall, (height, width, 3)).copy()
    floor = int(height * 0.85)
    image[floor:] = (90, 120, 150)
    image += rng.normal(0.0, 3.0, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_person(
    image: np.ndarray,
    center_x: float,
    floor_y: float,
    height: float,
    *,
    inverted: bool = True,
    arch: float = 0.0,
) -> np.ndarray:
    """Draws a filled figure of a person, in a handstand (``inverted``) or standing.

    The figure is drawn with thick limbs so a pose estimator may take it for a person; the
    reliability tests do not depend on whether it does.

    Args:
        image: (H, W, 3) uint8 BGR, drawn into in place.
        center_x: horizontal position of the body line in pixels.
        floor_y: where the hands (handstand) or feet (standing) touch the floor.
        height: the figure's extent from hands/feet to the far end, in pixels.
        inverted: handstand when True, standing when False.
        arch: horizontal offset of the hips from the line, in fractions of ``height``.

    Returns:
        ``image``.
    """
    unit = height / 8.0

    def point(along: float, across: float = 0.0) -> tuple[int, int]:
        # ``along`` runs from the floor contact (0) to the far end (8 units).
        y = floor_y - along * unit if inverted else floor_y - (8.0 - along) * unit
        return int(round(center_x + across * unit)), int(round(y))

    limb = max(2, int(unit * 0.45))
    hip_shift = arch * 8.0
    if inverted:
        hand_l, hand_r = point(0.0, -0.6), point(0.0, 0.6)
        shoulder_l, shoulder_r = point(2.6, -0.6), point(2.6, 0.6)
        elbow_l, elbow_r = point(1.3, -0.7), point(1.3, 0.7)
        head = point(1.9)
        hip_l, hip_r = point(5.2, -0.4 + hip_shift), point(5.2, 0.4 + hip_shift)
        knee_l, knee_r = point(6.6, -0.35), point(6.6, 0.35)
        foot_l, foot_r = point(8.0, -0.3), point(8.0, 0.3)
    else:
        foot_l, foot_r = point(0.0, -0.5), point(0.0, 0.5)
        knee_l, knee_r = point(1.8, -0.45), point(1.8, 0.45)
        hip_l, hip_r = point(3.7, -0.45), point(3.7, 0.45)
        shoulder_l, shoulder_r = point(6.2, -0.75), point(6.2, 0.75)
        elbow_l, elbow_r = point(4.9, -1.1), point(4.9, 1.1)
        hand_l, hand_r = point(3.7, -1.2), point(3.7, 1.2)
        head = point(7.2)
    for a, b, b2 in ((shoulder_l, elbow_l, hand_l), (shoulder_r, elbow_r, hand_r)):
        cv2.line(image, a, b, SKIN_BGR, limb, cv2.LINE_AA)
        cv2.line(image, b, b2, SKIN_BGR, limb, cv2.LINE_AA)
    for a, b, b2 in ((hip_l, knee_l, foot_l), (hip_r, knee_r, foot_r)):
        cv2.line(image, a, b, PANTS_BGR, limb + 1, cv2.LINE_AA)
        cv2.line(image, b, b2, SKIN_BGR, limb, cv2.LINE_AA)
    torso = np.array([shoulder_l, shoulder_r, hip_r, hip_l], np.int32)
    cv2.fillConvexPoly(image, torso, SHIRT_BGR, cv2.LINE_AA)
    cv2.circle(image, head, max(3, int(unit * 0.55)), SKIN_BGR, -1, cv2.LINE_AA)
    return image


def person_frame(
    width: int = 160,
    height: int = 120,
    *,
    people: int = 1,
    offset_x: float = 0.0,
    seed: int = 0,
    phase: float = 0.0,
) -> np.ndarray:
    """One BGR frame with ``people`` drawn handstands (0 = empty scene).

    Args:
        offset_x: shift of the (first) figure in fractions of the width; values near +-0.5
            put it partly out of frame.
        phase: 0..1 animates a little sway so consecutive frames differ.
    """
    image = background(width, height, seed)
    floor = height * 0.85
    figure_height = height * 0.75
    for index in range(people):
        center = width * ((index + 1) / (people + 1) + (offset_x if index == 0 else 0.0))
        sway = 0.04 * np.sin(2.0 * np.pi * phase + index)
        draw_person(image, center + sway * width * 0.2, floor, figure_height, arch=0.02 * index)
    return image


def person_frames(count: int, width: int = 160, height: int = 120, **kwargs) -> list[np.ndarray]:
    """``count`` frames of a swaying drawn handstand."""
    return [
        person_frame(width, height, phase=i / max(count, 1), seed=i, **kwargs)
        for i in range(count)
    ]


def encode_video(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: float = 30.0,
    *,
    extra_output_args: Iterable[str] = (),
    faststart: bool = False,
) -> Path:
    """Encodes BGR frames into an H.264 mp4 with the bundled ffmpeg.

    Args:
        path: output file.
        frames: (H, W, 3) uint8 BGR frames, all the same even size. May be empty: then the
            file is written by ffmpeg with a video stream that holds no frame.
        fps: nominal frame rate.
        extra_output_args: ffmpeg options inserted before the output path.
        faststart: put the index (moov atom) at the front, like streaming-friendly files.
    """
    height, width = frames[0].shape[:2] if frames else (64, 64)
    command = [
        ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps}",
        "-i", "-",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        *(["-movflags", "+faststart"] if faststart else []),
        *extra_output_args,
        str(path),
    ]  # fmt: skip
    data = b"".join(np.ascontiguousarray(frame).tobytes() for frame in frames)
    subprocess.run(command, input=data, check=True, capture_output=True, timeout=60)
    return path


def run_ffmpeg(*args: str) -> None:
    """Runs the bundled ffmpeg quietly; raises ``CalledProcessError`` with its stderr."""
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True, capture_output=True,
        timeout=60,
    )


def zero_frame_video(path: Path) -> Path:
    """An mp4 with a video stream that holds no frame (an aborted phone recording)."""
    # ffmpeg writes a valid container whose video track has no samples when the input
    # yields nothing; -frames:v 0 alone is refused by some builds, so trim the input instead.
    run_ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=30:d=1",
        "-vf", "trim=end_frame=0", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def audio_only_mp4(path: Path) -> Path:
    """An .mp4 with a sound track and no video stream (a voice memo)."""
    run_ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(path)
    )  # fmt: skip
    return path


def variable_fps_video(path: Path, frames: Sequence[np.ndarray]) -> Path:
    """An mp4 whose frame intervals vary (1/30 s, then 1/10 s, then 1/60 s ...)."""
    source = path.with_name(path.stem + "_cfr.mp4")
    encode_video(source, frames, fps=30.0)
    # Keep the original timestamps of an irregular selection of frames: variable frame rate.
    run_ffmpeg(
        "-i", str(source),
        "-vf", "select='lt(n\\,4)+not(mod(n\\,3))'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    source.unlink()
    return path


def rotated_video(path: Path, frames: Sequence[np.ndarray], degrees: int = 90) -> Path:
    """An mp4 carrying display-rotation metadata (a phone held sideways)."""
    source = path.with_name(path.stem + "_plain.mp4")
    encode_video(source, frames)
    run_ffmpeg("-display_rotation", str(degrees), "-i", str(source), "-c", "copy", str(path))
    source.unlink()
    return path


def truncate(source: Path, path: Path, fraction: float) -> Path:
    """Copies the first ``fraction`` of ``source``'s bytes to ``path`` (an interrupted copy)."""
    data = source.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    return path


def corrupt_middle(source: Path, path: Path, seed: int = 0, keep_head: int = 64) -> Path:
    """Copies ``source`` with its bytes after ``keep_head`` overwritten by noise."""
    data = bytearray(source.read_bytes())
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, len(data) - keep_head, dtype=np.uint8).tobytes()
    data[keep_head:] = noise
    path.write_bytes(bytes(data))
    return path


def count_video_frames(path: Path) -> int:
    """Decodes ``path`` fully and returns how many frames it holds (0 if none)."""
    return count_frames(path)


def probe_fps(path: Path) -> float:
    """The frame rate OpenCV reports for ``path`` (0.0 when it cannot tell)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        capture.release()

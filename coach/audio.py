"""Keeps the source video's sound in the annotated clip.

The annotated clip is encoded from frames, so it is silent; when the analyzed video has an
audio track, it is copied in afterwards (video stream copied as it is, audio re-encoded to AAC
and cut to the clip's length). The clip is replaced atomically, and any failure leaves the
silent clip exactly as it was: sound is a nicety, the clip is what was asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*: Audio:")


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def has_audio(video: Path) -> bool:
    """Whether ``video`` holds an audio stream (asks ffmpeg; False when it cannot tell)."""
    try:
        probe = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(video)],
                               capture_output=True, text=True, errors="replace", timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(_AUDIO_STREAM.search(probe.stderr))


def copy_audio(source: Path, clip: Path) -> str:
    """Copies the audio of ``source`` into the annotated ``clip`` in place.

    Args:
        source: the analyzed video.
        clip: the annotated MP4 written from its frames (same start, at most as long).

    Returns:
        "" when the sound was added or there was none to add, else a one-line reason why the
        clip stays silent.
    """
    if not has_audio(source):
        return ""
    temporary = clip.with_name(f".{clip.name}.audio-{os.getpid()}.mp4")
    command = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip),
               "-i", str(source), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
               "-c:a", "aac", "-b:a", "128k", "-shortest", str(temporary)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=600)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return f"sound not copied ({lines[-1] if lines else 'ffmpeg failed'})"
        os.replace(temporary, clip)
        return ""
    except (OSError, subprocess.SubprocessError) as error:
        return f"sound not copied ({error})"
    finally:
        temporary.unlink(missing_ok=True)

"""The annotated clip keeps the source's sound; a silent source or a failure changes nothing."""

from __future__ import annotations

import subprocess

import cv2
import imageio_ffmpeg

from coach.audio import copy_audio, has_audio


def _make(path, *, audio: bool, seconds: float = 2.0):
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    command += ["-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)]
    subprocess.run(command, check=True)
    return path


def _frames(path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_sound_is_copied_into_the_annotated_clip(tmp_path):
    source = _make(tmp_path / "source.mp4", audio=True)
    clip = _make(tmp_path / "annotated.mp4", audio=False, seconds=1.5)  # stopped early
    assert has_audio(source) and not has_audio(clip)
    assert copy_audio(source, clip) == ""
    assert has_audio(clip)
    assert _frames(clip) == 15  # every annotated frame kept, the sound cut to them
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_silent_source_leaves_the_clip_untouched(tmp_path):
    source = _make(tmp_path / "source.mp4", audio=False)
    clip = _make(tmp_path / "annotated.mp4", audio=False)
    before = clip.read_bytes()
    assert copy_audio(source, clip) == ""
    assert clip.read_bytes() == before


def test_a_failed_copy_keeps_the_silent_clip(tmp_path):
    source = _make(tmp_path / "source.mp4", audio=True)
    clip = tmp_path / "annotated.mp4"
    clip.write_bytes(b"not a video")
    reason = copy_audio(source, clip)
    assert reason.startswith("sound not copied")
    assert clip.read_bytes() == b"not a video"


def test_the_app_saves_an_annotated_clip_with_the_source_sound(tmp_path):
    from coach.cli import main

    source = _make(tmp_path / "source.mp4", audio=True, seconds=1.0)
    clip = tmp_path / "annotated.mp4"
    assert main(["--video", str(source), "--save", str(clip), "--no-window"]) == 0
    assert has_audio(clip) and _frames(clip) == 10

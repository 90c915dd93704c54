"""Caches BlazePose keypoints for a labeled photo folder (e.g. the real handstand dev set).

Usage:
    python -m training.pose_cache --data PATH/handstand_dev --out cache/handstand_dev_blazepose.npz
    python -m training.pose_cache --data PATH/handstand_more --out cache/handstand_more_videos.npz \
        --videos-only [--fps 2]
    python -m training.pose_cache --data PATH/handstand_more \
        --out cache/handstand_more_video_clips.npz --video-clips [--fps 2]

``PATH/labels.csv`` lists ``file,label,confidence,...`` (handstand_dev's ``notes`` or
handstand_more's ``view,notes,person,source_repo,...``); every listed image is run through
BlazePose in image mode (0°/180° handling included). Rows labeled ``video`` are skipped, or
with ``--videos-only`` they are the only ones read: frames sampled at ``--fps`` inside the
ranges of their timeline note whose label ``timeline_segments`` can name (file
``VIDEO@12.50s``, the video's label confidence, view and group). The cache holds, per image:
``files``, ``labels``, ``confidences``, ``kinds`` (``photo`` / ``video_frame``), ``groups``
(the person or source a grouped evaluation keeps together, see ``row_group``), ``views``
(``side``, ``front``, ... or "" when not given), ``keypoints`` (N, 16, 3) canonical pixels (NaN
where no person was found), ``landmarks`` (N, 33, 3) raw BlazePose, ``image_sizes`` (N, 2) as
(w, h), ``rotations`` (N,), and the back-end ``version``. With ``--silhouettes`` it also holds
``silhouettes`` (N, 64, 32) uint8: BlazePose's person mask in the body-axis crop of
``training.silhouette`` (0..255, zeros where no person was found).

With ``--video-clips`` the videos are read as the live coach reads a camera: every frame of a
labeled timeline range goes through BlazePose in tracking mode and the pose-glitch filter,
and every ``1 / --fps`` seconds the clip buffer's 16-frame clip at the model's 30 fps is stored
when it lies wholly inside the range (``kinds`` ``video_clip``, ``clips`` (N, 16, 16, 3), the
last frame also as ``keypoints``; ``landmarks`` NaN). These are real motion for the temporal
model, grouped like the photos of their source (``row_group``).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton
from engine.checkpoint import TRAINING_FRAME_RATE
from engine.clip import ClipBuffer
from engine.glitches import PoseGlitchFilter
from engine.media import MediaError, open_video, read_image
from engine.pose.blazepose import NUM_LANDMARKS, BlazePoseBackend
from training.silhouette import SILHOUETTE_SIZE, align_silhouette


def read_label_csv(path: Path) -> list[dict[str, str]]:
    """Reads a ``file,label,confidence,notes`` CSV into a list of rows."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def row_group(row: dict[str, str], dataset: str) -> str:
    """The group of a labeled row: rows of one group are never split across folds.

    handstand_more names its ``source_repo`` (stricter than its per-repository ``person``:
    one site's photos share a camera and a style). handstand_dev has no such column: its
    gym frames are grouped by user (``userN`` in the file name), every other photo by its
    source folder (the web thumbnails, the yoga reference set).

    Args:
        row: one CSV row.
        dataset: name of the data folder, prefixed to the group.
    """
    if row.get("source_repo"):
        return f"{dataset}:{row['source_repo']}"
    parts = row["file"].split("/")
    stem = parts[-1]
    if "user" in stem:
        return f"{dataset}:{parts[0]}:{stem.split('_')[0]}"
    return f"{dataset}:{parts[0]}"


# Words of a timeline note that name a segment's label, tried in this order (first match wins);
# a segment naming none of them, or a transition or an ambiguous shape, is left out.
_SKIP = (r"black|come[ -]?down|\bdown\b|cartwheel|push-?ups?|press|walkover|flag|planche|"
         r"overbalance|partial|cropped|walk feet|text\)")
_TIMELINE_WORDS = (
    (_SKIP, None),
    (r"not handstand", "not_handstand"),
    (r"banana|arched", "banana"),
    (r"split|straddle|pike|tuck|kick|legs apart|one-arm|one foot|one leg|bent|scorpion|jump",
     "other_handstand"),
    (r"straight|legs together", "straight"),
    (r"\bstand(ing)?\b|crouch|squat|crow|kneel|fold|plank|set-up|measure|prepare", "not_handstand"),
)
_SEGMENT = re.compile(r"(\d+(?:\.\d+)?)(?:\s*[-\u2013]\s*(\d+(?:\.\d+)?))?s?\s+([^,;]+)")
# Seconds left out at each end of a segment (the note's times are rounded to whole seconds).
SEGMENT_MARGIN = 0.25


def segment_label(text: str, *, unambiguous: bool = False) -> str | None:
    """The label a timeline note's segment text names, or None (see ``_TIMELINE_WORDS``).

    Args:
        text: the segment's words.
        unambiguous: also None when the words name more than one label ("crouch and tuck
            hops": a note without times that spans several phases).
    """
    found = [label for pattern, label in _TIMELINE_WORDS if re.search(pattern, text.lower())]
    if not found or (unambiguous and len(set(found)) > 1):
        return None
    return found[0]


def timeline_segments(notes: str) -> list[tuple[float, float, str]]:
    """Labeled time ranges of a video's note, e.g. ``"25fps 6.6s 480x480; 0-3s crouch, ..."``.

    "A-B text" covers seconds A to B (a whole-second B to the end of that second), "A text"
    the second A; a note without times ("squat then crow pose (not handstand)") covers the
    whole video when its words name one label only. Ranges are shrunk by ``SEGMENT_MARGIN``
    at both ends.

    Returns:
        (start, end, label) in seconds, only for segments ``segment_label`` names.
    """
    duration_match = re.search(r"(\d+(?:\.\d+)?)s\b", notes)
    if duration_match is None or ";" not in notes:
        return []
    duration = float(duration_match.group(1))
    timeline = notes.split(";", 1)[1]
    segments = []
    matches = list(_SEGMENT.finditer(timeline))
    if not matches:
        matches = [None]
    for match in matches:
        if match is None:
            start, end, text = 0.0, duration, timeline
        else:
            start = float(match.group(1))
            last = float(match.group(2) or match.group(1))
            end = min(last + 1.0 if last.is_integer() else last, duration)
            text = match.group(3)
        label = segment_label(text, unambiguous=match is None)
        if label and end - start > 2 * SEGMENT_MARGIN:
            segments.append((start + SEGMENT_MARGIN, end - SEGMENT_MARGIN, label))
    return segments


def video_frame_rows(rows: list[dict[str, str]], fps: float) -> list[dict[str, str]]:
    """One row per frame sampled at ``fps`` inside each video's labeled timeline ranges."""
    out = []
    for row in rows:
        if row["label"] != "video":
            continue
        for start, end, label in timeline_segments(row.get("notes", "")):
            for time in np.arange(start, end, 1.0 / fps):
                out.append({**row, "label": label, "video": row["file"],
                            "time": f"{time:.2f}", "file": f"{row['file']}@{time:.2f}s"})
    return out


def _read_image(data_dir: Path, row: dict[str, str]) -> np.ndarray | None:
    """The image of a row: a photo, or a video's frame at ``row["time"]`` seconds."""
    if "video" not in row:
        try:
            return read_image(data_dir / row["file"])
        except MediaError:
            return None
    capture = open_video(data_dir / row["video"])
    capture.set(cv2.CAP_PROP_POS_MSEC, float(row["time"]) * 1000.0)
    ok, image = capture.read()
    capture.release()
    return image if ok else None


def build_cache(data_dir: Path, out_path: Path, video_fps: float | None = None,
                silhouettes: bool = False) -> dict[str, np.ndarray]:
    """Runs BlazePose on every image listed in ``data_dir/labels.csv`` and saves the cache.

    Args:
        data_dir: folder holding ``labels.csv``.
        out_path: the ``.npz`` to write.
        video_fps: None: the photos; a rate: only frames of the videos, sampled at that rate.
        silhouettes: also store each person's aligned segmentation mask.

    Returns:
        The arrays written to ``out_path``.
    """
    rows = read_label_csv(data_dir / "labels.csv")
    if video_fps is None:
        rows = [row for row in rows if row["label"] != "video"]
    else:
        rows = video_frame_rows(rows, video_fps)
    backend = BlazePoseBackend(stream=False, segmentation=silhouettes)
    count = len(rows)
    masks = np.zeros((count, *SILHOUETTE_SIZE), dtype=np.uint8)
    keypoints = np.full((count, skeleton.NUM_JOINTS, 3), np.nan, dtype=np.float32)
    landmarks = np.full((count, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    sizes = np.zeros((count, 2), dtype=np.int32)
    rotations = np.zeros(count, dtype=np.int16)
    for index, row in enumerate(rows):
        image = _read_image(data_dir, row)
        if image is None:
            print(f"skipping unreadable image {row['file']}", file=sys.stderr)
            continue
        sizes[index] = (image.shape[1], image.shape[0])
        result = backend.estimate(image)
        rotations[index] = result.rotation
        if result.found:
            keypoints[index] = result.keypoints
            landmarks[index] = backend.last_landmarks
            if silhouettes and backend.last_mask is not None:
                crop = align_silhouette(backend.last_mask, result.keypoints)
                masks[index] = np.round(255 * crop).astype(np.uint8)
    arrays = {
        "files": np.array([row["file"] for row in rows]),
        "labels": np.array([row["label"] for row in rows]),
        "confidences": np.array([float(row.get("confidence") or 1.0) for row in rows]),
        "groups": np.array([row_group(row, data_dir.name) for row in rows]),
        "views": np.array([row.get("view") or "" for row in rows]),
        "kinds": np.array(["video_frame" if "video" in row else "photo" for row in rows]),
        "keypoints": keypoints,
        "landmarks": landmarks,
        "image_sizes": sizes,
        "rotations": rotations,
        "version": np.array(backend.version),
    }
    if silhouettes:
        arrays["silhouettes"] = masks
    backend.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    return arrays


def _video_clips(capture: cv2.VideoCapture, segments: list[tuple[float, float, str]],
                 backend: BlazePoseBackend, clips_per_second: float, clip_length: int
                 ) -> list[tuple[np.ndarray, str, float]]:
    """The stored clips of one video: ``(clip (T, 16, 3), label, end time)`` per sample."""
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or TRAINING_FRAME_RATE
    window = (clip_length - 1) / TRAINING_FRAME_RATE
    out: list[tuple[np.ndarray, str, float]] = []
    segment_index, frame_index = 0, 0
    buffer, glitches = ClipBuffer(clip_length, TRAINING_FRAME_RATE), PoseGlitchFilter()
    next_sample = None
    while segment_index < len(segments) and capture.grab():
        time = frame_index / fps
        frame_index += 1
        start, end, label = segments[segment_index]
        if time < start:
            continue
        if time > end:
            segment_index += 1
            backend.reset()
            buffer.clear()
            glitches.reset()
            next_sample = None
            continue
        ok, image = capture.retrieve()
        if not ok:
            break
        checked = glitches.update(backend.estimate(image).keypoints, time)
        buffer.push(checked.keypoints, time)
        if next_sample is None:
            next_sample = start + window
        clip = buffer.as_array() if time + 0.5 / fps >= next_sample else None
        if clip is not None and len(clip) == clip_length:  # else: wait for a full clip
            if clip[-1, :, 2].any():
                out.append((clip, label, time))
            next_sample += 1.0 / clips_per_second
    return out


def build_clip_cache(data_dir: Path, out_path: Path, clips_per_second: float = 2.0,
                     clip_length: int = 16) -> dict[str, np.ndarray]:
    """Real clips of the videos' labeled timeline ranges, read as the live coach reads a camera.

    Args:
        data_dir: folder holding ``labels.csv`` (rows labeled ``video`` with timeline notes).
        out_path: the ``.npz`` to write.
        clips_per_second: clips stored per second of each labeled range.
        clip_length: frames per clip T (sampled at the model's 30 fps).

    Returns:
        The arrays written to ``out_path`` (see the module docstring).
    """
    rows = [row for row in read_label_csv(data_dir / "labels.csv") if row["label"] == "video"]
    backend = BlazePoseBackend(stream=True)
    clips, meta = [], []
    for row in rows:
        segments = timeline_segments(row.get("notes", ""))
        if not segments:
            continue
        capture = open_video(data_dir / row["file"])
        if not capture.isOpened():
            print(f"skipping unreadable video {row['file']}", file=sys.stderr)
            continue
        backend.reset()
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        for clip, label, time in _video_clips(capture, sorted(segments), backend,
                                              clips_per_second, clip_length):
            clips.append(clip)
            meta.append((row, label, time, size))
        capture.release()
    backend.close()
    count = len(clips)
    clip_array = (np.stack(clips) if clips
                  else np.zeros((0, clip_length, skeleton.NUM_JOINTS, 3), np.float32))
    arrays = {
        "files": np.array([f"{row['file']}@{time:.2f}s" for row, _, time, _ in meta], dtype=str),
        "labels": np.array([label for _, label, _, _ in meta], dtype=str),
        "confidences": np.array([float(row.get("confidence") or 1.0) for row, *_ in meta]),
        "groups": np.array([row_group(row, data_dir.name) for row, *_ in meta], dtype=str),
        "views": np.array([row.get("view") or "" for row, *_ in meta], dtype=str),
        "kinds": np.full(count, "video_clip"),
        "clips": clip_array.astype(np.float32),
        "keypoints": clip_array[:, -1].astype(np.float32),
        "landmarks": np.full((count, NUM_LANDMARKS, 3), np.nan, dtype=np.float32),
        "image_sizes": np.array([size for *_, size in meta], dtype=np.int32).reshape(count, 2),
        "rotations": np.zeros(count, dtype=np.int16),
        "version": np.array(backend.version),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding labels.csv")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    parser.add_argument("--videos-only", action="store_true",
                        help="frames of the videos' labeled timeline ranges instead of photos")
    parser.add_argument("--video-clips", action="store_true",
                        help="16-frame clips of the videos' labeled ranges, read as a stream")
    parser.add_argument("--fps", type=float, default=2.0,
                        help="video frames (or clips) per second")
    parser.add_argument("--silhouettes", action="store_true",
                        help="also store BlazePose's person mask, cropped to the body axis")
    args = parser.parse_args(argv)
    if not (args.data / "labels.csv").is_file():
        print(f"error: no labels.csv in {args.data}", file=sys.stderr)
        return 2
    if args.video_clips:
        arrays = build_clip_cache(args.data, args.out, args.fps)
        print(f"wrote {args.out}: {len(arrays['files'])} clips")
        return 0
    arrays = build_cache(args.data, args.out, args.fps if args.videos_only else None,
                         silhouettes=args.silhouettes)
    found = int(np.isfinite(arrays["keypoints"][:, 0, 0]).sum())
    print(f"wrote {args.out}: {found}/{len(arrays['files'])} images with a person")
    return 0


if __name__ == "__main__":
    sys.exit(main())

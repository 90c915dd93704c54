"""After a video session: the explanation image for the worst moment of a hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coach.errors import InputError, printable
from coach.recorder import check_writable, output_error
from engine.media import read_video_frames
from engine.skeleton import NUM_JOINTS


def _frame_at(video: Path, index: int) -> np.ndarray:
    frame = read_video_frames(video, {index}).get(index)
    if frame is None:
        raise InputError(f"cannot re-read frame {index} of {printable(video)}")
    return frame


def clip_ending_at(records: list[dict], index: int, length: int) -> np.ndarray:
    """The (T, 16, 3) keypoint clip of the timeline ending at frame ``index`` (zeros = no one)."""
    start = max(0, index - length + 1)
    clip = np.zeros((index - start + 1, NUM_JOINTS, 3), dtype=np.float32)
    for row, record in enumerate(records[start:index + 1]):
        if record["keypoints"] is not None:
            clip[row] = np.asarray(record["keypoints"], dtype=np.float32)
    return clip


def explain_worst_moment(
    video: Path, records: list[dict], classifier, out_path: Path
) -> int | None:
    """Writes ``coach.explain``'s side-by-side explanation for the worst moment of a hold.

    The moment is the least straight frame among those with a trustworthy pose and a
    confident fault verdict (:func:`coach.explain.worst_moment`).

    Args:
        video: the analyzed video file.
        records: its timeline records (:func:`coach.timeline.frame_record`).
        classifier: the loaded form model.
        out_path: the PNG to write.

    Returns:
        The explained frame's index, or None when no hold shows a confident fault.

    Raises:
        OutputError: the PNG cannot be written; InputError: the frame cannot be explained.
    """
    from coach.explain import worst_moment, write_explanation

    index = worst_moment([r["probabilities"] for r in records],
                         [r["smoothed_label"] for r in records],
                         trusted=[not r.get("pose_issue") for r in records],
                         times=[r["time"] for r in records])
    if index is None:
        return None
    check_writable(out_path)
    clip = clip_ending_at(records, index, int(getattr(classifier, "clip_length", 1) or 1))
    try:
        write_explanation(_frame_at(video, index), clip, classifier, out_path)
    except OSError as error:
        raise output_error(out_path, error) from None
    except ValueError as error:
        raise InputError(f"cannot explain frame {index}: {error}") from None
    return index

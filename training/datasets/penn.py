"""Penn Action: per-video annotations, clip sampling as in DeepHAR, and a clip dataset.

The official release has ``labels/NNNN.mat`` per video (``action`` name, ``x``, ``y`` and
``visibility`` as frames x 13, ``bbox`` frames x 4, ``train`` 1 / -1, ``nframes``) and frames
in ``frames/NNNN/%06d.jpg``. The 13 joints, in the release's order (head, l/r shoulder, l/r
elbow, l/r wrist, l/r hip, l/r knee, l/r ankle), go to the canonical skeleton with the head in
the head-top slot and pelvis, thorax and upper neck left unannotated, as DeepHAR does (Penn
fills pa16j slots 3..15). Coordinates of 0 or invisible joints count as unannotated.

Clips (deephar_spec.md §4.1): T = 16 frames; training draws a random start and a subsample in
{1, 2, 3}; evaluation takes every clip at subsample 2 with start step T/2 + 1 = 9 and multiplies
the per-clip class probabilities over the video. Short videos repeat their last frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
from torch.utils.data import Dataset

from engine.pose.crops import crop_matrix, image_to_crop, to_network_input, warp_crop
from engine.skeleton import (
    HEAD_TOP,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NUM_JOINTS,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
)

PENN_ACTIONS: tuple[str, ...] = (
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing",
    "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar",
    "tennis_forehand", "tennis_serve",
)
# Canonical slot of each of Penn's 13 joints, in the release's order.
PENN_TO_CANONICAL: tuple[int, ...] = (
    HEAD_TOP, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP,
    L_KNEE, R_KNEE, L_ANKLE, R_ANKLE,
)
CLIP_LENGTH = 16
TRAIN_SUBSAMPLES: tuple[int, ...] = (1, 2, 3)
EVAL_SUBSAMPLE = 2
BOX_MARGIN = 1.25


class PennFormatError(ValueError):
    """A Penn Action file is missing or not in the release's layout (one line)."""


@dataclass(frozen=True)
class PennVideo:
    """One annotated video.

    Attributes:
        video_id: number of the video (``labels/NNNN.mat``).
        action: action name; ``label`` its index in ``PENN_ACTIONS``.
        keypoints: (N, 16, 3) canonical keypoints in pixels, confidence 1 where annotated.
        boxes: (N, 4) x1, y1, x2, y2 person boxes.
        train: True for the official training split.
    """

    video_id: int
    action: str
    label: int
    keypoints: np.ndarray
    boxes: np.ndarray
    train: bool

    @property
    def num_frames(self) -> int:
        """Frames in the video."""
        return len(self.keypoints)


def load_penn_video(path: str | Path) -> PennVideo:
    """Reads one ``labels/NNNN.mat``.

    Raises:
        PennFormatError: missing, unreadable or incomplete file.
    """
    path = Path(path)
    if not path.is_file():
        raise PennFormatError(f"Penn Action label file not found: {path}")
    try:
        data = scipy.io.loadmat(str(path), squeeze_me=True)
        action = str(data["action"]).strip()
        x = np.atleast_2d(np.asarray(data["x"], dtype=np.float32))
        y = np.atleast_2d(np.asarray(data["y"], dtype=np.float32))
        visible = np.atleast_2d(np.asarray(data["visibility"], dtype=np.float32))
        boxes = np.atleast_2d(np.asarray(data["bbox"], dtype=np.float32))
        train = int(np.asarray(data["train"]).ravel()[0]) == 1
    except KeyError as error:
        raise PennFormatError(f"{path} lacks the field {error}") from None
    except Exception as error:  # scipy raises several types for damaged files
        raise PennFormatError(f"cannot read Penn Action file {path}: {error}") from None
    if action not in PENN_ACTIONS:
        raise PennFormatError(f"{path}: unknown action {action!r}")
    if x.shape != y.shape or x.shape[1] != 13 or visible.shape != x.shape:
        raise PennFormatError(f"{path}: expected frames x 13 joints, got x {x.shape}")
    frames = x.shape[0]
    keypoints = np.zeros((frames, NUM_JOINTS, 3), np.float32)
    annotated = (visible > 0) & (x > 0) & (y > 0)
    slots = list(PENN_TO_CANONICAL)
    keypoints[:, slots, 0] = np.where(annotated, x, np.nan)
    keypoints[:, slots, 1] = np.where(annotated, y, np.nan)
    keypoints[:, slots, 2] = annotated
    keypoints[keypoints[..., 2] == 0, :2] = np.nan
    if len(boxes) < frames:  # a few releases' boxes stop a frame early
        boxes = np.concatenate([boxes, np.repeat(boxes[-1:], frames - len(boxes), 0)])
    return PennVideo(
        video_id=int(path.stem) if path.stem.isdigit() else -1,
        action=action,
        label=PENN_ACTIONS.index(action),
        keypoints=keypoints,
        boxes=boxes[:frames],
        train=train,
    )


def load_penn_split(root: str | Path, split: str) -> list[PennVideo]:
    """All videos of the official ``split`` ("train" or "test") under ``root/labels``."""
    if split not in ("train", "test"):
        raise PennFormatError(f"unknown Penn split {split!r}; use 'train' or 'test'")
    files = sorted(Path(root, "labels").glob("*.mat"))
    if not files:
        raise PennFormatError(f"no Penn Action labels in {Path(root, 'labels')}")
    videos = [load_penn_video(f) for f in files]
    return [v for v in videos if v.train == (split == "train")]


def train_clip_indices(
    num_frames: int, rng: np.random.Generator, clip_length: int = CLIP_LENGTH,
    subsamples: tuple[int, ...] = TRAIN_SUBSAMPLES,
) -> np.ndarray:
    """Frame indices of one training clip: random subsample and start (last frame repeated)."""
    step = int(rng.choice(subsamples))
    span = (clip_length - 1) * step + 1
    start = int(rng.integers(0, max(1, num_frames - span + 1)))
    return np.minimum(start + step * np.arange(clip_length), num_frames - 1)


def eval_clip_indices(
    num_frames: int, clip_length: int = CLIP_LENGTH, subsample: int = EVAL_SUBSAMPLE
) -> list[np.ndarray]:
    """Every evaluation clip of a video: subsample 2, starts every T/2 + (subsample - 1)."""
    stride = clip_length // 2 + (subsample - 1)
    span = (clip_length - 1) * subsample + 1
    starts = list(range(0, max(1, num_frames - span + 1), stride))
    return [np.minimum(s + subsample * np.arange(clip_length), num_frames - 1) for s in starts]


def clip_window(boxes: np.ndarray) -> tuple[np.ndarray, float]:
    """Square window (centre, side) around the union of a clip's boxes, with a margin."""
    low = np.nanmin(boxes[:, :2], axis=0)
    high = np.nanmax(boxes[:, 2:], axis=0)
    return (low + high) / 2.0, float(max(high - low) * BOX_MARGIN)


class PennClipDataset(Dataset):
    """16-frame clips of Penn Action videos for action training.

    Training: one random clip per video per epoch (``np.random.default_rng([seed, epoch,
    index])``). Evaluation: every evaluation clip of every video (``clip_video`` maps a clip to
    its video for the multi-clip product). Items: ``label`` (), ``video`` (), ``poses``
    (T, 16, 3) ground-truth keypoints in clip-window units (x, y in [0, 1], confidence), and
    with ``frames_root`` also ``images`` (T, 3, S, S) crops in [-1, 1].
    """

    def __init__(
        self,
        videos: list[PennVideo],
        *,
        frames_root: str | Path | None = None,
        train: bool = False,
        input_size: int = 256,
        clip_length: int = CLIP_LENGTH,
        seed: int = 0,
    ) -> None:
        self.videos = videos
        self.frames_root = Path(frames_root) if frames_root is not None else None
        self.train = train
        self.input_size = input_size
        self.clip_length = clip_length
        self.seed = seed
        self.epoch = 0
        if train:
            self.clips = [(v, None) for v in range(len(videos))]
        else:
            self.clips = [
                (v, idx) for v, video in enumerate(videos)
                for idx in eval_clip_indices(video.num_frames, clip_length)
            ]
        self.clip_video = np.array([v for v, _ in self.clips], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Selects the random clips of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def _frame(self, video: PennVideo, index: int) -> np.ndarray:
        from training.datasets.mpii import read_rgb

        assert self.frames_root is not None
        return read_rgb(self.frames_root / f"{video.video_id:04d}" / f"{index + 1:06d}.jpg")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        video_index, frames = self.clips[index]
        video = self.videos[video_index]
        if frames is None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            frames = train_clip_indices(video.num_frames, rng, self.clip_length)
        center, side = clip_window(video.boxes[frames])
        matrix = crop_matrix(center, side, self.input_size)
        keypoints = video.keypoints[frames]
        poses = np.zeros_like(keypoints)
        poses[..., :2] = np.nan_to_num(image_to_crop(keypoints[..., :2], matrix, self.input_size))
        poses[..., 2] = keypoints[..., 2]
        item = {
            "label": torch.tensor(video.label),
            "video": torch.tensor(video_index),
            "poses": torch.from_numpy(poses.astype(np.float32)),
        }
        if self.frames_root is not None:
            crops = [
                to_network_input(warp_crop(self._frame(video, int(f)), matrix, self.input_size))
                for f in frames
            ]
            item["images"] = torch.from_numpy(np.stack(crops))
        return item

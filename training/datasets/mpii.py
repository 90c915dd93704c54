"""MPII Human Pose: annotation readers and the DeepHAR training/evaluation dataset.

Two annotation layouts are read into the same ``MPIIRecord`` list:

- the authors' ``annotations.mat`` (cvpr18 release, deephar_spec.md §6): variables ``annot_tr``
  and ``annot_val``, 3 x N cells of (1-based person indices, image name, ``annorect`` structs
  with ``head`` x1 y1 x2 y2, ``objpos``, ``scale`` and ``pose`` 2 x 16 in MPII order, NaN when
  missing); ``load_mpii_mat(path, split)``;
- mmpose's JSON (a list of ``{image, center, scale, joints (16 x 2), joints_vis (16)}``), e.g.
  ``mmpose_testdata/mpii/test_mpii.json``; ``load_mpii_json(path)``.

Both come from the official Matlab annotations, whose pixel coordinates are 1-based; records
hold 0-based pixel indices (1 subtracted from joints, centres and head boxes).

Head size for PCKh: the official head box when the file has one (the .mat). The JSON layout has
none; there the head box is taken as the square of side |head_top - upper_neck| centred between
the two joints, so head size = 0.6 * sqrt(2) * |head_top - upper_neck| (``head_sizes``). This
approximation is only for data without boxes and is reported as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import torch
from torch.utils.data import Dataset

from engine.skeleton import HEAD_TOP, UPPER_NECK, from_mpii
from training.metrics import HEAD_SIZE_FACTOR
from training.transforms import (
    Augmentation,
    AugmentationConfig,
    make_crop_sample,
    mpii_window,
    sample_augmentation,
)


class MPIIFormatError(ValueError):
    """An MPII annotation file is missing, unreadable or not in a known layout (one line)."""


@dataclass(frozen=True)
class MPIIRecord:
    """One annotated person.

    Attributes:
        image: image file name relative to the image folder.
        center: (2,) person centre (``objpos``) in 0-based pixels.
        scale: MPII scale (person height / 200 px).
        keypoints: (16, 3) canonical keypoints in 0-based pixels; confidence 1 where annotated,
            0 (and NaN coordinates) where not.
        head_box: (4,) x1, y1, x2, y2 in 0-based pixels, NaN when the file has none.
    """

    image: str
    center: np.ndarray
    scale: float
    keypoints: np.ndarray
    head_box: np.ndarray


def _canonical(joints_native: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints_native, dtype=np.float32).reshape(16, 2) - 1.0
    annotated = annotated & np.isfinite(joints).all(axis=1) & (joints >= 0).all(axis=1)
    keypoints = from_mpii(np.where(annotated[:, None], joints, np.nan), annotated)
    keypoints[keypoints[:, 2] <= 0, :2] = np.nan
    return keypoints


def load_mpii_json(path: str | Path) -> list[MPIIRecord]:
    """Reads mmpose's MPII JSON layout.

    Raises:
        MPIIFormatError: missing file, invalid JSON or a missing field.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise MPIIFormatError(f"MPII annotations not found: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MPIIFormatError(f"cannot read MPII JSON {path}: {error}") from error
    if not isinstance(entries, list):
        raise MPIIFormatError(f"{path}: expected a JSON list of people")
    records = []
    for i, entry in enumerate(entries):
        try:
            joints = np.asarray(entry["joints"], dtype=np.float32)
            visible = np.asarray(entry.get("joints_vis", np.ones(16)), dtype=np.float32) > 0
            records.append(
                MPIIRecord(
                    image=str(entry["image"]),
                    center=np.asarray(entry["center"], dtype=np.float64) - 1.0,
                    scale=float(entry["scale"]),
                    keypoints=_canonical(joints, visible.reshape(16)),
                    head_box=np.full(4, np.nan),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise MPIIFormatError(f"{path}: entry {i} is not an MPII person ({error})") from error
    return records


def _flat(value: object) -> np.ndarray:
    return np.asarray(value, dtype=object).ravel()


def load_mpii_mat(path: str | Path, split: str = "val") -> list[MPIIRecord]:
    """Reads the authors' ``annotations.mat`` (``split`` "train" -> ``annot_tr``, "val").

    Raises:
        MPIIFormatError: missing or unreadable file, or not the expected layout.
    """
    path = Path(path)
    key = {"train": "annot_tr", "val": "annot_val"}.get(split)
    if key is None:
        raise MPIIFormatError(f"unknown MPII split {split!r}; use 'train' or 'val'")
    if not path.is_file():
        raise MPIIFormatError(f"MPII annotations not found: {path}")
    try:
        cells = scipy.io.loadmat(str(path))[key]
    except KeyError as error:
        raise MPIIFormatError(f"{path} has no variable {key!r}") from error
    except Exception as error:  # scipy raises several types for damaged files
        raise MPIIFormatError(f"cannot read MPII .mat {path}: {error}") from error
    records = []
    try:
        for column in range(cells.shape[1]):
            people = np.asarray(cells[0, column], dtype=np.int64).ravel()
            image = str(_flat(cells[1, column])[0])
            rects = np.asarray(cells[2, column]).ravel()
            for person in people:
                rect = rects[person - 1]
                pose = np.asarray(rect["pose"], dtype=np.float32).reshape(2, 16).T
                records.append(
                    MPIIRecord(
                        image=image,
                        center=np.asarray(rect["objpos"], dtype=np.float64).ravel()[:2] - 1.0,
                        scale=float(np.asarray(rect["scale"], dtype=np.float64).ravel()[0]),
                        keypoints=_canonical(pose, np.isfinite(pose).all(axis=1)),
                        head_box=np.asarray(rect["head"], dtype=np.float64).ravel()[:4] - 1.0,
                    )
                )
    except (IndexError, ValueError, TypeError) as error:
        raise MPIIFormatError(f"{path}: {key} is not in the cvpr18 layout ({error})") from error
    return records


def load_mpii(path: str | Path, split: str = "val") -> list[MPIIRecord]:
    """Reads either layout, chosen by the file extension (.json or .mat)."""
    if Path(path).suffix.lower() == ".json":
        return load_mpii_json(path)
    return load_mpii_mat(path, split)


def head_sizes(records: list[MPIIRecord]) -> np.ndarray:
    """PCKh head size per record: from the head box, else from upper neck and head top."""
    sizes = np.empty(len(records))
    for i, record in enumerate(records):
        box = record.head_box
        if np.isfinite(box).all():
            sizes[i] = HEAD_SIZE_FACTOR * np.linalg.norm(box[2:] - box[:2])
        else:
            segment = record.keypoints[HEAD_TOP, :2] - record.keypoints[UPPER_NECK, :2]
            sizes[i] = HEAD_SIZE_FACTOR * np.sqrt(2.0) * np.linalg.norm(segment)
    return sizes


def read_rgb(path: Path) -> np.ndarray:
    """Reads an image as (H, W, 3) uint8 RGB.

    Raises:
        MPIIFormatError: the file is missing or not a decodable image.
    """
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MPIIFormatError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class MPIIDataset(Dataset):
    """DeepHAR crops of MPII people, augmented for training or plain for evaluation.

    Augmentation draws come from ``np.random.default_rng([seed, epoch, index])``: reproducible,
    independent of worker count, and different every epoch (call ``set_epoch``).

    Items are dicts of tensors: ``image`` (3, S, S), ``coords`` (16, 2) crop units with -1e9
    where invalid, ``visible`` (16,), ``matrix`` (3, 3) float64, ``flip`` (), ``index`` (),
    and for evaluation ``keypoints`` (16, 3) image-pixel ground truth (NaN coordinates where
    unannotated) and ``head_size`` () for PCKh.
    """

    def __init__(
        self,
        records: list[MPIIRecord],
        image_dir: str | Path,
        *,
        input_size: int = 256,
        augment: bool = False,
        augmentation: AugmentationConfig | None = None,
        seed: int = 0,
        cache_images: bool = False,
    ) -> None:
        self.records = records
        self.image_dir = Path(image_dir)
        self.input_size = input_size
        self.augment = augment
        self.augmentation = augmentation or AugmentationConfig()
        self.seed = seed
        self.epoch = 0
        self._cache: dict[str, np.ndarray] | None = {} if cache_images else None
        self._head_sizes = head_sizes(records)

    def set_epoch(self, epoch: int) -> None:
        """Selects the augmentation draws of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _image(self, name: str) -> np.ndarray:
        if self._cache is None:
            return read_rgb(self.image_dir / name)
        if name not in self._cache:
            self._cache[name] = read_rgb(self.image_dir / name)
        return self._cache[name]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        record = self.records[index]
        center, side = mpii_window(record.center, record.scale)
        augmentation = Augmentation()
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            augmentation = sample_augmentation(rng, self.augmentation)
        sample = make_crop_sample(
            self._image(record.image), record.keypoints, center, side, self.input_size,
            augmentation,
        )
        return {
            "image": torch.from_numpy(sample.image),
            "coords": torch.from_numpy(sample.coords),
            "visible": torch.from_numpy(sample.visible),
            "matrix": torch.from_numpy(sample.matrix),
            "flip": torch.tensor(sample.flip),
            "index": torch.tensor(index),
            "keypoints": torch.from_numpy(record.keypoints.astype(np.float64)),
            "head_size": torch.tensor(float(self._head_sizes[index])),
        }

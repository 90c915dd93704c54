"""Caches BlazePose keypoints for a labeled photo folder (e.g. the real handstand dev set).

Usage:
    python -m training.pose_cache --data PATH/handstand_dev --out cache/handstand_dev_blazepose.npz

``PATH/labels.csv`` lists ``file,label,confidence,...`` (handstand_dev's ``notes`` or
handstand_more's ``view,notes,person,source_repo,...``); every listed image is run through
BlazePose in image mode (0°/180° handling included); rows labeled ``video`` are skipped. The
cache holds, per image: ``files``, ``labels``, ``confidences``, ``groups`` (the person or
source a grouped evaluation keeps together, see ``row_group``), ``views`` (``side``,
``front``, ... or "" when not given), ``keypoints`` (N, 16, 3) canonical pixels (NaN where no
person was found), ``landmarks`` (N, 33, 3) raw BlazePose, ``image_sizes`` (N, 2) as (w, h),
``rotations`` (N,), and the back-end ``version``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton
from engine.pose.blazepose import NUM_LANDMARKS, BlazePoseBackend


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


def build_cache(data_dir: Path, out_path: Path) -> dict[str, np.ndarray]:
    """Runs BlazePose on every image listed in ``data_dir/labels.csv`` and saves the cache.

    Returns:
        The arrays written to ``out_path``.
    """
    rows = [row for row in read_label_csv(data_dir / "labels.csv") if row["label"] != "video"]
    backend = BlazePoseBackend(stream=False)
    count = len(rows)
    keypoints = np.full((count, skeleton.NUM_JOINTS, 3), np.nan, dtype=np.float32)
    landmarks = np.full((count, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    sizes = np.zeros((count, 2), dtype=np.int32)
    rotations = np.zeros(count, dtype=np.int16)
    for index, row in enumerate(rows):
        image = cv2.imread(str(data_dir / row["file"]), cv2.IMREAD_COLOR)
        if image is None:
            print(f"skipping unreadable image {row['file']}", file=sys.stderr)
            continue
        sizes[index] = (image.shape[1], image.shape[0])
        result = backend.estimate(image)
        rotations[index] = result.rotation
        if result.found:
            keypoints[index] = result.keypoints
            landmarks[index] = backend.last_landmarks
    arrays = {
        "files": np.array([row["file"] for row in rows]),
        "labels": np.array([row["label"] for row in rows]),
        "confidences": np.array([float(row.get("confidence") or 1.0) for row in rows]),
        "groups": np.array([row_group(row, data_dir.name) for row in rows]),
        "views": np.array([row.get("view") or "" for row in rows]),
        "keypoints": keypoints,
        "landmarks": landmarks,
        "image_sizes": sizes,
        "rotations": rotations,
        "version": np.array(backend.version),
    }
    backend.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding labels.csv")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args(argv)
    if not (args.data / "labels.csv").is_file():
        print(f"error: no labels.csv in {args.data}", file=sys.stderr)
        return 2
    arrays = build_cache(args.data, args.out)
    found = int(np.isfinite(arrays["keypoints"][:, 0, 0]).sum())
    print(f"wrote {args.out}: {found}/{len(arrays['files'])} images with a person")
    return 0


if __name__ == "__main__":
    sys.exit(main())

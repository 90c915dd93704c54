"""Where a training run writes its model, and how it appears there in one step.

A run writes its weights, model card and report into a hidden staging folder next to the
destination; only when all of them are complete are they renamed into place, the JSON card
last (the app checks the weights against the card's sha256, so until the card arrives it keeps
reading the previous pair). An interrupted or failed run leaves the destination untouched and
removes its staging folder. A model that is replaced is first copied to
``runs/replaced_<time>/``: retraining never deletes a good model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from engine.checkpoint import card_path_for

RUNS_FOLDER = Path("runs")
MODEL_FILE_NAME = "form_handstand.pt"


def _new_folder_name(runs: Path, prefix: str = "") -> Path:
    """``runs/<prefix><YYYYmmdd-HHMMSS>``, with a number appended if that exists already."""
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    folder, number = runs / stamp, 1
    while folder.exists():
        number += 1
        folder = runs / f"{stamp}_{number}"
    return folder


def default_run_weights(runs: Path = RUNS_FOLDER) -> Path:
    """A new ``runs/<YYYYmmdd-HHMMSS>/form_handstand.pt``: the default of a training run."""
    return _new_folder_name(runs) / MODEL_FILE_NAME


def model_files(weights: Path) -> list[Path]:
    """A model's files in the order they are published: report, Markdown card, weights, card."""
    return [weights.with_name(weights.stem + "_report"), weights.with_suffix(".card.md"),
            weights, card_path_for(weights)]


def _keep_previous(weights: Path, runs: Path) -> Path | None:
    existing = [path for path in model_files(weights) if path.exists()]
    if not existing:
        return None
    backup = _new_folder_name(runs, "replaced_")
    backup.mkdir(parents=True, exist_ok=True)
    for path in existing:
        if path.is_dir():
            shutil.copytree(path, backup / path.name, dirs_exist_ok=True)
        else:
            shutil.copy2(path, backup / path.name)
    return backup


@contextlib.contextmanager
def staged_model(weights: Path, runs: Path = RUNS_FOLDER, log=print) -> Iterator[Path]:
    """Yields where to write the model; publishes all its files at once on success.

    Args:
        weights: the final checkpoint path (``.pt``); its card and report go beside it.
        runs: where a replaced model is kept.
        log: printer for what was kept and written.

    Yields:
        The checkpoint path inside the staging folder (write the card and report beside it).
    """
    weights.parent.mkdir(parents=True, exist_ok=True)
    staging = weights.parent / f".staging-{weights.stem}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging / weights.name
        staged = model_files(staging / weights.name)
        backup = _keep_previous(weights, runs)
        if backup is not None:
            log(f"kept the previous model in {backup}")
        for source, target in zip(staged, model_files(weights), strict=True):
            if not source.exists():
                continue
            if target.is_dir():
                shutil.rmtree(target)  # an old report: its copy is in the backup
            os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def usage_hint(weights: Path) -> str:
    """How to run the app with a newly trained model."""
    return (f"to use it: python run_coach.py --weights {weights} --camera 0 (or formcoach "
            f"--weights {weights} ...)")

"""Chooses and loads what the app runs: the pose back-end, the form model, the ideal pose.

``--weights FILE`` may be given several times. Each file is loaded once
(``engine.checkpoint.load``) and goes by its kind: ``"form"`` checkpoints to ``engine.form``,
``"pose"`` checkpoints to the DeepHAR pose back-end.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach.errors import ModelError, UsageError
from engine.checkpoint import Checkpoint, CheckpointError, load
from engine.form import DEFAULT_FORM_WEIGHTS, FormModelError, FormModelNotInstalled
from engine.ideal import load_ideal_pose
from engine.pose.base import PoseBackendError

POSE_CHOICES = ("auto", "blazepose", "deephar")


@dataclass
class ModelChoice:
    """The weights sorted by kind.

    Attributes:
        form: the loaded form checkpoint, or the default weights path when none was given.
        pose: the loaded DeepHAR pose checkpoint, or None.
    """

    form: Checkpoint | Path = DEFAULT_FORM_WEIGHTS
    pose: Checkpoint | None = None


def sort_weights(paths: list[Path] | None) -> ModelChoice:
    """Loads the ``--weights`` files and routes them by kind.

    Raises:
        ModelError: a file is missing, corrupt, does not match its model card, or is of
            another kind.
        UsageError: two files of the same kind.
    """
    choice = ModelChoice()
    seen: dict[str, Path] = {}
    for path in paths or []:
        path = Path(path)
        try:
            checkpoint = load(path, ("form", "pose"))
        except CheckpointError as error:
            raise ModelError(str(error)) from None
        kind = checkpoint.kind
        if kind in seen:
            raise UsageError(f"two {kind} weights files given: {seen[kind]} and {path}")
        seen[kind] = path
        if kind == "form":
            choice.form = checkpoint
        else:
            choice.pose = checkpoint
    return choice


def make_pose_backend(pose: str, weights: Checkpoint | None, *, stream: bool):
    """Builds the pose back-end.

    Args:
        pose: ``auto`` (DeepHAR when pose weights are given, else BlazePose), ``blazepose`` or
            ``deephar``.
        weights: the loaded DeepHAR pose checkpoint, or None.
        stream: tracking mode for video; False for photos.

    Raises:
        ModelError: the back-end is unavailable or cannot start.
        UsageError: pose weights given with ``--pose blazepose``.
    """
    if pose not in POSE_CHOICES:
        raise UsageError(f"unknown pose back-end {pose!r}; choose one of {POSE_CHOICES}")
    if pose == "auto":
        pose = "deephar" if weights is not None else "blazepose"
    if pose == "blazepose" and weights is not None:
        raise UsageError(f"--pose blazepose does not take pose weights ({weights.path})")
    try:
        if pose == "blazepose":
            from engine.pose.blazepose import BlazePoseBackend

            backend = BlazePoseBackend(stream=stream)
            warm_up(backend)
            return backend
        from engine.pose.deephar import DeepHARBackend

        return DeepHARBackend(weights) if weights is not None else DeepHARBackend()
    except PoseBackendError as error:
        raise ModelError(str(error)) from None
    except TypeError as error:
        raise ModelError(f"cannot start the {pose} pose back-end: {error}") from None


def limit_torch_threads(threads: int = 1) -> None:
    """Keeps torch to ``threads`` intra-op threads.

    The form model is small and runs beside the pose back-end; on a 2-core machine torch's
    default of one thread per core makes the two fight over the cores and both get slower.
    """
    import torch

    torch.set_num_threads(threads)


FORM_BACKENDS = ("fast", "eager", "onnxruntime", "tensorrt", "auto")


def _warm_up_classifier(classifier) -> None:
    """Runs one prediction so a compiled backend is built now, not on the first frame."""
    rng = np.random.default_rng(0)
    clip = rng.uniform(0.0, 200.0, (int(classifier.clip_length), 16, 3)).astype(np.float32)
    clip[..., 2] = 1.0
    classifier.predict(clip)


def load_classifier(
    weights: Checkpoint | Path, backend: str = "fast"
) -> tuple[object | None, str]:
    """Loads the form model.

    Args:
        weights: the loaded form checkpoint, or the path of form-model weights.
        backend: an ``engine.runtime`` backend, or ``"fast"``: ONNX Runtime where it is
            installed and exports the model (several times faster than eager PyTorch on CPU),
            eager PyTorch otherwise.

    Returns:
        (classifier, status): the classifier and "" when loaded; (None, one-line status) when
        no form model is installed (the app then says so instead of showing a verdict).

    Raises:
        ModelError: the weights exist but are corrupt or mismatched, or the backend fails.
    """
    from engine.form import FormClassifier, load_form_model

    def classifier_for(backend: str) -> FormClassifier:
        if isinstance(weights, Checkpoint):
            return FormClassifier.from_checkpoint(weights, backend=backend)
        return load_form_model(weights, backend=backend)

    if backend not in FORM_BACKENDS:
        raise UsageError(f"unknown form backend {backend!r}; choose one of {FORM_BACKENDS}")
    try:
        if backend == "fast":
            try:
                classifier = classifier_for("onnxruntime")
                # One thread: ONNX Runtime's default pool spins on every core and starves the
                # pose back-end running beside it (measured: full loop 0.53 -> 0.98 of pose-only).
                classifier.num_threads = 1
                _warm_up_classifier(classifier)
                return classifier, ""
            except FormModelError:
                raise
            except Exception:  # no onnxruntime, or the export failed: eager always works
                backend = "eager"
        classifier = classifier_for(backend)
        classifier.num_threads = 1
        _warm_up_classifier(classifier)
        return classifier, ""
    except FormModelNotInstalled:
        return None, "no form model installed"
    except FormModelError as error:
        raise ModelError(str(error)) from None
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ModelError(f"form model cannot run with backend {backend!r}: {message}") from None


def load_ideal() -> tuple[object | None, str]:
    """The averaged ideal pose (``engine.ideal``).

    Returns:
        (ideal pose or None, warning): a broken ideal-pose file only costs the ghost, never the
        session, so its problem comes back as a one-line warning instead of an error.
    """
    try:
        return load_ideal_pose(), ""
    except Exception as error:
        return None, f"ideal pose not shown: {error}"


@contextlib.contextmanager
def _native_stderr_silenced():
    """Sends file descriptor 2 to /dev/null (native libraries log there at graph start-up)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def warm_up(backend) -> None:
    """Runs the back-end once on a blank frame, with native stderr silenced.

    Start-up (and mediapipe's start-up log noise) then happens here, not on the first frame.
    """
    blank = np.zeros((64, 64, 3), dtype=np.uint8)
    with _native_stderr_silenced():
        backend.estimate(blank)

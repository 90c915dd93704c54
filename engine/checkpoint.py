"""The project's checkpoints: one record for every kind of weights, one atomic save, one load.

Every checkpoint the project writes (``training/train_form.py``: ``"form"``,
``training/train_pose.py``: ``"pose"``, ``training/train_action.py``: ``"action"``) is a torch
file holding a plain dict (loadable with ``torch.load(weights_only=True)``, so loading never
runs code from the file) with the fields of :class:`Checkpoint`. Fields a file lacks take the
dataclass defaults, so files written before a field existed still load; keys this version does
not know are ignored.

A form checkpoint has a model card beside it (``form_handstand.json`` next to
``form_handstand.pt``) holding the file's sha256. :func:`load` reads the file once, checks those
bytes against the card before unpickling them, and fails with a one-line
:class:`CheckpointError` on a missing, empty, corrupt, mismatched or wrong-kind file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.features import MIN_JOINT_CONFIDENCE
from engine.models import create_model
from engine.models.ensemble import ModelAverage

FORMAT_VERSION = 1
KINDS = ("form", "pose", "action")
# Kinds whose files must come with a model card (the shipped and published form models).
CARDED_KINDS = frozenset({"form"})
# The synthetic generator's frame rate (training.synth.motions.FPS); checkpoints may name another.
TRAINING_FRAME_RATE = 30.0
# What a checkpoint file stores besides the fields: nothing; these are found out when loading.
_LOADED_FIELDS = ("path", "sha256")


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded; the message is one line for the user."""


@dataclass(frozen=True)
class InputChecks:
    """Sanity limits of a form model's input (fitted on the synthetic training set).

    Attributes:
        min_confidence: joints below it count as missing.
        view_threshold: below this probability the view cannot show an arch.
        leg_torso_ratio_range: plausible (low, high) leg-to-torso image length ratio for a
            straight or banana handstand.
    """

    min_confidence: float = MIN_JOINT_CONFIDENCE
    view_threshold: float = 0.5
    leg_torso_ratio_range: tuple[float, float] = (0.9, 4.0)

    def __post_init__(self) -> None:
        ratio = tuple(float(value) for value in self.leg_torso_ratio_range)
        if len(ratio) != 2:
            raise ValueError(f"leg_torso_ratio_range needs (low, high), got {len(ratio)} values")
        object.__setattr__(self, "min_confidence", float(self.min_confidence))
        object.__setattr__(self, "view_threshold", float(self.view_threshold))
        object.__setattr__(self, "leg_torso_ratio_range", ratio)


@dataclass
class Checkpoint:
    """A trained network with everything needed to use it, reproduce it or resume it.

    Attributes:
        kind: what the network is for, one of ``KINDS``.
        model_name: its registered variant (``engine.models.create_model``).
        model_kwargs: keyword arguments of that variant the run overrode.
        state_dict: the network's weights (CPU tensors); for an ensemble, the
            ``engine.models.ensemble.ModelAverage``'s (keys ``members.<k>.``).
        members: how many models of ``model_name`` the network averages (1: a single
            model, not wrapped).
        config: the resolved training configuration (``dataclasses.asdict`` of it).
        metrics: figures the run measured (pose and action: the last epoch's).
        labels: class names in the model's output order (form).
        temperature: calibration temperature dividing the logits (form).
        clip_length: frames the model takes (form).
        frame_rate: frames per second of the clips the model learned from (form).
        checks: input sanity limits (form).
        input_size: side of the square input image in pixels (pose).
        epoch: epochs trained so far (pose and action runs).
        best_pckh: best validation PCKh so far (pose runs).
        optimizer: optimizer state to resume from (pose runs).
        scheduler: learning-rate scheduler state to resume from (pose runs).
        format_version: layout version of the file.
        path: the file it was loaded from (not stored).
        sha256: hex sha256 of that file's bytes (not stored).
    """

    kind: str
    model_name: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    members: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    temperature: float = 1.0
    clip_length: int = 16
    frame_rate: float = TRAINING_FRAME_RATE
    checks: InputChecks = field(default_factory=InputChecks)
    input_size: int | None = None
    epoch: int | None = None
    best_pckh: float | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    path: Path | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        # Files are plain data: give every field its type (a wrong one is a damaged file).
        self.kind = str(self.kind)
        self.model_name = str(self.model_name)
        self.model_kwargs = {
            str(key): tuple(value) if isinstance(value, list) else value
            for key, value in dict(self.model_kwargs).items()
        }
        self.state_dict = dict(self.state_dict)
        self.config = dict(self.config)
        self.metrics = dict(self.metrics)
        if isinstance(self.labels, str):
            raise TypeError("labels must be a list of class names")
        self.labels = tuple(str(label) for label in self.labels)
        self.temperature = float(self.temperature)
        self.clip_length = int(self.clip_length)
        self.frame_rate = float(self.frame_rate)
        self.format_version = int(self.format_version)
        self.members = int(self.members)
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {self.members}")
        for name, convert in (("input_size", int), ("epoch", int), ("best_pckh", float)):
            value = getattr(self, name)
            setattr(self, name, None if value is None else convert(value))

    def build_model(self, state_dict: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """The registered model with ``state_dict`` (default: the checkpoint's), in eval mode.

        Raises:
            CheckpointError: unknown model name, kwargs the variant refuses, or weights that
                do not fit it.
        """
        where = self.path if self.path is not None else "checkpoint"
        try:
            members = [create_model(self.model_name, **self.model_kwargs)
                       for _ in range(self.members)]
            model = members[0] if self.members == 1 else ModelAverage(members)
        except KeyError as error:
            raise CheckpointError(
                f"{where}: unknown or missing model name ({_one_line(error)})"
            ) from None
        except Exception as error:  # noqa: BLE001 - any refusal of the kwargs is one line
            raise CheckpointError(
                f"{where}: cannot build model {self.model_name!r} ({_one_line(error)})"
            ) from None
        try:
            model.load_state_dict(self.state_dict if state_dict is None else state_dict)
        except Exception as error:  # noqa: BLE001 - any misfit of the tensors is one line
            raise CheckpointError(
                f"{where}: weights do not match the model architecture of "
                f"{self.model_name!r} ({_one_line(error)[:120]})"
            ) from None
        return model.eval()

    def to_dict(self) -> dict[str, Any]:
        """The plain dict a file holds (tuples as lists, unset optional fields left out)."""
        stored: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in _LOADED_FIELDS or value is None:
                continue
            if item.name == "checks":
                stored.update(_plain(dataclasses.asdict(value)))
            elif item.name == "state_dict":
                stored[item.name] = {k: v.detach().cpu() for k, v in value.items()}
            elif item.name in ("config", "metrics"):
                stored[item.name] = value
            else:
                stored[item.name] = _plain(value)
        return stored

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Checkpoint:
        """The checkpoint a file's dict describes (missing fields take the defaults).

        Raises:
            KeyError: no model name.
            TypeError, ValueError, OverflowError: a field is not of its type.
        """
        names = {item.name for item in dataclasses.fields(cls)} - set(_LOADED_FIELDS)
        values = {key: value for key, value in stored.items() if key in names - {"checks"}}
        check_names = {item.name for item in dataclasses.fields(InputChecks)}
        checks = {key: value for key, value in stored.items() if key in check_names}
        if "model_name" not in values:
            raise KeyError("model_name")
        return cls(**values, checks=InputChecks(**checks))


def card_path_for(weights: Path | str) -> Path:
    """The model card JSON that belongs to a weights file (same name, ``.json``)."""
    return Path(weights).with_suffix(".json")


def save(checkpoint: Checkpoint, path: Path | str) -> str:
    """Writes ``checkpoint`` to ``path`` whole or not at all; returns the file's sha256.

    The bytes go to a temporary file in the same folder, reach the disk, and are renamed over
    ``path``: a crash never leaves half a checkpoint, and a reader sees the old or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(checkpoint.to_dict(), buffer)
    data = buffer.getvalue()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest()


def load(
    path: Path | str,
    kind: str | Sequence[str],
    *,
    verify_checksum: bool = True,
    map_location: torch.device | str = "cpu",
) -> Checkpoint:
    """Reads a checkpoint of ``kind`` (or of one of several kinds).

    Args:
        path: the ``.pt`` file.
        kind: the kind expected, or the kinds accepted.
        verify_checksum: check the file's bytes against its model card's sha256 (when a card
            exists; ``CARDED_KINDS`` need one).
        map_location: where the tensors go.

    Returns:
        The checkpoint, with ``path`` and ``sha256`` set.

    Raises:
        CheckpointError: missing, empty or corrupt file, a card that does not match, another
            kind, or fields that are not of their type (one line each).
    """
    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        data = b"" if path.is_dir() else path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"weights file cannot be read: {path} ({error.strerror})") from None
    if not data:
        raise CheckpointError(f"weights file is empty or a folder: {path}")
    sha256 = hashlib.sha256(data).hexdigest()
    card = card_path_for(path)
    expected = _card_sha256(card) if verify_checksum and card.exists() else None
    if expected is not None and expected != sha256:
        raise CheckpointError(
            f"weights file {path} is corrupt: checksum mismatch (sha256 {sha256[:12]}..., "
            f"card says {expected[:12]}...); copy it with its card again, or retrain"
        )
    try:
        stored = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for damaged files
        raise CheckpointError(
            f"weights file is corrupt or not a formcoach checkpoint: {path} "
            f"({_load_failure(data, error)})"
        ) from None
    found = stored.get("kind") if isinstance(stored, dict) else None
    if found not in kinds:
        raise CheckpointError(
            f"{path} is not a {' or '.join(_KIND_NAMES.get(k, k) for k in kinds)} checkpoint "
            f"(kind {found!r})"
        )
    if verify_checksum and found in CARDED_KINDS and expected is None:
        raise CheckpointError(f"weights file {path} has no model card (expected {card})")
    try:
        checkpoint = Checkpoint.from_dict(stored)
    except KeyError as error:
        raise CheckpointError(f"{path}: unknown or missing model name ({error})") from None
    except (TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint fields ({_one_line(error)})") from None
    checkpoint.path, checkpoint.sha256 = path, sha256
    return checkpoint


_KIND_NAMES = {"form": "form model"}


def _card_sha256(card: Path) -> str:
    try:
        return str(json.loads(card.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"model card {card} is unreadable: {_one_line(error)}") from None


def _load_failure(data: bytes, error: Exception) -> str:
    """A short reason why ``torch.load`` failed on a file's bytes."""
    text = str(error).strip()
    if "Weights only load failed" in text:
        # torch's own message suggests weights_only=False, which would run code from the file.
        return "not a PyTorch weights file"
    if data[:4] == b"PK\x03\x04":  # a PyTorch checkpoint is a zip archive: this one is damaged
        return "incomplete or damaged; an interrupted download or copy?"
    if not data.startswith(b"\x80"):  # neither a zip archive nor a (legacy) pickle
        return "not a PyTorch weights file"
    return text.splitlines()[0][:120] if text else type(error).__name__


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _plain(value: Any) -> Any:
    """Tuples as lists, in dicts too: the layout files have always had."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value

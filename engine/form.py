"""Form verdicts from the learned handstand form model.

``load_form_model`` reads ``weights/form_handstand.pt`` (a checkpoint written by
``training/train_form.py``, see ``engine/checkpoint.py``), checks it against the sha256 in its
model card (``form_handstand.json`` next to it) and returns a ``FormClassifier``. The classifier
normalizes a clip of pixel keypoints (``engine/features.py``), runs the DeepHAR action stream
(``engine/models/form_net.py``) through ``engine/runtime.py`` and turns the temperature-scaled
scores into a ``FormVerdict``.

When it cannot judge, the label is ``"unknown"``, ``can_judge`` is False and ``reason`` says
why; the probabilities are reported all the same. Reasons:

- "no person found": no confident joint in the clip;
- "key joints not visible: ...": wrists, shoulders, hips or ankles missing (both sides) when
  the clip looks like a straight or banana handstand, or most of them missing in any case;
- "pose estimate unreliable: leg/torso proportions implausible": the leg-to-torso length
  ratio is outside the range seen in the synthetic training handstands (the pose estimator
  collapsed the legs);
- "turn sideways to the camera": the learned view head says this view cannot show an arch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoint import (
    TRAINING_FRAME_RATE,
    Checkpoint,
    CheckpointError,
    InputChecks,
    load,
)
from engine.features import (
    KEY_JOINT_PAIRS,
    clip_normalization_torch,
    flip_features,
    last_observed_frame,
    leg_to_torso_ratio,
    missing_key_joint_pairs,
    normalize_clip_torch,
    prepare_clip,
)
from engine.verdict import FORM_LABELS as FORM_LABELS
from engine.verdict import LINE_LABELS, STRAIGHT_LABEL
from engine.verdict import UNKNOWN_LABEL as UNKNOWN_LABEL
from engine.verdict import FormVerdict as FormVerdict
from weights import shipped_file

DEFAULT_FORM_WEIGHTS = shipped_file("form_handstand.pt")
_KEY_PAIR_NAMES = ("wrists", "shoulders", "hips", "ankles")

StraightScorer = Callable[[torch.Tensor], torch.Tensor]
"""(T, 16, 3) pixel keypoints -> scalar logit; ``sigmoid(logit)`` is P(straight), calibrated
(or a lower bound of it that also holds the view check, see ``FormClassifier.straight_scorer``)."""


class FormModelError(RuntimeError):
    """The form model cannot be loaded or run; the message is one line for the user."""


class FormModelNotInstalled(FormModelError):
    """No trained form model exists at the expected path."""


class FormClassifier:
    """Scores clips of canonical keypoints with the learned form model.

    Args:
        model: a ``FormNet`` (see ``engine/models/form_net.py``) in eval mode.
        temperature: calibration temperature dividing the logits (> 0).
        clip_length: frames the model takes; shorter clips are padded, longer ones cropped.
        frame_rate: frames per second of the clips the model learned from (streams are
            sampled at this rate, see ``engine.clip.ClipBuffer``).
        labels: class names in the model's output order.
        checks: input sanity limits.
        backend: execution backend for ``engine.runtime.compile_for_inference``.
        device: where the model runs.
    """

    # ONNX Runtime intra-op threads for compiled backends (None: its default, which spins on
    # every core). Set before the first prediction; the app uses 1 beside the pose back-end.
    num_threads: int | None = None
    # Which file the model came from (set by ``load_form_model``; timelines record them).
    weights_path: Path | None = None
    weights_sha256: str | None = None

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        temperature: float = 1.0,
        clip_length: int = 16,
        frame_rate: float = TRAINING_FRAME_RATE,
        labels: Sequence[str] = FORM_LABELS,
        checks: InputChecks | None = None,
        backend: str = "eager",
        device: torch.device | str = "cpu",
    ) -> None:
        if temperature <= 0:
            raise FormModelError(f"form model temperature must be > 0, got {temperature}")
        self.model = model.eval()
        self.temperature = float(temperature)
        self.clip_length = int(clip_length)
        self.frame_rate = float(frame_rate)
        self.labels = tuple(labels)
        self.checks = checks or InputChecks()
        self.backend = backend
        self.device = torch.device(device)
        self._compiled: dict[int, Any] = {}

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: Checkpoint,
        *,
        backend: str = "eager",
        device: torch.device | str = "cpu",
    ) -> FormClassifier:
        """The classifier of a loaded ``"form"`` checkpoint (``engine.checkpoint.load``).

        Raises:
            FormModelError: its weights do not fit the architecture, or its calibration is
                invalid.
        """
        try:
            model = checkpoint.build_model()
        except CheckpointError as error:
            raise FormModelError(str(error)) from None
        classes = getattr(model, "num_classes", len(checkpoint.labels))
        if len(checkpoint.labels) != classes:
            raise FormModelError(f"{checkpoint.path}: {len(checkpoint.labels)} labels for a "
                                 f"model of {classes} classes")
        classifier = cls(
            model,
            temperature=checkpoint.temperature,
            clip_length=checkpoint.clip_length,
            frame_rate=checkpoint.frame_rate,
            labels=checkpoint.labels,
            checks=checkpoint.checks,
            backend=backend,
            device=device,
        )
        classifier.weights_path = checkpoint.path
        classifier.weights_sha256 = checkpoint.sha256
        return classifier

    def _runner(self, batch: int):
        """The model compiled for a batch size (compiled on first use, then cached)."""
        if batch not in self._compiled:
            from engine.runtime import compile_for_inference

            example = torch.zeros(batch, self.clip_length, self.model.num_joints, 3)
            self._compiled[batch] = compile_for_inference(
                self.model, (example,), self.backend, self.device, num_threads=self.num_threads
            )
        return self._compiled[batch]

    def scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated class probabilities and view probabilities for prepared features.

        The logits of each clip and of its mirror image are averaged (the classes do not
        change under a horizontal mirror), then divided by the temperature.

        Args:
            features: (N, clip_length, J, 3) output of ``engine.features.prepare_clip``.

        Returns:
            ``(probabilities (N, A), view_probability (N,))``.
        """
        features = np.asarray(features, dtype=np.float32)
        count = len(features)
        both = np.ascontiguousarray(np.concatenate([features, flip_features(features)]))
        inputs = torch.from_numpy(both)
        logits, view_logit, _ = self._runner(inputs.shape[0])(inputs.to(self.device))
        logits = torch.as_tensor(logits).float().cpu()
        view_logit = torch.as_tensor(view_logit).float().cpu()
        logits = (logits[:count] + logits[count:]) / 2 / self.temperature
        view_logit = (view_logit[:count] + view_logit[count:]) / 2
        probabilities = torch.softmax(logits, dim=-1).numpy()
        return probabilities, torch.sigmoid(view_logit).numpy()

    def predict(self, clip: np.ndarray) -> FormVerdict:
        """Judges one clip.

        Args:
            clip: (T, 16, 3) keypoints in image pixels with confidence, NaN or confidence 0
                for missing joints or frames; T >= 1 (a photo is a clip of one frame). The
                image size does not matter: features are translation and scale normalized.

        Returns:
            The verdict.
        """
        return self.predict_batch([clip])[0]

    def predict_batch(self, clips: Sequence[np.ndarray] | np.ndarray) -> list[FormVerdict]:
        """Judges several clips (each (T_i, 16, 3), lengths may differ) in one model call."""
        if len(clips) == 0:
            return []
        features = np.stack(
            [prepare_clip(c, self.clip_length, self.checks.min_confidence) for c in clips]
        )
        probabilities, view = self.scores(features)
        return [
            self._verdict(np.asarray(c, dtype=np.float32), p, float(v))
            for c, p, v in zip(clips, probabilities, view, strict=True)
        ]

    def _verdict(self, clip: np.ndarray, probabilities: np.ndarray, view: float) -> FormVerdict:
        checks = self.checks
        last = last_observed_frame(clip, checks.min_confidence)
        if last < 0:
            uniform = {name: 1.0 / len(self.labels) for name in self.labels}
            return FormVerdict(uniform, UNKNOWN_LABEL, False, "no person found")
        named = {name: float(p) for name, p in zip(self.labels, probabilities, strict=True)}
        top = self.labels[int(np.argmax(probabilities))]
        reason = judge_blocker(clip[last], top, view, checks)
        if reason:
            return FormVerdict(named, UNKNOWN_LABEL, False, reason)
        return FormVerdict(named, top, True, "")

    def straight_scorer(self, *, require_view: bool = True) -> StraightScorer:
        """The differentiable calibrated log-odds that a clip is a straight handstand.

        Features are computed as ``engine.features.prepare_clip`` does (last ``clip_length``
        frames, normalized with the clip's own centre and scale, padded by repeating the first
        frame), differentiably including the centre and scale, and the logits of the clip and
        of its mirror image are averaged and tempered as in ``scores``: the score agrees with
        the verdict on a moved pose. Runs the eager model.

        Args:
            require_view: score the smaller of the straight log-odds and the view head's
                log-odds above ``checks.view_threshold``: a pose then only counts as straight
                when the classifier would also judge it (not "turn sideways to the camera").

        Returns:
            (T, 16, 3) pixel keypoints with confidence (no NaN) -> 0-dim tensor, > 0 where the
            verdict would be straight; differentiable with respect to the keypoints.
        """
        model, clip_length, temperature = self.model, self.clip_length, self.temperature
        min_confidence = self.checks.min_confidence
        view_threshold = self.checks.view_threshold if require_view else 0.0
        # The view head's logit at the threshold.
        view_offset = 0.0 if not view_threshold else float(
            np.log(view_threshold / (1.0 - view_threshold))
        )

        def score(clip: torch.Tensor) -> torch.Tensor:
            clip = clip[-clip_length:]
            center, scale = clip_normalization_torch(clip, min_confidence)
            features = normalize_clip_torch(clip, center, scale, min_confidence)
            frames = features.shape[0]
            if frames < clip_length:
                features = torch.cat([features[:1].expand(clip_length - frames, -1, -1), features])
            logits, view_logit, _ = model(torch.stack([features, flip_features(features)]))
            straight = straight_log_odds(logits.mean(0), temperature, self.labels)
            if view_threshold > 0 and view_logit is not None:
                return torch.minimum(straight, view_logit.reshape(-1).mean() - view_offset)
            return straight

        return score


def straight_log_odds(
    logits: torch.Tensor, temperature: float = 1.0, labels: Sequence[str] = FORM_LABELS
) -> torch.Tensor:
    """Log-odds of ``straight`` against every other class from class logits.

    Args:
        logits: (..., A) class logits in ``labels`` order.
        temperature: calibration temperature dividing the logits.
        labels: the class names of the logits.

    Returns:
        (...) ``log p(straight) - log(1 - p(straight))`` of the tempered softmax.
    """
    scaled = logits / temperature
    straight = list(labels).index(STRAIGHT_LABEL)
    others = torch.cat([scaled[..., :straight], scaled[..., straight + 1 :]], dim=-1)
    return scaled[..., straight] - torch.logsumexp(others, dim=-1)


def judge_blocker(frame: np.ndarray, top_label: str, view: float, checks: InputChecks) -> str:
    """Why a clip whose last seen frame is ``frame`` cannot be judged, or "" when it can.

    Args:
        frame: (16, 3) keypoints of the last frame with a person.
        top_label: the most probable class.
        view: probability that the view can show an arch.
        checks: sanity limits.
    """
    missing = missing_key_joint_pairs(frame, checks.min_confidence)
    names = ", ".join(_KEY_PAIR_NAMES[i] for i in missing)
    if len(missing) > len(KEY_JOINT_PAIRS) // 2:
        return f"key joints not visible: {names}"
    if top_label not in LINE_LABELS:
        return ""
    if missing:
        return f"key joints not visible: {names}"
    low, high = checks.leg_torso_ratio_range
    ratio = leg_to_torso_ratio(frame, checks.min_confidence)
    if np.isfinite(ratio) and not low <= ratio <= high:
        return "pose estimate unreliable: leg/torso proportions implausible"
    if view < checks.view_threshold:
        return "turn sideways to the camera"
    return ""


def load_form_model(
    path: Path | str = DEFAULT_FORM_WEIGHTS,
    *,
    backend: str = "eager",
    device: torch.device | str = "cpu",
    verify_checksum: bool = True,
) -> FormClassifier:
    """Loads the form model from ``path`` after checking it against its model card.

    Args:
        path: the ``.pt`` checkpoint; its card is the ``.json`` of the same name.
        backend: execution backend ("eager", "onnxruntime", "tensorrt", "auto").
        device: where the model runs.
        verify_checksum: compare the file's sha256 with the card's.

    Raises:
        FormModelNotInstalled: no weights file at ``path``.
        FormModelError: the card is missing or unreadable, the checksum does not match, the
            file is not a form checkpoint, or its weights do not fit the architecture.
    """
    path = Path(path)
    if not path.exists():
        raise FormModelNotInstalled(f"no form model installed (expected {path})")
    try:
        checkpoint = load(path, "form", verify_checksum=verify_checksum)
    except CheckpointError as error:
        raise FormModelError(str(error)) from None
    return FormClassifier.from_checkpoint(checkpoint, backend=backend, device=device)

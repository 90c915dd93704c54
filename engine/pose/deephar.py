"""The project's DeepHAR network as a pose back-end (``run_coach.py --pose deephar --weights F``).

Each frame is cropped to the network's square input: the whole frame letterboxed, or, in a
stream, a window around the previous frame's confident joints (falling back to the whole frame
when the person is lost). When the joints come out weak, the same window is also tried turned
by 180 degrees (people upside down, as in a handstand, look upright to the network then); a
stream keeps the orientation that worked. The last prediction block's coordinates are mapped
back to image pixels through the crop's inverse affine; the joint probability is the
confidence.

Weights are ``"pose"`` checkpoints written by ``training/train_pose.py``
(``engine/checkpoint.py``). Execution goes through
``engine.runtime.compile_for_inference`` (eager, ONNX Runtime, TensorRT where CUDA exists).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.checkpoint import Checkpoint, CheckpointError, load
from engine.pose.base import PoseBackendError, PoseResult
from engine.pose.crops import (
    crop_matrix,
    crop_to_image,
    letterbox_window,
    to_network_input,
    warp_crop,
    window_around,
)
from engine.runtime import RuntimeBackendUnavailable, compile_for_inference, tensorrt_status
from engine.skeleton import NUM_JOINTS

# Window around the previous pose: joints' extent times this margin.
TRACK_MARGIN = 1.5


def load_pose_checkpoint(weights: str | Path | Checkpoint) -> tuple[torch.nn.Module, Checkpoint]:
    """The registered model of a pose checkpoint (eval mode, CPU) and the checkpoint.

    Args:
        weights: a ``kind: "pose"`` checkpoint file, or one already loaded.

    Raises:
        PoseBackendError: missing, corrupt, wrong kind or mismatched weights (one line).
    """
    try:
        checkpoint = weights if isinstance(weights, Checkpoint) else load(weights, "pose")
        model = checkpoint.build_model()
    except CheckpointError as error:
        raise PoseBackendError(str(error)) from None
    if getattr(model, "num_joints", NUM_JOINTS) != NUM_JOINTS:
        raise PoseBackendError(
            f"{checkpoint.path}: a {model.num_joints}-joint model cannot feed the app"
        )
    return model, checkpoint


def default_backend(device: torch.device) -> str:
    """The fastest backend available for ``device``: TensorRT, ONNX Runtime (CPU), eager."""
    if tensorrt_status(device) is None:
        return "tensorrt"
    if device.type == "cpu" and importlib.util.find_spec("onnxruntime") is not None:
        return "onnxruntime"
    return "eager"


class DeepHARBackend:
    """DeepHAR pose estimation on BGR frames (implements ``engine.pose.base.PoseBackend``)."""

    name = "deephar"

    def __init__(
        self,
        weights_path: str | Path | Checkpoint | None = None,
        backend: str | None = None,
        *,
        stream: bool = True,
        min_confidence: float = 0.3,
        weak_confidence: float = 0.6,
        try_inverted: bool = True,
        device: torch.device = torch.device("cpu"),  # noqa: B008 - immutable default
        num_threads: int | None = None,
    ) -> None:
        """Loads the weights and prepares the network.

        Args:
            weights_path: a ``kind: "pose"`` checkpoint from ``training/train_pose.py`` (a
                file, or one loaded with ``engine.checkpoint.load``).
            backend: "eager", "onnxruntime", "tensorrt" or "auto" (``engine.runtime``); None
                picks the fastest available: TensorRT on CUDA, else ONNX Runtime (about 3x
                faster than eager PyTorch on CPU for ``deephar_small``), else eager.
            stream: track the person with the previous frame's box (video); False for photos.
            min_confidence: mean joint probability below which no person is reported.
            weak_confidence: mean joint probability below which the other orientation (the
                crop turned by 180 degrees) is tried too, and kept when it scores higher.
            try_inverted: allow that 180-degree retry (the network, like MPII, sees people
                upright; handstands are upside down).
            device: where eager/TensorRT run.
            num_threads: ONNX Runtime threads (None: its default).

        Raises:
            PoseBackendError: no, missing, corrupt or mismatched weights, or the backend
                cannot run here.
        """
        if weights_path is None:
            raise PoseBackendError(
                "the DeepHAR pose back-end needs weights (--weights FILE from "
                "`python -m training.train_pose`); none are shipped"
            )
        model, checkpoint = load_pose_checkpoint(weights_path)
        self.input_size = int(model.input_size)
        self.stream = stream
        self.min_confidence = min_confidence
        self.weak_confidence = weak_confidence
        self.try_inverted = try_inverted
        self._orientation = 0
        self.version = f"{checkpoint.model_name}-{(checkpoint.sha256 or '')[:12]}"
        if backend is None:
            backend = default_backend(device)
        example = torch.zeros(1, 3, self.input_size, self.input_size)
        try:
            self._network = compile_for_inference(
                model, (example,), backend, device, num_threads=num_threads
            )
        except RuntimeBackendUnavailable as error:
            raise PoseBackendError(str(error)) from None
        self.backend = self._network.backend
        self._previous: np.ndarray | None = None

    def _window(self, width: int, height: int) -> tuple[np.ndarray, float]:
        if self.stream and self._previous is not None:
            confident = self._previous[self._previous[:, 2] >= self.min_confidence, :2]
            if len(confident) >= 4:
                return window_around(confident, TRACK_MARGIN, min_side=self.input_size / 2)
        return letterbox_window(width, height)

    def predict_crop(
        self, rgb: np.ndarray, center: np.ndarray, side: float, rotation: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Runs the network on one square window of an RGB image.

        Args:
            rgb: (H, W, 3) uint8 RGB image.
            center: (2,) window centre in pixels.
            side: window side in pixels.
            rotation: 0, or 180 to show the network the window upside down.

        Returns:
            (keypoints (16, 3) float32 in image pixels with probability, network output
            (K, 16, 3) in crop units).
        """
        matrix = crop_matrix(center, side, self.input_size, angle_deg=float(rotation))
        crop = warp_crop(rgb, matrix, self.input_size)
        poses = self._network(torch.from_numpy(to_network_input(crop))[None])
        poses = poses[0].detach().cpu().numpy()
        keypoints = np.empty((NUM_JOINTS, 3), np.float32)
        keypoints[:, :2] = crop_to_image(poses[-1, :, :2], matrix, self.input_size)
        keypoints[:, 2] = poses[-1, :, 2]
        return keypoints, poses

    def estimate(self, bgr: np.ndarray) -> PoseResult:
        """Estimates the pose of the main person in ``bgr`` ((H, W, 3) uint8)."""
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or min(bgr.shape[:2]) < 2:
            raise PoseBackendError("DeepHAR needs an (H, W, 3) BGR image")
        height, width = bgr.shape[:2]
        rgb = cv2.cvtColor(np.ascontiguousarray(bgr, dtype=np.uint8), cv2.COLOR_BGR2RGB)
        center, side = self._window(width, height)
        orientation = self._orientation if self.stream else 0
        keypoints, _ = self.predict_crop(rgb, center, side, orientation)
        score = float(keypoints[:, 2].mean())
        if self.try_inverted and score < self.weak_confidence:
            other = 180 - orientation
            other_keypoints, _ = self.predict_crop(rgb, center, side, other)
            other_score = float(other_keypoints[:, 2].mean())
            if other_score > score:
                keypoints, score, orientation = other_keypoints, other_score, other
        if score < self.min_confidence:
            self._previous = None
            return PoseResult(None)
        self._previous = keypoints if self.stream else None
        self._orientation = orientation
        return PoseResult(keypoints, rotation=orientation)

    def reset(self) -> None:
        """Forgets the tracked window and orientation."""
        self._previous = None
        self._orientation = 0

    def close(self) -> None:
        """Releases the network."""
        self._previous = None
        self._network = None  # type: ignore[assignment]

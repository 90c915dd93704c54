"""BlazePose (mediapipe 0.10.14, legacy ``mp.solutions.pose``, full model) as a pose back-end.

BlazePose finds upright people best. Handstands are upside down, so each frame may be tried
in two orientations: as captured (0°) and turned by 180°. A stream keeps the orientation that
worked last and tries the other only while the current one is weak, so a held handstand costs
one pass per frame.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from engine import skeleton
from engine.pose.base import PoseBackendError, PoseResult

# The 12 limb joints BlazePose observes directly; their mean visibility scores a pass.
_LIMB_LANDMARKS = tuple(skeleton.BLAZEPOSE_DIRECT.values())
NUM_LANDMARKS = 33
# BlazePose landmark indices of (hip, knee, ankle) per leg and of the shoulders and hips.
_LEGS = ((24, 26, 28), (23, 25, 27))
_SHOULDERS, _HIPS = (11, 12), (23, 24)
# Leg bones (thigh + shin) are about 1.5 torso lengths on adults. A pass whose legs come out
# much shorter has usually folded them onto the torso, BlazePose's typical failure on an
# inverted body detected afresh in the wrong orientation.
_MIN_PLAUSIBLE_LEG_TO_TORSO = 1.0
# In a stream, the other orientation must beat the current one by this much to take over.
_SWITCH_MARGIN = 0.1


def _rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.size == 0:
        raise PoseBackendError("BlazePose needs an (H, W, 3) colour image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class _Pass:
    landmarks: np.ndarray | None  # (33, 3) pixels + visibility, in the unrotated image
    score: float
    mask: np.ndarray | None = None  # (H, W) person probability, unrotated (segmentation only)


def _import_mediapipe():
    # mediapipe's C++ logging is chatty on stderr; keep the console readable.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # mediapipe 0.10.14 calls a protobuf API that protobuf 4.25 marks deprecated.
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
    try:
        import mediapipe as mp
    except ImportError as error:  # pragma: no cover - depends on the install
        raise PoseBackendError(
            f"BlazePose needs mediapipe==0.10.14 (`make install`): {error}"
        ) from error
    if not hasattr(mp, "solutions") or not hasattr(mp.solutions, "pose"):
        raise PoseBackendError(
            f"mediapipe {getattr(mp, '__version__', '?')} has no legacy pose solution; "
            "install mediapipe==0.10.14"
        )
    return mp


def rotate_180(image: np.ndarray) -> np.ndarray:
    """Turns an (H, W, C) image by 180 degrees."""
    return np.ascontiguousarray(image[::-1, ::-1])


def unrotate_points_180(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Maps (..., 2+) pixel points found in a 180°-turned image back to the original image."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = (width - 1) - out[..., 0]
    out[..., 1] = (height - 1) - out[..., 1]
    return out


def pass_score(landmarks: np.ndarray) -> float:
    """Scores one BlazePose pass: limb visibility times skeleton plausibility.

    Args:
        landmarks: (33, 3) pixels and visibility.

    Returns:
        A score in [0, 1]; folded legs (leg bones shorter than the torso) lower it.
    """
    visibility = float(landmarks[list(_LIMB_LANDMARKS), 2].mean())
    points = landmarks[:, :2]
    torso = np.linalg.norm(points[list(_SHOULDERS)].mean(0) - points[list(_HIPS)].mean(0))
    legs = np.mean(
        [
            np.linalg.norm(points[hip] - points[knee])
            + np.linalg.norm(points[knee] - points[ankle])
            for hip, knee, ankle in _LEGS
        ]
    )
    plausibility = min(1.0, legs / (_MIN_PLAUSIBLE_LEG_TO_TORSO * torso + 1e-6))
    return visibility * plausibility


class BlazePoseBackend:
    """BlazePose full (``model_complexity=1``) on BGR frames, upright or inverted people.

    Args:
        stream: tracking mode for consecutive video frames; False treats every call as an
            unrelated photo (image mode).
        min_confidence: detection and tracking confidence for mediapipe.
        weak_score: mean visibility of the limb joints below which a pass counts as weak and
            the other orientation is tried.
        retry_every: in stream mode, try the other orientation at most every this many weak
            frames (keeps the per-frame cost near one pass while nobody is in view).
        segmentation: also compute BlazePose's person segmentation mask of the pass kept
            (``last_mask``; costs extra time per pass, see ``benchmarks/bench_silhouette.py``).
    """

    name = "blazepose_full"

    def __init__(
        self,
        *,
        stream: bool = True,
        min_confidence: float = 0.5,
        weak_score: float = 0.75,
        retry_every: int = 3,
        segmentation: bool = False,
    ) -> None:
        self._mp = _import_mediapipe()
        self.version = f"mediapipe-{self._mp.__version__}"
        self.stream = stream
        self.min_confidence = min_confidence
        self.weak_score = weak_score
        self.retry_every = max(1, retry_every)
        self.segmentation = segmentation
        self._solvers: dict[int, object] = {}
        self._orientation = 0
        self._weak_frames = 0
        self.last_landmarks: np.ndarray | None = None
        self.last_mask: np.ndarray | None = None

    def _solver(self, rotation: int):
        if rotation not in self._solvers:
            try:
                self._solvers[rotation] = self._mp.solutions.pose.Pose(
                    static_image_mode=not self.stream,
                    model_complexity=1,
                    smooth_landmarks=self.stream,
                    enable_segmentation=self.segmentation,
                    min_detection_confidence=self.min_confidence,
                    min_tracking_confidence=self.min_confidence,
                )
            except Exception as error:  # mediapipe raises plain RuntimeErrors
                raise PoseBackendError(f"cannot start BlazePose: {error}") from error
        return self._solvers[rotation]

    def _run(self, rgb: np.ndarray, rotation: int) -> _Pass:
        height, width = rgb.shape[:2]
        image = rotate_180(rgb) if rotation == 180 else rgb
        result = self._solver(rotation).process(image)
        if result.pose_landmarks is None:
            return _Pass(None, 0.0)
        landmarks = np.array(
            [(lm.x * width, lm.y * height, lm.visibility) for lm in result.pose_landmarks.landmark],
            dtype=np.float32,
        )
        if rotation == 180:
            landmarks = unrotate_points_180(landmarks, width, height)
        landmarks[:, 2] = np.clip(landmarks[:, 2], 0.0, 1.0)
        return _Pass(landmarks, pass_score(landmarks), _person_mask(result, rotation))

    def estimate(self, bgr: np.ndarray) -> PoseResult:
        """Estimates the main person's pose.

        Args:
            bgr: (H, W, 3) uint8 image.

        Returns:
            Canonical (16, 3) keypoints in pixels with the orientation used, or no keypoints
            when nobody was found.
        """
        rgb = _rgb(bgr)
        current = self._orientation if self.stream else 0
        best = self._run(rgb, current)
        best_rotation = current
        if best.score < self.weak_score:
            self._weak_frames += 1
            if not self.stream or self._weak_frames % self.retry_every == 1:
                other = 180 - current
                candidate = self._run(rgb, other)
                # A stream sticks to its orientation unless the other is clearly better: a
                # fresh detection in the wrong orientation can look confident and be wrong.
                margin = _SWITCH_MARGIN if self.stream and best.landmarks is not None else 0.0
                if candidate.score > best.score + margin:
                    best, best_rotation = candidate, other
        else:
            self._weak_frames = 0
        if self.stream and best_rotation != self._orientation:
            self._orientation = best_rotation
            self._weak_frames = 0
        self.last_landmarks = best.landmarks
        self.last_mask = best.mask
        if best.landmarks is None:
            return PoseResult(None, best_rotation)
        return PoseResult(skeleton.from_blazepose(best.landmarks), best_rotation)

    def estimate_in_orientation(self, bgr: np.ndarray, rotation: int) -> PoseResult:
        """The pose found in one orientation only, in the image's pixels (image mode).

        Unlike ``estimate`` no orientation is chosen: the labeler's suggestions compare the
        pose of the orientation ``estimate`` did not choose with the one it did.

        Args:
            bgr: (H, W, 3) uint8 image.
            rotation: 0 (as captured) or 180 (turned upside down).
        """
        found = self._run(_rgb(bgr), rotation)
        if found.landmarks is None:
            return PoseResult(None, rotation)
        return PoseResult(skeleton.from_blazepose(found.landmarks), rotation)

    def reset(self) -> None:
        """Drops tracking state so the next frame is detected afresh."""
        self.close()
        self._orientation = 0
        self._weak_frames = 0

    def close(self) -> None:
        """Releases the mediapipe graphs."""
        for solver in self._solvers.values():
            solver.close()
        self._solvers.clear()


def segment_person(bgr: np.ndarray, rotation: int = 0) -> np.ndarray | None:
    """BlazePose's person segmentation of one photo (the bundled model; works inverted).

    Args:
        bgr: (H, W, 3) uint8 image.
        rotation: 0, or 180 to segment the image turned upside down (as the pose was found).

    Returns:
        (H, W) float32 probability that a pixel is the person, or None when nobody is found.

    Raises:
        PoseBackendError: mediapipe is missing or cannot start.
    """
    mp = _import_mediapipe()
    rgb = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB)
    image = rotate_180(rgb) if rotation == 180 else rgb
    try:
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                    enable_segmentation=True) as solver:
            result = solver.process(image)
    except Exception as error:  # mediapipe raises plain RuntimeErrors
        raise PoseBackendError(f"cannot run BlazePose segmentation: {error}") from error
    return _person_mask(result, rotation)


def _person_mask(result, rotation: int) -> np.ndarray | None:
    """The (H, W) float32 segmentation of a mediapipe pose result in the unrotated image."""
    # The result has no such field at all when segmentation is off.
    mask = getattr(result, "segmentation_mask", None)
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=np.float32)
    return rotate_180(mask[..., None])[..., 0] if rotation == 180 else mask

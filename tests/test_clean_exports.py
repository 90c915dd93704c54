"""Saved clips show what the athlete needs; the fps / latency panel stays in the window."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from coach.analysis import FrameAnalyzer
from coach.loop import CoachSession, SessionOutputs
from coach.overlay import OverlayState, draw_annotation, draw_overlay
from coach.sources import FrameListSource
from tests.test_app_loop import FakeClassifier, FakePose, frames_with_person


def _stats_corner(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return image[int(0.75 * height):, int(0.6 * width):].astype(int)


def test_the_stats_panel_is_a_window_extra():
    frame = np.full((240, 320, 3), 90, np.uint8)
    from coach.analysis import FrameAnalysis

    analysis = FrameAnalysis(index=0, timestamp=0.0, image_size=(320, 240), keypoints=None,
                             status="no person in view")
    state = OverlayState(fps=29.7, latencies={"pose": 21.0, "form": 2.0})
    clean, _ = draw_annotation(frame, analysis, state)
    window = draw_overlay(frame, analysis, state)
    assert np.abs(_stats_corner(window) - _stats_corner(clean)).mean() > 1.0
    np.testing.assert_array_equal(_stats_corner(clean), _stats_corner(frame))


@pytest.mark.parametrize("debug_overlay", [False, True])
def test_recordings_carry_the_panel_only_with_debug_overlay(tmp_path, debug_overlay):
    frames = frames_with_person("PPPPPPPPPPPP", size=(320, 240))
    coach = FrameAnalyzer(FakePose(), FakeClassifier(), None, None, fps=10.0)
    clip = tmp_path / "out.mp4"
    session = CoachSession(FrameListSource(frames, fps=10.0), coach,
                           outputs=SessionOutputs(clip=clip, debug_overlay=debug_overlay),
                           log=lambda m: None)
    session.run()
    capture = cv2.VideoCapture(str(clip))
    decoded = [capture.read()[1] for _ in range(len(frames))]
    capture.release()
    # The frames are flat grey in the stats corner: any drawing there is the panel.
    corner = np.array([_stats_corner(f) for f in decoded[3:]])
    flat = np.array([_stats_corner(f) for f in frames[3:]])
    drawn = np.abs(corner - flat).mean()
    assert (drawn > 3.0) == debug_overlay, drawn


def test_small_photos_are_saved_large_enough_to_read(tmp_path):
    from coach.cli import main

    small = tmp_path / "thumb.png"
    cv2.imwrite(str(small), np.full((120, 90, 3), 120, np.uint8))
    out = tmp_path / "thumb_coach.png"
    main(["--image", str(small), "--save", str(out)])
    saved = cv2.imread(str(out))
    assert saved.shape[0] == 480 and saved.shape[1] == 360  # enlarged 4x, aspect kept
    # The banner is drawn at the enlarged size: its dark band spans the full width.
    assert (saved[5, :, :].astype(int).mean() < 110)


def test_enlarging_scales_the_pose_with_the_image():
    from coach.analysis import FrameAnalysis
    from coach.overlay import enlarged_for_text

    keypoints = np.full((16, 3), 10.0, np.float32)
    analysis = FrameAnalysis(index=0, timestamp=0.0, image_size=(100, 200), keypoints=keypoints)
    bigger, scaled = enlarged_for_text(np.zeros((200, 100, 3), np.uint8), analysis)
    assert bigger.shape[:2] == (480, 240)
    assert scaled.keypoints[0, 0] == 24.0 and scaled.keypoints[0, 2] == 10.0
    same, unchanged = enlarged_for_text(np.zeros((600, 400, 3), np.uint8), analysis)
    assert same.shape[:2] == (600, 400) and unchanged is analysis

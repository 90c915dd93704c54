"""kill -9 of the labeling program in the middle of a keyboard session loses no label."""

from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pytest
from kill_child import REPO, kill_after_acknowledged

from training.store import LabelStore

CHILD = textwrap.dedent(
    """
    import os, sys
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
    sys.path.insert(0, sys.argv[1])
    import pygame
    from engine.pose.base import PoseResult
    from training.label import LabelWindow
    from training.label_session import LabelSession, build_items
    from training.store import LabelStore

    class Backend:
        name, version = "fake", "1"
        def estimate(self, bgr):
            return PoseResult(None, 0)
        def reset(self):
            pass
        def close(self):
            pass

    store = LabelStore(sys.argv[2])
    items = build_items(store, [sys.argv[3]])
    app = LabelWindow(LabelSession(store, items), Backend(), window_size=(400, 378))
    keys = [pygame.K_1, pygame.K_2, pygame.K_3, pygame.K_4, pygame.K_u]
    presses = 0
    while True:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=keys[presses % 5], mod=0))
        app.step()
        presses += 1
        print(app.session.labeled_count, flush=True)
    """
)


@pytest.mark.slow
def test_kill_9_during_labeling_session(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(60):
        cv2.imwrite(str(folder / f"p{index:02d}.png"), np.full((24, 32, 3), index, np.uint8))
    db = tmp_path / "labels.db"
    acknowledged = kill_after_acknowledged(CHILD, [str(REPO), str(db), str(folder)], 25)
    with LabelStore(db, create=False) as store:
        labeled = len(store.current_labels())
    assert acknowledged <= labeled <= acknowledged + 1

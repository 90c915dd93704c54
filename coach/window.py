"""The pygame window: shows annotated frames and turns key presses into actions.

Runs in the main thread (SDL wants its events there). Tests run it with
``SDL_VIDEODRIVER=dummy`` and read the displayed pixels back with :meth:`CoachWindow.pixels`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from coach.errors import UsageError

QUIT, PAUSE, RECORD, HELP, GHOST, CORRECTED, VOICE = (
    "quit", "pause", "record", "help", "ghost", "corrected", "voice"
)
DEFAULT_MAX_SIZE = (1280, 800)


class CoachWindow:
    """A resizable-on-content window for BGR frames.

    Args:
        title: window caption.
        max_size: frames larger than this (w, h) are shown scaled down, aspect kept.

    Raises:
        UsageError: no display is available (use ``--no-window``).
    """

    def __init__(self, title: str = "formcoach", max_size: tuple[int, int] = DEFAULT_MAX_SIZE):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        if sys.platform.startswith("linux") and not any(
            os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")
        ):
            raise UsageError("no display found (DISPLAY is not set); use --no-window")
        import pygame

        self._pygame = pygame
        try:
            pygame.display.init()
        except pygame.error as error:
            raise UsageError(f"no display for the window ({error}); use --no-window") from None
        pygame.display.set_caption(title)
        self.max_size = max_size
        self.surface = None
        self._keys = {
            pygame.K_q: QUIT, pygame.K_ESCAPE: QUIT, pygame.K_SPACE: PAUSE,
            pygame.K_r: RECORD, pygame.K_h: HELP, pygame.K_g: GHOST, pygame.K_c: CORRECTED,
            pygame.K_v: VOICE,
        }

    def display_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """The window size for a (w, h) frame: the frame's, scaled down to fit ``max_size``."""
        width, height = frame_size
        factor = min(1.0, self.max_size[0] / width, self.max_size[1] / height)
        return max(1, int(round(width * factor))), max(1, int(round(height * factor)))

    def show(self, bgr: np.ndarray) -> None:
        """Displays one (H, W, 3) uint8 BGR frame."""
        pygame = self._pygame
        height, width = bgr.shape[:2]
        size = self.display_size((width, height))
        if self.surface is None or self.surface.get_size() != size:
            try:
                self.surface = pygame.display.set_mode(size)
            except pygame.error as error:
                raise UsageError(f"cannot open the window ({error}); use --no-window") from None
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        image = pygame.image.frombuffer(rgb.tobytes(), (width, height), "RGB")
        if (width, height) != size:
            image = pygame.transform.smoothscale(image, size)
        self.surface.blit(image, (0, 0))
        pygame.display.flip()

    def poll(self) -> list[str]:
        """Returns the actions asked for since the last call (window close counts as quit)."""
        pygame = self._pygame
        actions = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                actions.append(QUIT)
            elif event.type == pygame.KEYDOWN and event.key in self._keys:
                actions.append(self._keys[event.key])
        return actions

    def pixels(self) -> np.ndarray:
        """What the window shows now, as (H, W, 3) uint8 RGB."""
        if self.surface is None:
            return np.zeros((0, 0, 3), dtype=np.uint8)
        return self._pygame.surfarray.array3d(self.surface).transpose(1, 0, 2).copy()

    def close(self) -> None:
        """Closes the window."""
        self._pygame.display.quit()

"""The app's error types and the exit code each maps to (documented in README "Exit codes")."""

from __future__ import annotations

import os

from engine.media import MediaError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_MODEL = 5
EXIT_CAMERA_LOST = 6
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class CoachError(Exception):
    """A problem the user can act on; ``str(error)`` is one line and ``exit_code`` is set."""

    exit_code = EXIT_INTERNAL


class UsageError(CoachError):
    """The command line asks for something impossible (flags that do not go together)."""

    exit_code = EXIT_USAGE


class InputError(CoachError, MediaError):
    """An input (camera, video, image, folder) is missing, unreadable, empty or corrupt.

    ``engine.media`` raises the base ``MediaError`` for files; the app treats both alike.
    """

    exit_code = EXIT_INPUT


class OutputError(CoachError):
    """An output (clip, JSON, image, folder) cannot be written."""

    exit_code = EXIT_OUTPUT


class ModelError(CoachError):
    """Weights or a model back-end cannot be loaded or run."""

    exit_code = EXIT_MODEL


class CameraLostError(CoachError):
    """The camera stopped delivering frames in the middle of a session."""

    exit_code = EXIT_CAMERA_LOST


def printable(value: str | os.PathLike) -> str:
    r"""Text or a path as one printable line: undecodable bytes as ``\xff``, newlines as ``\n``.

    File names may hold any bytes but a newline or NUL; printed raw they would break the
    one-line error (or fail to encode at all).
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\r", "\\r").replace("\n", "\\n")

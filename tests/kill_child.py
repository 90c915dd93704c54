"""kill -9 of a child process that prints a running count of what it has committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def kill_after_acknowledged(script: str, args: list[str], target: int) -> int:
    """Runs ``python -c script *args``, SIGKILLs it once it printed ``target``, returns the count.

    The child prints one integer per line: how many items it has durably committed so far.
    Lines it printed between the parent's read and the kill landing count as well.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    )
    acknowledged = 0
    try:
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= target:
                os.kill(child.pid, signal.SIGKILL)  # the child keeps going until it lands
                break
    finally:
        child.kill()
        child.wait(timeout=30)
        for line in child.stdout.read().splitlines(keepends=True):
            if line.endswith("\n"):
                acknowledged = int(line)
        stderr = child.stderr.read()
    assert acknowledged >= target, stderr
    assert child.returncode == -signal.SIGKILL
    return acknowledged

"""kill -9 while labels are being made loses none of the labels already acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.store import LabelStore

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from training.store import LabelStore

    store = LabelStore(sys.argv[2])
    media = store.add_media(sys.argv[3])
    frames = store.frame_ids(media, [0])
    labels = ["straight", "banana", "other_handstand", "not_handstand", "unsure"]
    made = 0
    while True:
        store.add_label(frames, labels[made % 5], labeler="loop")
        made += 1
        print(made, flush=True)  # acknowledged: add_label returned, so it is committed
    """
)


def _kill_after(tmp_path: Path, script: str, args: list[str], target: int) -> int:
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
                os.kill(child.pid, signal.SIGKILL)  # the child keeps labeling until it lands
                break
    finally:
        child.kill()
        child.wait(timeout=30)
        # lines the child printed between our read and the kill landing count as well
        for line in child.stdout.read().splitlines(keepends=True):
            if line.endswith("\n"):
                acknowledged = int(line)
        stderr = child.stderr.read()
    assert acknowledged >= target, stderr
    assert child.returncode == -signal.SIGKILL
    return acknowledged


@pytest.mark.parametrize("target", [9, 80])
def test_kill_9_loses_no_label(tmp_path, target):
    image = tmp_path / "user1_img_0.png"
    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    db = tmp_path / "labels.db"
    acknowledged = _kill_after(tmp_path, CHILD, [str(REPO), str(db), str(image)], target)
    with LabelStore(db, create=False) as store:  # reopens cleanly after the kill
        count = store.label_count()
        assert store._query("PRAGMA integrity_check")[0][0] == "ok"
    # every acknowledged label is there; at most the one being written when killed is extra
    assert acknowledged <= count <= acknowledged + 1

"""Every command-line entry point, started as a user starts it, answers bad input in one line.

Each of them runs in a fresh interpreter (``python -m ...``) on an input it must refuse: a
non-zero exit, one error line naming the problem, no traceback. (``run_coach.py`` meets a
fresh process in tests/test_reliability_cli.py, ``training.store`` in tests/test_store_basic.py,
``training.label`` in tests/test_label_session.py, ``training.train_form`` in
tests/test_reliability_store.py; their many cases run in-process there.)
"""

from __future__ import annotations

import pytest
from reliability.cli import assert_clean_failure, run_coach

pytestmark = pytest.mark.slow

# (module, arguments, what the error line names); {tmp} is an empty folder.
ENTRY_POINTS = {
    "coach.timeline": (["recover", "{tmp}/gone.json.partial.jsonl"], "gone.json.partial.jsonl"),
    "training.build_ideal": (["--store", "{tmp}/none.db", "--out", "{tmp}/ideal.npz"],
                             "none.db"),
    "training.evaluate": (["--dev-cache", "{tmp}/none.npz"], "none.npz"),
    "training.pose_cache": (["--data", "{tmp}", "--out", "{tmp}/cache.npz"], "labels.csv"),
    "training.train_action": (["--penn", "{tmp}/no_penn", "--out", "{tmp}/run"], "no_penn"),
    "training.train_pose": (["--model", "deephar_test", "--annotations", "{tmp}/none.json",
                             "--images", "{tmp}", "--out", "{tmp}/run"], "none.json"),
}


@pytest.mark.parametrize("module", list(ENTRY_POINTS))
def test_bad_input_is_one_line_in_a_fresh_process(module: str, tmp_path) -> None:
    args, mention = ENTRY_POINTS[module]
    result = run_coach([arg.format(tmp=tmp_path) for arg in args], module=module, timeout=120)
    assert_clean_failure(result, mention)

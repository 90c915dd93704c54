"""Broken ``--weights`` files, loaded the way the app loads them, in-process (cheap).

A few of these also run through the real command line in ``test_reliability_cli.py``; here
every kind of damage goes through ``coach.loading`` exactly as ``run_coach.py --weights`` does.
"""

from __future__ import annotations

import pytest
from reliability.cases import WEIGHTS_CASES
from reliability.fixtures import corpus  # noqa: F401 - a fixture


@pytest.mark.parametrize(("kind", "file_name"), WEIGHTS_CASES, ids=[k for k, _ in WEIGHTS_CASES])
def test_broken_weights_give_one_line_model_error(corpus, kind, file_name) -> None:  # noqa: F811
    from coach.errors import CoachError, ModelError
    from coach.loading import load_classifier, make_pose_backend, sort_weights

    path = corpus[f"weights_{kind}"]
    assert path.name == file_name
    with pytest.raises(CoachError) as caught:
        choice = sort_weights([path])
        if choice.pose is not None:
            make_pose_backend("auto", choice.pose, stream=True)
        else:
            classifier, status = load_classifier(choice.form)
            assert classifier is not None, status
    message = str(caught.value)
    assert isinstance(caught.value, ModelError), f"{type(caught.value).__name__}: {message}"
    assert "\n" not in message.strip() and len(message) < 300, message
    assert file_name in message, message
    # torch's own advice for such files (load with weights_only=False) would run code from them.
    assert "weights_only" not in message, message

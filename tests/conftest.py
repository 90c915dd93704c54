import os

import pytest

from coach.cli import _quiet_native_logs

# Headless: pygame draws into memory, tests read the surface back.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
# The app quiets OpenCV's and mediapipe's logging before it imports them; tests that run its
# main() in this process see the same output only if that happens before they import OpenCV.
_quiet_native_logs()


TORCH_RNG = "torch's global RNG"


def _global_state():
    import random

    import numpy as np
    import torch

    return {
        "torch.use_deterministic_algorithms": (torch.are_deterministic_algorithms_enabled(),
                                               torch.is_deterministic_algorithms_warn_only_enabled()),
        "torch.get_num_threads": torch.get_num_threads(),
        "numpy's global RNG": np.random.get_state(),
        "python's random": random.getstate(),
        # Restored but not judged: every default nn.Module initialization draws from it.
        TORCH_RNG: torch.random.get_rng_state(),
    }


def _same(before, after) -> bool:
    import numpy as np
    import torch

    if isinstance(before, torch.Tensor):
        return torch.equal(before, after)
    if isinstance(before, tuple):
        return len(before) == len(after) and all(map(_same, before, after))
    if isinstance(before, np.ndarray):
        return np.array_equal(before, after)
    return before == after


def _restore(state) -> None:
    import random

    import numpy as np
    import torch

    mode = state["torch.use_deterministic_algorithms"]
    if mode != (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled()):
        # Only when changed: its first call costs seconds (it imports torch._dynamo).
        torch.use_deterministic_algorithms(mode[0], warn_only=mode[1])
    torch.set_num_threads(state["torch.get_num_threads"])
    torch.random.set_rng_state(state["torch's global RNG"])
    np.random.set_state(state["numpy's global RNG"])
    random.setstate(state["python's random"])


@pytest.fixture(autouse=True)
def _global_state_guard(request):
    """Runs each test on one torch thread and fails a test that leaves process state changed.

    Randomness comes from passed generators and deterministic mode is set in a context
    (codebase style), so a test (or the code it runs) that leaves torch's deterministic mode,
    its thread count or a global random state changed is a bug: the next test would run in a
    different world. Restored either way, so one leak does not fail every later test.
    """
    import torch

    outside = _global_state()
    # Two threads on a busy 2-core machine make the tiny test models crawl.
    torch.set_num_threads(1)
    inside = _global_state()
    yield
    after = _global_state()
    _restore(outside)
    changed = [name for name in inside
               if name != TORCH_RNG and not _same(inside[name], after[name])]
    if changed:
        pytest.fail(f"{request.node.nodeid} left global state changed: {', '.join(changed)}",
                    pytrace=False)


def pytest_runtest_setup(item):
    # Registered in pyproject.toml; a test marked needs_cuda is skipped where CUDA is absent.
    if item.get_closest_marker("needs_cuda") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")


# (weights file, its size and mtime or sha256, backend) -> what coach.loading.load_classifier
# returned for it.
_FORM_MODELS: dict[tuple, tuple] = {}


@pytest.fixture(scope="module")
def form_model_loaded_once():
    """In-process runs of the app in a module share one loaded form model per weights file.

    Every run of ``coach.cli.main`` loads the form model (checksum, ONNX export, warm-up: about
    a second, most of a short run); loaded once per test session, the runs judge with the same
    model the app would have loaded. Weights that fail to load are tried every time.
    """
    from coach import loading

    real = loading.load_classifier

    def load_classifier(weights, backend="fast"):
        if isinstance(weights, loading.Checkpoint):
            key = (str(weights.path), weights.sha256, backend)
        else:
            try:
                stat = os.stat(weights)
            except (OSError, TypeError, ValueError):
                return real(weights, backend)
            key = (os.path.realpath(weights), stat.st_size, stat.st_mtime_ns, backend)
        if key not in _FORM_MODELS:
            _FORM_MODELS[key] = real(weights, backend)
        return _FORM_MODELS[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(loading, "load_classifier", load_classifier)
    yield
    patch.undo()

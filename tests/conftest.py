import os

import pytest

# Headless: pygame draws into memory, tests read the surface back.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Two threads on a busy 2-core machine make the tiny test models crawl; restore afterwards
    # so no test leaks its setting into the next.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

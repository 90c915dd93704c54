"""pytest fixtures shared by the reliability test modules (import them into a test module).

The corpus is generated once per test session (a module-level cache, since several modules
import the fixture) into a pytest temporary folder.
"""

from __future__ import annotations

import os

import pytest

from .corpus import Corpus, build_corpus

_CORPUS: Corpus | None = None


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    """The bad-input corpus, built once per session."""
    global _CORPUS
    if _CORPUS is None or not _CORPUS.root.exists():
        _CORPUS = build_corpus(tmp_path_factory.mktemp("reliability") / "corpus")
    return _CORPUS


# (weights file, its size and mtime or sha256, backend) -> what coach.loading.load_classifier
# returned for it.
_FORM_MODELS: dict[tuple, tuple] = {}


@pytest.fixture(scope="module")
def form_model_loaded_once():
    """In-process runs of the app in this module share one loaded form model per weights file.

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

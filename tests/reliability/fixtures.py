"""pytest fixtures shared by the reliability test modules (import them into a test module).

The corpus is generated once per test session (a module-level cache, since several modules
import the fixture) into a pytest temporary folder.
"""

from __future__ import annotations

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


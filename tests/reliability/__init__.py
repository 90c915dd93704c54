"""Reliability test kit: the bad-input corpus, the CLI harness, simulated cameras, interrupts."""

import sys
from pathlib import Path

# The tests import the app (coach/, engine/) from this checkout; an editable install made
# before coach/ existed does not map it, so make the checkout importable either way.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

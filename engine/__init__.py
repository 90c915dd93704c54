"""formcoach inference library: skeleton, pose back-ends, models, form verdicts.

No UI and no training code lives here; ``coach/`` and ``training/`` are built on it.
"""

__version__ = "0.1.0"

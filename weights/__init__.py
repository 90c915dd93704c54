"""The shipped model files (form weights and card, ideal pose), installed as package data.

They live in this top-level folder of the repository and travel in the wheel as the ``weights``
package, so an installed copy finds them through ``importlib.resources`` wherever it runs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped_file(name: str) -> Path:
    """The path of a file shipped in ``weights/`` (it may not exist, e.g. before training).

    Args:
        name: the file name, e.g. ``form_handstand.pt``.
    """
    # Wheels install unzipped, so the resource is a real file that torch and numpy can open.
    return Path(str(resources.files(__name__).joinpath(name)))

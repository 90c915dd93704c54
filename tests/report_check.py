"""Reading back a training report folder (``training.report.write_report``): what it holds."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import cv2


class _Page(HTMLParser):
    """Table rows (cell texts) under each ``h2`` heading ("" before the first) and the image
    sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {"": []}
        self.images: list[str] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "tr":
            self._row = []
        elif tag in ("h2", "td", "th"):
            self._text = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "h2" and self._text is not None:
            self.sections["".join(self._text).strip()] = []
            self._text = None
        elif tag in ("td", "th") and self._text is not None and self._row is not None:
            self._row.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._row is not None:
            self.sections[list(self.sections)[-1]].append(self._row)
            self._row = None


def read_report(folder: Path) -> tuple[_Page, dict]:
    """Parses ``index.html`` and ``metrics.json`` of a report folder and checks they agree.

    Every image the page shows exists in the folder and decodes as a picture; every evaluation
    set of ``metrics.json`` has its section, and each of its methods a row whose accuracy is
    the one in ``metrics.json``.

    Returns:
        (the parsed page, the metrics).
    """
    folder = Path(folder)
    page = _Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert page.images, "the report shows no figure"
    for source in page.images:
        image = cv2.imread(str(folder / source))
        assert image is not None, f"{source} is not a readable image"
        assert min(image.shape[:2]) >= 100, f"{source} is {image.shape[1]}x{image.shape[0]}"
    assert list(page.sections)[1:] == list(metrics["sets"]), (list(page.sections),
                                                              list(metrics["sets"]))
    for name, methods in metrics["sets"].items():
        rows = {row[0]: row for row in page.sections[name] if row}
        for method, figures in methods.items():
            assert method in rows, f"{name}: no row for {method}"
            assert f"{figures['accuracy']:.3f}" in rows[method], (name, method, rows[method])
    return page, metrics

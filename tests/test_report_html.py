"""The session report: parse the HTML and check what it holds."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np

from coach.report_html import build_report, write_report
from coach.timeline import summarize
from tests.test_attempts import _records

DEMO = Path(__file__).resolve().parent.parent / "coach" / "assets" / "demo_handstand.mp4"


class _Parsed(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.rows, self.details, self.tags = [], {}, 0, []
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        if tag == "table":
            self._table = attrs.get("id")
        if tag == "tr" and self._table:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        if tag == "details":
            self.details += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def _timeline(labels: str) -> dict:
    records = _records(labels)
    for record in records:
        record["probabilities"] = {"straight": 1.0 if record["smoothed_label"] == "straight"
                                   else 0.0, "banana": 0.0, "other_handstand": 0.0,
                                   "not_handstand": 0.0}
        record["smoothed_probabilities"] = record["probabilities"]
    summary = summarize(records, 30.0) | {"latency_ms": {"pose": {"p50": 20.0, "p95": 31.0}}}
    return {"meta": {"source": "clip.mp4"}, "summary": summary, "frames": records}


def _decoded(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    data = np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_report_lists_every_attempt_inline_images_and_collapsed_diagnostics():
    timeline = _timeline("n" * 10 + "s" * 40 + "n" * 20 + "b" * 30 + "n" * 10)
    parsed = _Parsed()
    parsed.feed(build_report(timeline))
    assert parsed.rows["attempts"] == 1 + len(timeline["summary"]["attempts"]) == 3
    plot = [img for img in parsed.images if img.get("id") == "plot"]
    assert len(plot) == 1 and _decoded(plot[0]["src"]).shape[1] > 500
    assert parsed.details == 1
    assert "script" not in parsed.tags  # nothing runs, nothing is fetched
    assert all(img["src"].startswith("data:") for img in parsed.images)


def test_report_shows_best_moment_thumbnails_from_the_video(tmp_path):
    capture = cv2.VideoCapture(str(DEMO))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    labels = ("n" * 10 + "s" * 40 + "n" * (count - 50))[:count]
    path = write_report(tmp_path / "report.html", _timeline(labels), video=DEMO)
    parsed = _Parsed()
    parsed.feed(path.read_text(encoding="utf-8"))
    thumbnails = [img for img in parsed.images if "best moment" in img.get("alt", "")]
    assert len(thumbnails) == 1
    assert _decoded(thumbnails[0]["src"]).shape[0] == 240

"""Photo analysis: each image is a clip of one frame through the same coach as video."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from coach.analysis import FrameAnalyzer, verdict_probabilities
from coach.errors import CoachError, InputError, ModelError, OutputError, printable
from coach.overlay import OverlayState, draw_overlay, enlarged_for_text
from coach.recorder import check_writable, output_error
from coach.timeline import write_json_atomic
from engine.form import UNKNOWN_LABEL
from engine.media import IMAGE_EXTENSIONS, MediaError, read_image


@dataclass
class PhotoReport:
    """Results of a photo run.

    Attributes:
        results: one JSON-ready dict per image (see README "Photo JSON").
        failed: files of the images that could not be read (their entries say why).
        written: files written.
    """

    results: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def annotated_path(save: Path, image: Path, many: bool) -> Path:
    """Where the annotated copy of ``image`` goes.

    ``save`` itself for one image given a file name with an image suffix, else
    ``save/<stem>_coach.png``.
    """
    if not many and save.suffix.lower() in IMAGE_EXTENSIONS and not save.is_dir():
        return save
    return save / f"{image.stem}_coach.png"


def _write_image(path: Path, bgr: np.ndarray) -> Path:
    check_writable(path)
    ok, encoded = cv2.imencode(path.suffix if path.suffix else ".png", bgr)
    if not ok:
        raise OutputError(f"cannot encode image as {printable(path.suffix)}: {printable(path)}")
    try:
        encoded.tofile(str(path))
    except OSError as error:
        raise output_error(path, error) from None
    return path


def analyze_photos(
    images: list[Path],
    analyzer: FrameAnalyzer,
    *,
    save: Path | None = None,
    json_path: Path | None = None,
    explain: Path | None = None,
    stop=None,
    log=None,
) -> PhotoReport:
    """Analyzes every image; unreadable ones are reported and skipped, never fatal.

    Args:
        images: image files.
        analyzer: the frame analyzer; its pose back-end runs in image mode.
        save: a folder (or, for one image, a file) for annotated copies.
        json_path: where the JSON list of results goes.
        explain: for a single image, where ``coach.explain.write_explanation`` writes its PNG.
        stop: a :class:`coach.loop.StopFlag`; results so far are written when it is set.
        log: one-line message sink (stderr by default).

    Raises:
        OutputError: an output cannot be written.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    report = PhotoReport()
    many = len(images) > 1
    if save is not None and (many or save.suffix.lower() not in IMAGE_EXTENSIONS):
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create folder {save}: {error.strerror}") from None
    last_bgr, last_analysis = None, None
    save_failures: list[OutputError] = []
    for image_path in images:
        if stop is not None and stop.is_set():
            break
        try:
            bgr = read_image(image_path)
        except MediaError as error:
            log(f"error: {error}")
            report.failed.append(printable(image_path))
            report.results.append({"file": printable(image_path), "label": UNKNOWN_LABEL,
                                   "probabilities": {}, "can_judge": False,
                                   "reason": str(error), "keypoints": None})
            continue
        analyzer.reset(pose=False)  # image mode keeps no tracking state between photos
        analysis = analyzer.analyze(bgr, 0, 0.0)
        verdict = analysis.raw
        reason = verdict.reason if verdict is not None else analysis.status
        if analysis.keypoints is None and verdict is None:
            reason = analysis.status
        report.results.append({
            # Escaped: any bytes in a name survive as text, and the JSON stays valid UTF-8.
            "file": printable(image_path),
            "label": verdict.label if verdict is not None else UNKNOWN_LABEL,
            "probabilities": verdict_probabilities(verdict) or {},
            "can_judge": bool(verdict.can_judge) if verdict is not None else False,
            "reason": reason or "",
            "keypoints": None if analysis.keypoints is None
            else np.round(np.nan_to_num(analysis.keypoints.astype(np.float64)), 2).tolist(),
            "rotation": analysis.rotation,
            "image_size": list(analysis.image_size),
        })
        if save is not None:
            annotated = draw_overlay(*enlarged_for_text(bgr, analysis),
                                     OverlayState(show_hold=False))
            try:
                report.written.append(
                    _write_image(annotated_path(save, image_path, many), annotated))
            except OutputError as error:  # the results so far still go to the JSON below
                save_failures.append(error)
                save = None
        last_bgr, last_analysis = bgr, analysis
    if json_path is not None:
        report.written.append(write_json_atomic(json_path, report.results))
    if save_failures:
        raise save_failures[0]
    if explain is not None and last_analysis is not None:
        report.written.append(_explain(last_bgr, last_analysis, analyzer, explain))
    return report


def _explain(bgr: np.ndarray, analysis, analyzer: FrameAnalyzer, out_path: Path) -> Path:
    from coach.explain import write_explanation  # torch only when a photo is explained

    if analysis.keypoints is None:
        raise InputError("--explain needs a person in the photo; none was found")
    if analyzer.classifier is None:
        raise ModelError("--explain needs a form model; no form model installed")
    check_writable(out_path)
    try:
        write_explanation(bgr, analysis.keypoints, analyzer.classifier, out_path)
    except CoachError:
        raise
    except OSError as error:
        raise output_error(out_path, error) from None
    return out_path

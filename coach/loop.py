"""The coaching loop: capture, inference and presentation running concurrently.

Five stages overlap, each in its own thread or process:

- capture: the source's own thread (a camera keeps only its newest frame; a video file decodes
  ahead into a bounded queue, so nothing is dropped);
- pose: a worker thread running the pose back-end (:meth:`FrameAnalyzer.estimate`);
- form: a worker thread running clip buffer -> form model -> smoothing -> hold timer -> ideal
  pose (:meth:`FrameAnalyzer.judge`), in frame order;
- presentation: the main thread drawing the overlay, showing the pygame window, handing frames
  to the recorder and writing the timeline;
- encoding: the recorder's thread feeding ffmpeg, which encodes in its own process.

For live sources the hand-off to presentation holds one result and replaces it when
presentation falls behind (the athlete always sees the newest frame); for files every hand-off
is a bounded blocking queue (every frame is analyzed, drawn and recorded).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coach.analysis import FrameAnalysis, FrameAnalyzer
from coach.errors import CameraLostError, CoachError, printable
from coach.overlay import OverlayState, draw_annotation, draw_overlay, draw_window_extras
from coach.recorder import ClipRecorder
from coach.signals import StopFlag
from coach.sources import Frame, FrameSource
from coach.timeline import (
    TimelineWriter,
    frame_record,
    plot_timeline,
    summarize,
    write_json_atomic,
)
from coach.window import CORRECTED, GHOST, HELP, PAUSE, QUIT, RECORD, VOICE

STAGES = ("capture", "pose", "form", "draw", "encode")
_END = object()


@dataclass
class SessionOutputs:
    """Where a session writes (None = not written).

    Attributes:
        clip: annotated MP4, recorded from the first frame.
        timeline: timeline JSON (per frame; summary included).
        summary: summary JSON.
        plot: timeline plot PNG.
        recordings_dir: folder for recordings started with the r key when ``clip`` is None.
        clip_preset: x264 preset of recordings; None: ``ultrafast`` for live sources (the
            encoder shares the CPU with pose estimation), ``veryfast`` for files.
        debug_overlay: burn the window's fps / latency panel into recordings too (by default
            a recording shows what the athlete needs: skeleton, verdict, ideal line, hold).
    """

    clip: Path | None = None
    timeline: Path | None = None
    summary: Path | None = None
    plot: Path | None = None
    recordings_dir: Path = Path("recordings")
    clip_preset: str | None = None
    debug_overlay: bool = False


@dataclass
class SessionResult:
    """What a finished session did.

    Attributes:
        frames: frames presented (drawn, recorded, in the timeline).
        reason: ``end``, ``quit``, ``interrupted``, ``terminated``, ``camera_lost`` or ``error``.
        summary: :func:`coach.timeline.summarize` of the session.
        latency_ms: stage -> {"p50", "p95"} milliseconds.
        wall_seconds: duration of the session.
        written: paths of every file written.
        clip_frames: frames in each recorded clip, by path.
    """

    frames: int = 0
    reason: str = "end"
    summary: dict = field(default_factory=dict)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    frame_latency_ms: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    written: list[Path] = field(default_factory=list)
    clip_frames: dict[str, int] = field(default_factory=dict)


def _weights_name(classifier) -> str | None:
    path = getattr(classifier, "weights_path", None)
    return None if path is None else str(path)


class ProgressBar:
    """A one-line progress bar on stderr for video files analyzed without a window."""

    def __init__(self, name: str, total: int | None, stream=None) -> None:
        self.name = name
        self.total = total
        self.stream = stream or sys.stderr
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def update(self, done: int, fps: float | None, force: bool = False) -> None:
        """Redraws the bar (at most 5 times a second; on non-terminals every 10 %)."""
        now = time.monotonic()
        if self.total:
            fraction = min(1.0, done / self.total)
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"analyzing {self.name} [{bar}] {fraction * 100:3.0f}% {done}/{self.total}"
        else:
            fraction, text = None, f"analyzing {self.name}: {done} frames"
        if fps:
            text += f"  {fps:4.1f} fps"
            if self.total and done < self.total:
                seconds = round((self.total - done) / fps)
                text += f"  ETA {seconds // 60}:{seconds % 60:02d}"
        if self._tty:
            if force or now - self._last >= 0.2:
                self.stream.write("\r" + text)
                self.stream.flush()
                self._last = now
        else:
            decile = int(fraction * 10) if fraction is not None else done // 300
            if force or decile != self._last_decile:
                self.stream.write(text + "\n")
                self.stream.flush()
                self._last_decile = decile

    def finish(self) -> None:
        """Ends the bar's line."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _LatestSlot:
    """A one-item hand-off that replaces an unread item (live sources never queue latency)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=1)

    def put(self, item, stop: StopFlag) -> None:
        # The end of the stream (or an error) waits for the last frame to be shown instead of
        # replacing it: the frames before a camera loss are the ones a recording must keep.
        final = item is _END or isinstance(item, _Failure)
        while not (final and stop.is_set()):
            try:
                if final:
                    self._queue.put(item, timeout=0.1)
                else:
                    self._queue.put_nowait(item)
                return
            except queue.Full:
                if not final:
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()

    def get(self, timeout: float):
        return self._queue.get(timeout=timeout)


class _BlockingSlot:
    """A bounded blocking hand-off (files: every frame goes through)."""

    def __init__(self, size: int = 4) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=size)

    def put(self, item, stop: StopFlag) -> None:
        while not stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, timeout: float):
        return self._queue.get(timeout=timeout)


class CoachSession:
    """Runs one source through the coach until it ends or is stopped.

    Args:
        source: frames to analyze.
        analyzer: the per-frame analysis (:class:`coach.analysis.FrameAnalyzer`).
        window: a :class:`coach.window.CoachWindow`, or None for headless runs.
        outputs: files to write.
        stop: the stop flag (signals and keys set it).
        progress: a :class:`ProgressBar` for headless file analysis, or None.
        max_frames: stop after this many frames (None = until the source ends).
        log: printer for one-line notes (default: escaped, to stderr).
        voice: the spoken cues (:class:`coach.voice.VoiceCoach`), or None.
    """

    def __init__(
        self,
        source: FrameSource,
        analyzer: FrameAnalyzer,
        *,
        window=None,
        outputs: SessionOutputs | None = None,
        stop: StopFlag | None = None,
        progress: ProgressBar | None = None,
        max_frames: int | None = None,
        log=None,
        voice=None,
    ) -> None:
        self.source = source
        self.voice = voice
        self.analyzer = analyzer
        self.window = window
        self.outputs = outputs or SessionOutputs()
        self.stop = stop or StopFlag()
        self.progress = progress
        self.max_frames = max_frames
        # Escaped: a message may hold a file name with any bytes (or a newline) in it.
        self.log = log or (lambda message: print(printable(message), file=sys.stderr))
        self.state = OverlayState()
        self._running = threading.Event()
        self._running.set()
        self._slot = _LatestSlot() if source.live else _BlockingSlot()
        # Pose and form stages run in their own threads; frames pass between them in order.
        self._posed = _BlockingSlot(size=2)
        self._recorder: ClipRecorder | None = None
        self._recordings = 0
        self._corrected = False
        # The corrected view's last correction, created when the view is first turned on.
        self._live_correction = None
        self._latencies: dict[str, list[float]] = {stage: [] for stage in STAGES}
        self._frame_latencies: list[float] = []
        self._ema: dict[str, float] = {}
        self._present_times: deque[float] = deque(maxlen=30)
        self.result = SessionResult()
        self._records: list[dict] = []
        self._timeline: TimelineWriter | None = None

    # -- inference workers ------------------------------------------------------------------

    def _pose_stage(self) -> None:
        try:
            analyzed = 0
            while not self.stop.is_set():
                if not self._running.wait(timeout=0.1):
                    continue
                if self.max_frames is not None and analyzed >= self.max_frames:
                    break
                frame = self.source.read()
                if frame is None:
                    break
                started = time.perf_counter()
                analysis = self.analyzer.estimate(frame.bgr, frame.index, frame.timestamp)
                analysis.timings["capture"] = frame.capture_ms
                self._posed.put((frame, analysis, started), self.stop)
                analyzed += 1
            self._posed.put(_END, self.stop)
        except BaseException as error:  # handed on to the main thread, which reports it
            self._posed.put(_Failure(error), self.stop)

    def _form_stage(self) -> None:
        while not self.stop.is_set():
            try:
                item = self._posed.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END or isinstance(item, _Failure):
                self._slot.put(item, self.stop)
                return
            frame, analysis, started = item
            try:
                self.analyzer.judge(analysis)
            except BaseException as error:
                self._slot.put(_Failure(error), self.stop)
                return
            self._slot.put((frame, analysis, started), self.stop)

    # -- presentation (main thread) ---------------------------------------------------------

    def _note_latency(self, stage: str, value: float) -> None:
        self._latencies[stage].append(value)
        previous = self._ema.get(stage)
        self._ema[stage] = value if previous is None else 0.9 * previous + 0.1 * value

    def _next_clip_path(self) -> Path:
        self._recordings += 1
        base = self.outputs.clip
        if base is None:
            stamp = time.strftime("%Y%m%d_%H%M%S")
            return self.outputs.recordings_dir / f"formcoach_{stamp}_{self._recordings}.mp4"
        if self._recordings == 1:
            return base
        return base.with_name(f"{base.stem}_{self._recordings}{base.suffix}")

    def _start_recording(self) -> None:
        preset = self.outputs.clip_preset or ("ultrafast" if self.source.live else "veryfast")
        self._recorder = ClipRecorder(self._next_clip_path(), self.source.fps, preset=preset)
        self.log(f"recording to {self._recorder.path}")

    def _stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        frames = recorder.close()
        if recorder.started:
            self.result.written.append(recorder.path)
            self.result.clip_frames[str(recorder.path)] = frames
            self.log(f"saved clip {recorder.path} ({frames} frames)")

    def _match_timeline_to_clip(self, error: CoachError) -> CoachError:
        """After the session's clip failed (disk full): keep only the frames the clip holds.

        The encoder had taken more frames than reached the disk; the ones that decode are
        what the clip shows, so the timeline and summary are cut to them.
        """
        clip = self.outputs.clip
        if clip is None or self._recordings != 1 or not clip.is_file():
            return error  # a recording toggled with r, or a device such as /dev/full
        from engine.media import count_frames

        saved = count_frames(clip)
        if saved == 0:
            # Not one playable frame (the first fragment never completed): the file is no clip,
            # and the analysis in the timeline is worth more than agreeing with nothing.
            clip.unlink(missing_ok=True)
            return type(error)(f"{error} (no frame of the clip could be saved; the timeline "
                               "keeps every analyzed frame)")
        if self._timeline is not None:
            self._timeline.keep_first(saved)
        else:
            del self._records[saved:]
        self.result.clip_frames[str(clip)] = saved
        return type(error)(f"{error} (clip and timeline keep the first {saved} frames)")

    def _handle(self, action: str) -> None:
        if action == QUIT:
            self.stop.set("quit")
        elif action == PAUSE:
            self.state.paused = not self.state.paused
            if self.state.paused:
                self._running.clear()
            else:
                self._running.set()
        elif action == RECORD:
            if self._recorder is None:
                self._start_recording()
            else:
                self._stop_recording()
        elif action == HELP:
            self.state.show_help = not self.state.show_help
        elif action == VOICE:
            if self.voice is None:
                self.state.note = "spoken cues not available"
            else:
                self.state.note = "spoken cues on" if self.voice.toggle() else "spoken cues off"
        elif action == GHOST:
            self.state.show_ghost = not self.state.show_ghost
        elif action == CORRECTED:
            self._toggle_corrected()

    def _toggle_corrected(self) -> None:
        if self._corrected:
            self._corrected, self.state.note = False, ""
            return
        if self.analyzer.classifier is None:
            self.state.note = "corrected view needs a form model"
            return
        if self._live_correction is None:
            from coach.explain import LiveCorrection  # torch only once the view is wanted

            self._live_correction = LiveCorrection(self.analyzer.classifier)
        self._corrected, self.state.note = True, "corrected view (c to leave)"

    def _frame_image(self, frame: Frame, analysis: FrameAnalysis) -> np.ndarray:
        if self._corrected and analysis.keypoints is not None:
            try:
                return self._live_correction.view(frame.bgr, analysis.keypoints)
            except Exception as error:  # keep coaching; say why the view is off
                self._corrected, self.state.note = False, f"corrected view failed: {error}"
        return frame.bgr

    def _present(self, frame: Frame, analysis: FrameAnalysis, started: float) -> None:
        draw_start = time.perf_counter()
        now = time.monotonic()
        self._present_times.append(now)
        if len(self._present_times) > 1:
            span = self._present_times[-1] - self._present_times[0]
            self.state.fps = (len(self._present_times) - 1) / span if span > 0 else None
        self.state.latencies = dict(self._ema)
        if self._recorder is not None:
            self.state.recording_seconds = self._recorder.frames_queued / self._recorder.fps
        else:
            self.state.recording_seconds = None
        if self.source.frame_count:
            self.state.progress = min(1.0, (frame.index + 1) / self.source.frame_count)
        if self.voice is not None:
            self.voice.update(analysis)
        clean, banner_height = draw_annotation(self._frame_image(frame, analysis), analysis,
                                               self.state)
        annotated = clean
        if self.window is not None or self.outputs.debug_overlay:
            annotated = clean.copy() if self._recorder is not None else clean
            draw_window_extras(annotated, self.state, banner_height)
        if self.window is not None:
            self.window.show(annotated)
        draw_ms = (time.perf_counter() - draw_start) * 1000.0
        # The record first: when the journal cannot be written (a full disk) the frame goes
        # to neither the timeline nor the clip, so the two still match.
        if self._timeline is not None:
            self._timeline.append(frame_record(analysis))
        else:
            self._records.append(frame_record(analysis))
        encode_start = time.perf_counter()
        if self._recorder is not None:
            # One clip frame per timeline record, so the two always match. A live clip plays
            # at the camera's rate: faster than real time only if inference falls behind.
            self._recorder.write(annotated if self.outputs.debug_overlay else clean)
        encode_ms = (time.perf_counter() - encode_start) * 1000.0
        if self._recorder is not None:
            encode_ms = max(encode_ms, self._recorder.encode_ms)
        for stage, value in analysis.timings.items():
            self._note_latency(stage, value)
        self._note_latency("draw", draw_ms)
        self._note_latency("encode", encode_ms)
        self._frame_latencies.append((time.perf_counter() - started) * 1000.0)
        self.result.frames += 1
        if self.progress is not None:
            self.progress.update(self.result.frames, self.state.fps)

    @property
    def records(self) -> list[dict]:
        """Timeline records of the frames presented so far."""
        return self._timeline.records if self._timeline is not None else self._records

    def run(self) -> SessionResult:
        """Runs until the source ends, q is pressed or a signal arrives; always finalizes.

        Raises:
            CoachError: an input, output or model problem (outputs so far are finalized first).
        """
        started = time.monotonic()
        meta = {"source": self.source.name, "fps": self.source.fps, "live": self.source.live,
                "pose_backend": getattr(self.analyzer.pose, "name", "?"),
                "form_model": self.analyzer.classifier is not None,
                # Which model judged: a timeline is only comparable with the same weights.
                "form_weights": _weights_name(self.analyzer.classifier),
                "form_weights_sha256": getattr(self.analyzer.classifier, "weights_sha256", None)}
        if self.outputs.timeline is not None:
            self._timeline = TimelineWriter(self.outputs.timeline, meta)
        if self.outputs.clip is not None:
            self._start_recording()
        workers = [threading.Thread(target=self._pose_stage, name="pose", daemon=True),
                   threading.Thread(target=self._form_stage, name="form", daemon=True)]
        for worker in workers:
            worker.start()
        failure: BaseException | None = None
        last: tuple[Frame, FrameAnalysis] | None = None
        try:
            while not self.stop.is_set():
                if self.window is not None:
                    for action in self.window.poll():
                        self._handle(action)
                    if self.state.paused:
                        # Frames already in flight wait in their queues until resumed.
                        if last is not None:
                            self.window.show(draw_overlay(last[0].bgr, last[1], self.state))
                        self.stop.wait(0.03)
                        continue
                try:
                    item = self._slot.get(timeout=0.03)
                except queue.Empty:
                    continue
                if item is _END:
                    self.stop.set("end")
                    break
                if isinstance(item, _Failure):
                    failure = item.error
                    break
                frame, analysis, frame_started = item
                self._present(frame, analysis, frame_started)
                last = (frame, analysis)
        except CoachError as error:
            failure = error
        finally:
            self.stop.set("error" if failure is not None else "end")
            self._running.set()
            self.source.close()
            for worker in workers:
                worker.join(timeout=5.0)
            if self.progress is not None:
                self.progress.finish()
            self.result.reason = (
                "camera_lost" if isinstance(failure, CameraLostError) else self.stop.reason
            )
            self.result.wall_seconds = time.monotonic() - started
            try:
                self._finalize(meta)
            except CoachError as error:
                # The same clip error, now saying how many frames were kept, wins.
                if failure is None or str(error).startswith(str(failure)):
                    failure = error
            if self.window is not None:
                self.window.close()
        if failure is not None:
            raise failure
        return self.result

    def _finalize(self, meta: dict) -> None:
        errors: list[CoachError] = []
        try:
            self._stop_recording()
        except CoachError as error:
            errors.append(self._match_timeline_to_clip(error))
        records = self.records
        summary = summarize(records, self.source.fps)
        self.result.summary = summary
        self.result.latency_ms = {
            stage: {"p50": float(np.percentile(values, 50)),
                    "p95": float(np.percentile(values, 95))}
            for stage, values in self._latencies.items() if values
        }
        if self._frame_latencies:
            self.result.frame_latency_ms = {
                "p50": float(np.percentile(self._frame_latencies, 50)),
                "p95": float(np.percentile(self._frame_latencies, 95)),
            }
        summary_payload = {**summary, "source": meta["source"], "stop_reason": self.result.reason,
                           "latency_ms": self.result.latency_ms}
        for write in (
            lambda: self._timeline is not None and self.result.written.append(
                self._timeline.close(summary_payload)),
            lambda: self.outputs.summary is not None and self.result.written.append(
                write_json_atomic(self.outputs.summary, summary_payload)),
            lambda: self.outputs.plot is not None and records and self.result.written.append(
                plot_timeline(
                records, self.outputs.plot,
                title=f"{meta['source']} - longest straight hold "
                      f"{summary['longest_straight_hold_seconds']:.1f} s")),
        ):
            try:
                write()
            except CoachError as error:
                errors.append(error)
        if errors:
            raise errors[0]

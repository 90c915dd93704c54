"""Command line of the coach app: parses arguments, builds the pieces, runs them.

Every problem a user can cause ends in one line on stderr and an exit code (README "Exit
codes"); tracebacks are only for bugs, and even then only with ``FORMCOACH_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from coach.errors import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    CoachError,
    InputError,
    UsageError,
    printable,
)
from coach.signals import StopFlag, stop_on_signals
from engine.media import MediaError

DEMO_CLIP = Path(__file__).resolve().parent / "assets" / "demo_handstand.mp4"

DESCRIPTION = """\
formcoach: a handstand form coach. It finds your body (BlazePose), judges the line of your
handstand with a learned model (straight / banana / other handstand / not a handstand), times
how long you hold a straight line, and draws the ideal line over you.

examples:
  python run_coach.py --camera 0                         live coaching in a window
  python run_coach.py --camera 0 --save session.mp4     ... and record the annotated view
  python run_coach.py --video kickup.mp4 --no-window --save annotated.mp4 --json timeline.json
  python run_coach.py --image photo.jpg --save photo_coach.png --json result.json
  python run_coach.py --image photos/ --save annotated/ --json results.json
  python run_coach.py --demo --out demo_output            the bundled sample, no camera needed

keys in the window: q/Esc quit, space pause, r record on/off, g ghost on/off, c corrected view,
h help.
"""

EPILOG = """\
exit codes: 0 ok, 1 internal error (a bug), 2 bad command line, 3 bad input (missing/corrupt
file, no camera),
4 cannot write an output, 5 weights/model problem, 6 camera lost mid-session,
130 stopped by Ctrl-C, 143 stopped by SIGTERM (outputs are finalized in every case).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also documents every option in ``--help``)."""
    parser = argparse.ArgumentParser(
        # The installed console script says its own name in usage lines.
        prog="formcoach" if Path(sys.argv[0]).name == "formcoach" else "run_coach.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", metavar="INDEX_OR_DEVICE",
                        help="live camera: an index (0) or a device path (/dev/video0)")
    source.add_argument("--video", metavar="FILE", type=Path,
                        help="analyze a video file, every frame")
    source.add_argument("--image", metavar="PATH", type=Path, nargs="+",
                        help="analyze photos: image files and/or folders of images")
    source.add_argument("--demo", action="store_true",
                        help="analyze the bundled sample clip (needs --out; no window)")
    parser.add_argument("--save", metavar="PATH", type=Path,
                        help="camera/video: annotated .mp4; photos: a folder, or a file for "
                             "one photo")
    parser.add_argument("--json", metavar="FILE", type=Path,
                        help="camera/video: timeline JSON (per frame, with summary); photos: "
                             "JSON list with one result per image")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="camera/video/demo: write annotated.mp4, timeline.json, "
                             "summary.json and timeline.png into DIR")
    parser.add_argument("--no-window", action="store_true",
                        help="no pygame window (video files show a progress bar instead)")
    parser.add_argument("--report", metavar="HTML", type=Path,
                        help="camera/video: a self-contained HTML session report (attempts, "
                             "plot, best and worst moments); --out writes report.html too")
    parser.add_argument("--voice", action=argparse.BooleanOptionalAction, default=None,
                        help="spoken cues (default: on for --camera with a window; key v "
                             "toggles them)")
    parser.add_argument("--debug-overlay", action="store_true",
                        help="burn the fps / latency panel into the annotated clip too (by "
                             "default it is shown in the window only)")
    parser.add_argument("--pose", choices=("auto", "blazepose", "deephar"), default="auto",
                        help="pose back-end (auto: DeepHAR when pose weights are given, "
                             "else BlazePose)")
    parser.add_argument("--form-backend", default="fast",
                        choices=("fast", "eager", "onnxruntime", "tensorrt", "auto"),
                        help="how the form model runs (fast: ONNX Runtime where installed, "
                             "else eager PyTorch)")
    parser.add_argument("--weights", metavar="FILE", type=Path, action="append",
                        help="a formcoach checkpoint (form or pose weights; may be repeated)")
    parser.add_argument("--explain", metavar="OUT_PNG", type=Path,
                        help="one --image: write original | ideal overlay | corrected; "
                             "--video: the same for the least straight moment of a hold")
    parser.add_argument("--max-frames", metavar="N", type=int,
                        help="stop after N frames (camera/video)")
    return parser


def _check_arguments(args: argparse.Namespace) -> None:
    if args.demo and args.out is None:
        raise UsageError("--demo needs --out DIR (where the annotated clip and reports go)")
    if args.image is not None and args.out is not None:
        raise UsageError("--out is for camera/video/demo; use --save and --json with --image")
    if args.explain is not None and args.camera is not None:
        raise UsageError("--explain works with one --image file or a --video")
    if args.explain is not None and args.image is not None and len(args.image) != 1:
        raise UsageError("--explain works with exactly one --image file")
    if args.camera is not None:
        from coach.sources import parse_camera

        parse_camera(args.camera)  # a typo is a usage error before anything opens
    if args.report is not None and args.image is not None:
        raise UsageError("--report works with --camera, --video or --demo (photos have --json)")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError("--max-frames must be at least 1")
    if args.save is not None and args.image is None and args.save.suffix.lower() != ".mp4":
        raise UsageError(f"--save for camera/video must be an .mp4 file, got {args.save}")


def _build_analyzer(args: argparse.Namespace, *, stream: bool, fps: float = 30.0):
    from coach.analysis import FrameAnalyzer
    from coach.loading import (
        limit_torch_threads,
        load_classifier,
        load_ideal,
        make_pose_backend,
        sort_weights,
    )
    from engine.glitches import PoseGlitchFilter
    from engine.smoothing import VerdictSmoother

    weights = sort_weights(args.weights)
    limit_torch_threads()
    classifier, status = load_classifier(weights.form, args.form_backend)
    if status:
        print(f"note: {status} ({weights.form}); showing poses without verdicts",
              file=sys.stderr)
    ideal, warning = load_ideal()
    if warning:
        print(f"note: {warning}", file=sys.stderr)
    pose = make_pose_backend(args.pose, weights.pose, stream=stream)
    return FrameAnalyzer(
        pose,
        classifier,
        VerdictSmoother() if stream and classifier is not None else None,
        ideal,
        fps=fps,
        no_model_status=status or "no form model installed",
        glitches=PoseGlitchFilter() if stream else None,
    )


def _stop_code(stop) -> int:
    return EXIT_INTERRUPTED if stop.reason == "interrupted" else EXIT_TERMINATED


def _print_written(paths) -> None:
    for path in paths:
        print(f"wrote {printable(path)}")


def _run_photos(args: argparse.Namespace, stop, locks: contextlib.ExitStack) -> int:
    from coach.recorder import OutputLock, check_writable
    from engine.media import MediaError, check_readable_file, list_images

    images = list_images(args.image)
    problems = []
    for path in images:
        try:
            check_readable_file(path, "image")
        except MediaError as error:
            problems.append(error)
    if len(problems) == len(images):  # nothing to analyze: say so before loading any model
        raise problems[0]
    for path in (args.json, args.explain):
        if path is not None:
            check_writable(path)
    locks.enter_context(OutputLock((args.json, args.explain)))
    from coach.photos import analyze_photos  # heavy (torch): after the cheap checks

    analyzer = _build_analyzer(args, stream=False)
    try:
        report = analyze_photos(images, analyzer, save=args.save, json_path=args.json,
                                explain=args.explain, stop=stop)
    finally:
        analyzer.close()
    for result in report.results:
        if result["keypoints"] is None and result["file"] not in report.failed:
            print(f"{result['file']}: no person found", file=sys.stderr)
        line = f"{result['file']}: {result['label']}"
        if result["probabilities"]:
            line += f" ({result['probabilities'].get(result['label'], 0.0) * 100:.0f}%)"
        if result["reason"]:
            line += f" - {result['reason']}"
        print(line)
    _print_written(report.written)
    if stop.is_set():
        return _stop_code(stop)
    if report.failed:
        return EXIT_INPUT
    return EXIT_OK


def _voice(args: argparse.Namespace, *, live: bool):
    """Spoken cues (``coach.voice``) when asked for or by default live, else None."""
    if not (args.voice if args.voice is not None else live):
        return None
    from coach.voice import CuePlayer, VoiceCoach

    try:
        return VoiceCoach(CuePlayer())
    except RuntimeError as error:
        print(f"note: {error}; coaching without spoken cues", file=sys.stderr)
        return None


def _run_stream(args: argparse.Namespace, stop, locks: contextlib.ExitStack) -> int:
    from coach.recorder import OutputLock, check_writable
    from coach.sources import CameraSource, VideoFileSource, parse_camera

    if args.demo:
        if not DEMO_CLIP.exists():
            raise InputError(f"bundled demo clip missing: {DEMO_CLIP} (render it with the "
                             "synthetic generator, see README)")
        video, window_wanted = DEMO_CLIP, False
    else:
        video, window_wanted = args.video, not args.no_window
    clip, timeline, summary_path, plot = args.save, args.json, None, None
    if args.out is not None:
        clip = clip or args.out / "annotated.mp4"
        timeline = timeline or args.out / "timeline.json"
        summary_path = args.out / "summary.json"
        plot = args.out / "timeline.png"
        args.report = args.report or args.out / "report.html"
    elif timeline is not None:
        plot = timeline.with_suffix(".png")
    window = None
    if window_wanted:  # first: a missing display is found before anything slow is loaded
        from coach.window import CoachWindow

        name = video.name if video is not None else f"camera {args.camera}"
        window = CoachWindow(f"formcoach - {name}")
    source = None
    try:
        source = VideoFileSource(video) if video is not None else CameraSource(
            parse_camera(args.camera))
        # Fail on an unwritable output now, not after minutes of analysis.
        for path in (clip, timeline, summary_path, plot, args.explain, args.report):
            if path is not None:
                check_writable(path)
        # A second run on the same outputs would interleave its bytes with ours: refused.
        locks.enter_context(
            OutputLock((clip, timeline, summary_path, plot, args.explain, args.report))
        )
        # Only now load the heavy parts (torch, mediapipe): a bad input or output is reported
        # in a fraction of a second.
        from coach.loop import CoachSession, ProgressBar, SessionOutputs

        analyzer = _build_analyzer(args, stream=True, fps=source.fps)
    except BaseException:
        if source is not None:
            source.close()
        if window is not None:
            window.close()
        raise
    if stop.is_set():  # Ctrl-C or SIGTERM while models were loading: nothing to finalize
        analyzer.close()
        source.close()
        if window is not None:
            window.close()
        print(f"error: {stop.reason} during start-up; nothing was written", file=sys.stderr)
        return _stop_code(stop)
    outputs = SessionOutputs(clip=clip, timeline=timeline, summary=summary_path, plot=plot,
                             debug_overlay=args.debug_overlay)
    progress = ProgressBar(source.name, source.frame_count) if window is None and \
        not source.live else None
    session = CoachSession(source, analyzer, window=window, outputs=outputs, stop=stop,
                           progress=progress, max_frames=args.max_frames,
                           voice=_voice(args, live=source.live and window is not None))
    try:
        result = session.run()
    except CoachError:
        _print_written(session.result.written)  # what was saved before the problem
        raise
    finally:
        analyzer.close()
    if video is not None and clip is not None and Path(clip) in map(Path, result.written):
        from coach.audio import copy_audio

        silent = copy_audio(video, Path(clip))
        if silent:
            print(f"note: {silent}; {printable(clip)} stays silent", file=sys.stderr)
    summary = result.summary
    print(f"analyzed {summary['frames']} frames ({summary['duration_seconds']:.1f} s): "
          f"longest straight hold {summary['longest_straight_hold_seconds']:.1f} s")
    _print_written(result.written)
    if args.explain is not None and result.reason == "end":
        _explain_video(video, session, analyzer, args.explain)
    if args.report is not None and session.records:
        _write_report(args.report, video, session, analyzer)
    if result.reason in ("interrupted", "terminated"):
        return _stop_code(stop)
    return EXIT_OK


def _explain_video(video: Path | None, session, analyzer, out_path: Path) -> None:
    from coach.reports import explain_worst_moment

    if video is None or analyzer.classifier is None:
        print("note: --explain skipped (needs a video file and a form model)", file=sys.stderr)
        return
    index = explain_worst_moment(video, session.records, analyzer.classifier, out_path)
    if index is None:
        print("note: --explain skipped: no hold in this video shows a confident fault on a "
              "trustworthy pose (nothing to correct)", file=sys.stderr)
    else:
        print(f"wrote {out_path} (frame {index}, the worst moment of a hold)")


def _write_report(path: Path, video: Path | None, session, analyzer) -> None:
    import time

    from coach.report_html import write_report

    result = session.result
    timeline = {
        "meta": {"source": session.source.name, "pose_backend": analyzer.pose.name,
                 "form_weights": getattr(analyzer.classifier, "weights_path", None)},
        "summary": {**result.summary, "latency_ms": result.latency_ms,
                    "stop_reason": result.reason},
        "frames": session.records,
    }
    start = time.perf_counter()
    write_report(path, timeline, video=video, classifier=analyzer.classifier,
                 ideal=analyzer.ideal)
    print(f"wrote {printable(path)} (report, {time.perf_counter() - start:.1f} s)")


def _quiet_native_logs() -> None:
    # OpenCV's FFmpeg back-end and mediapipe print warnings for every odd file; our own
    # one-line errors say what matters.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if "cv2" in sys.modules and os.environ["OPENCV_LOG_LEVEL"] == "OFF":
        # OpenCV reads its level once, at import, and coach.errors (through engine.media)
        # imports it before main() runs.
        logging = sys.modules["cv2"].utils.logging
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)


def main(argv: list[str] | None = None) -> int:
    """Runs the app; returns the process exit code (see README "Exit codes")."""
    _quiet_native_logs()
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with a usage line
    stop = StopFlag()
    try:
        # Output locks are released on every way out, also in-process (tests call main).
        with stop_on_signals(stop), contextlib.ExitStack() as locks:
            _check_arguments(args)
            if args.image is not None:
                return _run_photos(args, stop, locks)
            return _run_stream(args, stop, locks)
    except CoachError as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    except MediaError as error:  # a file engine.media cannot read: an input error
        print(f"error: {printable(error)}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("FORMCOACH_DEBUG"):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"error: internal error ({type(error).__name__}: {message}); "
              "rerun with FORMCOACH_DEBUG=1 for details", file=sys.stderr)
        return EXIT_INTERNAL

"""Running ``run_coach.py`` (and other entry points) as a user would, and judging what it says.

The app's contract for bad input: one line on stderr naming the problem, a non-zero exit code
when it cannot go on, never a Python traceback, and every output it already wrote still valid.
``CliResult`` and the helpers below check exactly that.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_COACH = REPO_ROOT / "run_coach.py"
TESTS_DIR = REPO_ROOT / "tests"

# Lines native libraries print on their own (not the app's messages). They are tolerated next to
# the app's one error line but reported, so they can be silenced where the app can do it.
NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called.*"
    r"|[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ .*"  # glog / absl lines from mediapipe
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\..*"
    r"|\[[^\]]+ @ 0x[0-9a-f]+\] .*"  # FFmpeg's av_log (OpenCV's back-end, the encoder)
    r"|\[ WARN:\d+@[\d.]+\] .*"  # OpenCV's own logging
    r"|Corrupt JPEG data: .*|Premature end of JPEG file|Invalid SOS parameters .*"
    r"|libpng (warning|error): .*"
    r"|pygame \d.*|Hello from the pygame community.*"
    r")$"
)
# A progress bar redraws itself with carriage returns; anything with a fraction and a percentage
# or a frame counter is progress, not a message.
PROGRESS = re.compile(r"(\d+\s*/\s*\d+|\d+(\.\d+)?\s*%|\bframes?\b.*\bfps\b)", re.IGNORECASE)


def coach_env(**overrides: str) -> dict[str, str]:
    """Environment for subprocesses: headless SDL, one thread per library, unbuffered output."""
    env = dict(os.environ)
    env.update(
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="dummy",
        PYGAME_HIDE_SUPPORT_PROMPT="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT), str(TESTS_DIR)] + [p for p in [env.get("PYTHONPATH")] if p]
        ),
    )
    env.update(overrides)
    return env


@dataclass
class CliResult:
    """What one run of a command showed the user."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        """stderr split into lines, progress-bar redraws (``\\r``) included as separate lines."""
        return [part.strip() for part in re.split(r"[\r\n]+", self.stderr) if part.strip()]

    @property
    def noise(self) -> list[str]:
        """Lines native libraries printed by themselves."""
        return [line for line in self.lines if NATIVE_NOISE.match(line)]

    @property
    def messages(self) -> list[str]:
        """The app's own stderr lines: no native noise, progress redraws or argparse usage.

        argparse prints its (multi-line) usage synopsis above a command-line error; that block
        is the standard way to answer a bad command line and is not counted as chatter.
        """
        kept, in_usage = [], False
        for line in self.lines:
            if line.lower().startswith("usage:"):
                in_usage = True
            if in_usage and re.search(r"\berror:", line):
                in_usage = False
            if in_usage or NATIVE_NOISE.match(line) or _is_progress(line):
                continue
            kept.append(line)
        return kept

    @property
    def error_lines(self) -> list[str]:
        """Lines that announce an error (``error: ...`` style or naming a failure)."""
        return [line for line in self.messages if re.search(r"\berror\b", line, re.IGNORECASE)]

    def describe(self) -> str:
        """A compact dump for assertion messages."""
        return (
            f"$ run_coach.py {' '.join(self.args)}\nexit {self.returncode} "
            f"after {self.seconds:.1f}s\n--- stderr ---\n{self.stderr[-3000:]}\n"
            f"--- stdout ---\n{self.stdout[-1500:]}"
        )


def _is_progress(line: str) -> bool:
    return bool(PROGRESS.search(line)) and not re.search(r"\berror\b", line, re.IGNORECASE)


def python_command(
    args: Sequence[str], *, prelude: str | None = None, script: Path = RUN_COACH
) -> list[str]:
    """The command line running ``script`` with ``args``, after ``prelude`` code if given."""
    if prelude is None:
        return [sys.executable, str(script), *args]
    bootstrap = (
        f"{prelude}\n"
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}] + sys.argv[1:]\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    return [sys.executable, "-c", bootstrap, *args]


def run_coach(
    args: Sequence[str],
    *,
    timeout: float = 120.0,
    prelude: str | None = None,
    module: str | None = None,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
) -> CliResult:
    """Runs ``run_coach.py args`` (or ``python -m module args``) to completion."""
    if module is not None:
        command = [sys.executable, "-m", module, *args]
    else:
        command = python_command(args, prelude=prelude)
    start = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env or coach_env(), capture_output=True, text=True,
            errors="replace", timeout=timeout, stdin=subprocess.DEVNULL,
        )
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        returncode = -999
        stdout = _text(expired.stdout)
        stderr = _text(expired.stderr) + f"\n[test harness: timed out after {timeout}s]"
    return CliResult(tuple(args), returncode, stdout, stderr, time.monotonic() - start)


def run_main(
    main: Callable[[list[str]], int | None],
    args: Sequence[str],
    *,
    cwd: Path = REPO_ROOT,
) -> CliResult:
    """Runs ``main(args)`` in this process and shows what a user would have seen.

    The in-process twin of ``run_coach``: file descriptors 1 and 2 are captured (so native
    libraries' lines count as they would in a terminal), ``SystemExit`` becomes the exit code,
    and an exception escaping ``main`` or ignored in a finalizer or thread is written out as
    the interpreter would write it, where ``assert_no_traceback`` finds it. Costs no process
    start-up: the models' imports are paid once per test session.
    """
    start = time.monotonic()
    with _captured_output() as captured, contextlib.chdir(cwd), _interpreter_hooks():
        try:
            code = main([str(arg) for arg in args])
            returncode = 0 if code is None else int(code)
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                returncode = exit_.code or 0
            else:  # sys.exit("message") prints the message, exits 1
                print(exit_.code, file=sys.stderr)
                returncode = 1
        except (Exception, KeyboardInterrupt):
            traceback.print_exc()
            returncode = 1
        # Finalizers of the run's young cyclic garbage speak now, inside the capture (a full
        # collection of the test process's heap would cost a quarter second per run).
        gc.collect(1)
        stdout, stderr = captured()
    return CliResult(tuple(map(str, args)), returncode, stdout, stderr,
                     time.monotonic() - start)


def run_main_with_signal(
    main: Callable[[list[str]], int | None],
    args: Sequence[str],
    signum: int,
    when: Callable[[], bool],
    *,
    count: int = 1,
    timeout: float = 60.0,
) -> tuple[CliResult, float | None]:
    """``run_main``, sending ``signum`` to this process ``count`` times once ``when()`` holds.

    Like ``kill -TERM pid`` on a ``run_coach.py`` process: the app's own handlers
    (``coach.signals``) take the signal in the main thread. A signal that comes after the app
    has put the previous handlers back (it finished first) meets a catcher here instead of
    ending the test session.

    Returns:
        (the run's result, ``time.monotonic()`` when the signal was sent, or None when the app
        finished before ``when()`` held).
    """
    done = threading.Event()
    sent_at: list[float] = []

    def sender() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            if when():
                sent_at.append(time.monotonic())
                for _ in range(count):
                    os.kill(os.getpid(), signum)
                return
            time.sleep(0.005)

    late: list[int] = []
    previous = {number: signal.signal(number, lambda number, _frame: late.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        result = run_main(main, args)
    finally:
        done.set()
        thread.join()
        time.sleep(0.05)  # a signal still pending is handled now, by the catcher
        for number, handler in previous.items():
            signal.signal(number, handler)
    return result, sent_at[0] if sent_at else None


@contextlib.contextmanager
def _captured_output():
    """Points fds 1 and 2 and ``sys.stdout``/``sys.stderr`` at files; yields their reader."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        files = (out_file, err_file)
        saved_fds = [os.dup(1), os.dup(2)]
        saved_streams = sys.stdout, sys.stderr
        streams = []
        try:
            for fd, handle in zip((1, 2), files, strict=True):
                os.dup2(handle.fileno(), fd)
            # Python-level writes share the fd's file position, so both kinds of lines keep
            # their order; stderr escapes undecodable text as the interpreter's own stderr does.
            for fd, errors in ((1, "strict"), (2, "backslashreplace")):
                raw = os.fdopen(os.dup(fd), "wb", buffering=0)
                streams.append(io.TextIOWrapper(raw, encoding="utf-8", errors=errors,
                                                write_through=True))
            sys.stdout, sys.stderr = streams

            def read() -> tuple[str, str]:
                texts = []
                for handle in files:
                    handle.seek(0)
                    texts.append(handle.read().decode("utf-8", errors="replace"))
                return texts[0], texts[1]

            yield read
        finally:
            sys.stdout, sys.stderr = saved_streams
            for stream in streams:
                stream.close()
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)


@contextlib.contextmanager
def _interpreter_hooks():
    """The interpreter's own reporting of ignored exceptions (pytest's hooks turn them into
    warnings instead, which would hide them from the output the tests judge)."""
    saved = sys.unraisablehook, threading.excepthook
    sys.unraisablehook, threading.excepthook = sys.__unraisablehook__, threading.__excepthook__
    try:
        yield
    finally:
        sys.unraisablehook, threading.excepthook = saved


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class RunningCoach:
    """A ``run_coach.py`` process started in the background, its output collected by threads.

    Use ``wait_until`` to act at a moment defined by what the app has done (frames analyzed,
    libraries loaded), then ``send`` a signal and ``finish``. The app leads its own process
    group, as a command started from a terminal does.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        prelude: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.args = tuple(args)
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            python_command(args, prelude=prelude), cwd=cwd, env=env or coach_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._stdout: list[bytes] = []
        self._stderr: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self._stdout),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self._stderr),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream, sink: list[bytes]) -> None:
        for chunk in iter(lambda: stream.read1(4096), b""):
            sink.append(chunk)

    @property
    def stderr(self) -> str:
        """stderr so far."""
        return b"".join(self._stderr).decode(errors="replace")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def wait_until(
        self, condition: Callable[[], bool], timeout: float = 60.0, poll: float = 0.005
    ) -> bool:
        """Polls ``condition`` until it holds (True) or the process ends / time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if not self.alive():
                return condition()
            time.sleep(poll)
        return False

    def loaded(self, library_fragment: str) -> bool:
        """Whether the process has mapped a shared library whose path contains the fragment."""
        try:
            maps = Path(f"/proc/{self.process.pid}/maps").read_text()
        except OSError:
            return False
        return library_fragment in maps

    def send(self, signum: int = signal.SIGINT, *, group: bool = False) -> None:
        """Sends ``signum`` to the app (like ``kill -INT pid``), or with ``group`` to its whole
        process group, its encoder included (like Ctrl-C in a terminal)."""
        if not self.alive():
            return
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def finish(self, timeout: float = 60.0) -> CliResult:
        """Waits for the process (killing it after ``timeout``) and returns its result."""
        try:
            returncode = self.process.wait(timeout=timeout)
            note = ""
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
            note = f"\n[test harness: killed after {timeout}s without exiting]"
        for reader in self._readers:
            reader.join(timeout=5.0)
        return CliResult(
            self.args,
            returncode,
            b"".join(self._stdout).decode(errors="replace"),
            self.stderr + note,
            time.monotonic() - self.started,
        )


def partial_timeline_frames(json_path: Path) -> int:
    """Frames analyzed so far, from the growing ``<timeline>.partial.jsonl`` (0 if absent)."""
    partial = json_path.with_name(json_path.name + ".partial.jsonl")
    try:
        with open(partial, "rb") as handle:
            lines = handle.read().count(b"\n")
    except OSError:
        return 0
    return max(0, lines - 1)  # the first line holds the metadata


def timeline_frames(path: Path) -> list[dict]:
    """The per-frame records of a timeline JSON written by the app.

    Raises:
        AssertionError: the file is not a valid timeline.
    """
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    assert isinstance(payload, dict), f"{path}: timeline is not a JSON object"
    frames = payload.get("frames")
    assert isinstance(frames, list), f"{path}: timeline has no 'frames' list"
    for position, record in enumerate(frames):
        assert isinstance(record, dict) and "time" in record, f"{path}: bad record {position}"
    return frames


def assert_no_traceback(result: CliResult) -> None:
    """No Python traceback or uncaught-exception text reached the user."""
    assert "Traceback" not in result.stderr, result.describe()
    assert "Traceback" not in result.stdout, result.describe()
    assert "Exception ignored" not in result.stderr, result.describe()
    assert "Fatal Python error" not in result.stderr, result.describe()
    assert result.returncode not in (-signal.SIGSEGV, -signal.SIGABRT, 134, 139), result.describe()
    assert result.returncode != -999, result.describe()


def assert_clean_failure(result: CliResult, *mentions: str) -> str:
    """The run failed the way the contract asks: non-zero exit, one error line, no traceback.

    Args:
        mentions: each must occur (case-insensitive) in the error line; an entry with ``|``
            is satisfied by any of its alternatives.

    Returns:
        The error line.
    """
    assert_no_traceback(result)
    assert result.returncode != 0, result.describe()
    line = the_error_line(result, mentions[0].split("|")[0] if mentions else None)
    for mention in mentions:
        options = mention.lower().split("|")
        assert any(option in line.lower() for option in options), (
            f"error line does not mention {mention!r}: {line!r}\n{result.describe()}"
        )
    return line


def the_error_line(result: CliResult, subject: str | None = None) -> str:
    """The one line that explains the failure (asserts there is exactly one).

    Args:
        subject: when no line says ``error``, the line naming this (a file name) is the error;
            a second line naming it (a contradicting message) fails the check.
    """
    messages = result.messages
    errors = result.error_lines
    if not errors and subject:
        errors = [line for line in messages if subject.lower() in line.lower()]
    errors = errors or messages[-1:]
    assert errors, f"no error message on stderr\n{result.describe()}"
    assert len(errors) == 1, f"expected one error line, got {errors}\n{result.describe()}"
    # Usage errors from argparse add one usage line before the error; nothing else may.
    others = [
        line for line in messages if line not in errors and not line.lower().startswith("usage")
    ]
    assert len(others) <= 2, f"extra chatter around the error: {others}\n{result.describe()}"
    return errors[0]

"""The command-line bad-input cases: what to run and what the user must see.

A ``CliCase`` names its inputs by corpus key (``{video_ok}``) and its outputs by ``{out}`` (a
fresh folder per case). ``expect`` is ``"fail"`` (non-zero exit, one error line naming the
problem), ``"ok"`` (exit 0, outputs valid) or ``"either"`` (the app may judge the input usable or
not, but must do one of the two cleanly). ``check`` validates the outputs that exist afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import media
from .cli import CliResult, timeline_frames

PHOTO_KEYS = {"file", "label", "probabilities", "can_judge", "reason", "keypoints"}
LABELS = {"straight", "banana", "other_handstand", "not_handstand", "unknown"}

Check = Callable[[CliResult, Path], None]


@dataclass(frozen=True)
class CliCase:
    """One run of ``run_coach.py`` on bad (or odd) input.

    Attributes:
        name: test id.
        args: arguments; ``{key}`` is a corpus path, ``{out}`` the case's output folder.
        expect: ``"fail"``, ``"ok"`` or ``"either"``.
        mentions: for failures, what the error line must contain (``a|b`` = either).
        exit_code: the exact exit code expected on failure (README "Exit codes"), if fixed.
        check: validates the outputs afterwards (also after a failure).
        camera: (frames before loss, failure) of a simulated camera that replaces every
            camera index (``reliability.fakes``), or None for the real ones.
        setup: prepares the output folder before the run (symlinks, locks ...).
        one_line: the failure is told in exactly one line (False for batches of several
            bad files: one line per file, checked by the batch's own test).
    """

    name: str
    args: tuple[str, ...]
    expect: str = "fail"
    mentions: tuple[str, ...] = ()
    exit_code: int | None = None
    check: Check | None = None
    camera: tuple[int, str] | None = None
    setup: Callable[[Path], None] | None = None
    one_line: bool = True

    @property
    def prelude(self) -> str | None:
        """Python a ``run_coach.py`` subprocess runs before the app (the simulated camera)."""
        if self.camera is None:
            return None
        frames, failure = self.camera
        return FLAKY.format(n=frames, how=failure)

    def resolve(self, paths: dict[str, Path], out: Path) -> list[str]:
        """The concrete argument list."""
        values = {key: str(path) for key, path in paths.items()}
        values["out"] = str(out)
        return [arg.format(**values) for arg in self.args]


# ----------------------------------------------------------------------------- output checks
def clip_and_timeline(min_frames: int = 1, exact: int | None = None) -> Check:
    """The clip decodes, the timeline parses, and they hold the same number of frames."""

    def check(result: CliResult, out: Path) -> None:
        clip, timeline = out / "clip.mp4", out / "timeline.json"
        assert clip.exists(), f"no clip written\n{result.describe()}"
        assert timeline.exists(), f"no timeline written\n{result.describe()}"
        frames = media.count_video_frames(clip)
        records = timeline_frames(timeline)
        assert frames >= min_frames, f"clip holds {frames} frames\n{result.describe()}"
        assert frames == len(records), (
            f"clip holds {frames} frames, timeline {len(records)}\n{result.describe()}"
        )
        if exact is not None:
            assert frames == exact, f"expected {exact} frames, clip has {frames}"

    return check


def outputs_valid_if_present(result: CliResult, out: Path) -> None:
    """Whatever the app left behind is valid: clips decode, JSON parses, no temp litter."""
    for path in out.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        if path.suffix == ".mp4":
            assert media.count_video_frames(path) >= 1, f"{path} does not decode"
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif ".tmp" in path.name:
            raise AssertionError(f"temporary file left behind: {path}\n{result.describe()}")
    clip, timeline = out / "clip.mp4", out / "timeline.json"
    if clip.is_file() and not clip.is_symlink() and timeline.is_file() and \
            not timeline.is_symlink():
        assert media.count_video_frames(clip) == len(timeline_frames(timeline)), (
            f"clip and timeline disagree\n{result.describe()}"
        )


def photo_results(expected_files: int, *, person_expected: bool | None = None) -> Check:
    """The photo JSON is a list with one well-formed object per image."""

    def check(result: CliResult, out: Path) -> None:
        path = out / "photos.json"
        assert path.exists(), f"no photo JSON written\n{result.describe()}"
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(entries, list) and len(entries) == expected_files, entries
        for entry in entries:
            assert set(entry) >= PHOTO_KEYS, f"missing keys {PHOTO_KEYS - set(entry)}"
            assert entry["label"] in LABELS, entry["label"]
            assert isinstance(entry["can_judge"], bool)
            assert isinstance(entry["reason"], str)
            assert isinstance(entry["probabilities"], dict)
            if entry["keypoints"] is not None:
                assert len(entry["keypoints"]) == 16 and all(len(k) == 3 for k in
                                                              entry["keypoints"])
            if entry["label"] == "unknown":
                assert entry["reason"], f"unknown verdict without a reason: {entry}"
        if person_expected is False:
            for entry in entries:
                assert entry["keypoints"] is None, entry
                assert "person" in entry["reason"].lower(), entry

    return check


def good_photo_kept(good_name: str) -> Check:
    """In a batch with a broken image, the good image's result is still written."""

    def check(result: CliResult, out: Path) -> None:
        path = out / "photos.json"
        assert path.exists(), f"results of the good photo were lost\n{result.describe()}"
        entries = json.loads(path.read_text(encoding="utf-8"))
        good = [entry for entry in entries if Path(entry["file"]).name == good_name]
        assert len(good) == 1, f"no result for {good_name}: {entries}"
        assert set(good[0]) >= PHOTO_KEYS and good[0]["label"] in LABELS, good[0]

    return check


def annotated_images(count: int) -> Check:
    """``count`` annotated images were written into ``{out}/annotated`` and decode."""

    def check(result: CliResult, out: Path) -> None:
        import cv2

        written = sorted((out / "annotated").glob("*.png"))
        assert len(written) == count, f"{written}\n{result.describe()}"
        for path in written:
            assert cv2.imread(str(path)) is not None, path

    return check


def both(*checks: Check) -> Check:
    """Runs several checks."""

    def check(result: CliResult, out: Path) -> None:
        for each in checks:
            each(result, out)

    return check


# ----------------------------------------------------------------------------- setups
def symlink_to_dev_full(name: str) -> Callable[[Path], None]:
    """``{out}/<name>`` becomes a symlink to /dev/full: every write fails with ENOSPC."""

    def setup(out: Path) -> None:
        (out / name).symlink_to("/dev/full")

    return setup


def fifo(name: str) -> Callable[[Path], None]:
    """``{out}/<name>`` becomes a named pipe: opening it for reading would block forever."""

    def setup(out: Path) -> None:
        os.mkfifo(out / name)

    return setup


VIDEO_OUT = ("--save", "{out}/clip.mp4", "--json", "{out}/timeline.json", "--no-window")
PHOTO_OUT = ("--json", "{out}/photos.json")
FLAKY = (
    "from reliability.fakes import install_flaky_camera; "
    "install_flaky_camera(frames_before_loss={n}, failure={how!r})"
)


def _ref(key: str) -> str:
    return "{" + key + "}"


def _video(name: str, key: str, *mentions: str, code: int = 3) -> CliCase:
    return CliCase(name, ("--video", _ref(key), *VIDEO_OUT), "fail", mentions, code,
                   outputs_valid_if_present)


def _photo_fail(name: str, key: str, *mentions: str) -> CliCase:
    return CliCase(name, ("--image", _ref(key), *PHOTO_OUT), "fail", mentions, 3,
                   outputs_valid_if_present)


# Odd but valid photos, judged in one run (start-up dominates a run): (test id, corpus key,
# whether a person is there to find; None = drawn figure, the detector may or may not see it).
ODD_PHOTOS: tuple[tuple[str, str, bool | None], ...] = (
    ("image_8k", "image_8k", None),
    ("grayscale_png", "grayscale_png", None),
    ("rgba_png", "rgba_png", None),
    ("cmyk_jpg", "cmyk_jpg", None),
    ("png_16bit", "png16", None),
    ("palette_png", "palette_png", None),
    ("exif_rotated_jpg", "exif_rotated_jpg", None),
    ("exif_portrait_jpg", "exif_portrait_jpg", None),
    ("webp_image", "webp_image", None),
    ("no_person", "no_person_png", False),
    ("two_people", "two_people_png", None),
    ("person_partly_out_of_frame", "partial_person_png", None),
    ("standing_person", "upright_person_png", None),
    ("unicode_file_name", "unicode_name_png", None),
)
PHOTO_BATCH_CASE = "odd_photos_batch"
# Damaged photos next to a good one, in one run: (test id, corpus key, whether the file must be
# refused; None = a decoder may recover part of the picture).
DAMAGED_PHOTOS: tuple[tuple[str, str, bool | None], ...] = (
    ("empty_png", "empty_png", True),
    ("text_renamed_jpg", "text_as_jpg", True),
    ("truncated_png", "truncated_png", True),
    ("corrupt_jpg", "corrupt_jpg", None),
    ("truncated_jpg", "truncated_jpg", None),
    ("tiny_2x2_png", "tiny_image", None),
)
DAMAGED_BATCH_CASE = "damaged_photos_with_a_good_one"
# Weights given with --weights: (kind, corpus file name). The CLI runs a few; every one is also
# loaded in-process (tests/test_reliability_weights.py), which is much cheaper.
WEIGHTS_CASES: tuple[tuple[str, str], ...] = (
    ("missing", "no_such_weights.pt"),
    ("corrupt", "corrupt.pt"),
    ("empty", "empty.pt"),
    ("text", "weights.pt"),
    ("directory", "weights_folder.pt"),
    ("truncated", "truncated.pt"),
    ("mismatched", "mismatched.pt"),
    ("form_mismatched", "form_mismatched.pt"),
    ("pose_mismatched", "pose_mismatched.pt"),
)
WEIGHTS_ON_CLI = ("missing", "corrupt", "form_mismatched")


CLI_CASES: tuple[CliCase, ...] = (
    # ------------------------------------------------------------------ videos
    _video("missing_video", "missing_video", "no_such_video.mp4", "not found|no such"),
    _video("video_is_directory", "directory", "a_folder.mp4", "folder|directory"),
    _video("empty_mp4", "empty_mp4", "empty.mp4", "empty"),
    _video("text_renamed_mp4", "text_as_mp4", "notes.mp4", "decode|not a video|corrupt"),
    _video("truncated_mp4", "truncated_mp4", "truncated.mp4", "decode|corrupt|frames"),
    _video("header_only_mp4", "header_only_mp4", "header_only.mp4", "decode|corrupt|frames"),
    _video("garbled_mp4", "garbled_mp4", "garbled.mp4", "decode|corrupt|frames"),
    _video("zero_frame_mp4", "zero_frame_mp4", "zero_frames.mp4", "frames|decode|video"),
    _video("audio_only_mp4", "audio_only_mp4", "voice_memo.mp4", "frames|decode|video"),
    *(CliCase(f"{flag[2:]}_is_{name}", (flag, path, *outputs), "fail",
              (path.rsplit("/", 1)[-1], "not a regular file"), 3, setup=setup)
      for flag, outputs in (("--video", VIDEO_OUT), ("--image", PHOTO_OUT))
      for name, path, setup in (("dev_zero", "/dev/zero", None), ("dev_null", "/dev/null", None),
                                ("fifo", "{out}/pipe.mp4", fifo("pipe.mp4")))),
    CliCase("truncated_faststart_mp4", ("--video", "{truncated_faststart_mp4}", *VIDEO_OUT),
            "either", ("truncated_fs.mp4",), None, both(outputs_valid_if_present)),
    CliCase("one_frame_mp4", ("--video", "{one_frame_mp4}", *VIDEO_OUT), "ok",
            check=clip_and_timeline(exact=1)),
    CliCase("variable_fps_mp4", ("--video", "{variable_fps_mp4}", *VIDEO_OUT), "ok",
            check=clip_and_timeline(exact=10)),
    CliCase("rotation_metadata_mp4", ("--video", "{rotated_mp4}", *VIDEO_OUT), "ok",
            check=clip_and_timeline(exact=12)),
    CliCase("odd_size_mjpeg_avi", ("--video", "{odd_size_mp4}", *VIDEO_OUT), "ok",
            check=clip_and_timeline(exact=6)),
    # ------------------------------------------------------------------ photos
    _photo_fail("missing_image", "missing_image", "no_such_photo.jpg", "not found|no such"),
    _photo_fail("empty_folder", "empty_folder", "empty_folder", "no image"),
    _photo_fail("folder_without_images", "folder_of_junk", "folder_of_junk", "no image"),
    CliCase(PHOTO_BATCH_CASE, ("--image", *(_ref(key) for _, key, _ in ODD_PHOTOS),
                               *PHOTO_OUT), "ok", check=photo_results(len(ODD_PHOTOS))),
    CliCase(DAMAGED_BATCH_CASE, ("--image", "{image_ok}",
                                 *(_ref(key) for _, key, _ in DAMAGED_PHOTOS), *PHOTO_OUT),
            "fail", (), 3, both(good_photo_kept("person.png"),
                                photo_results(1 + len(DAMAGED_PHOTOS))), one_line=False),
    CliCase("annotated_folder_for_a_batch",
            ("--image", "{image_ok}", "{grayscale_png}", "--save", "{out}/annotated",
             *PHOTO_OUT), "ok", check=both(photo_results(2), annotated_images(2))),
    # ------------------------------------------------------------------ cameras
    CliCase("camera_index_missing", ("--camera", "7", "--no-window"), "fail",
            ("camera 7", "cannot be opened|not found|no such"), 3),
    CliCase("camera_device_path_missing", ("--camera", "/dev/video_does_not_exist",
                                           "--no-window"), "fail",
            ("video_does_not_exist",), 3),
    CliCase("camera_not_a_number", ("--camera", "abc", "--no-window"), "fail",
            ("--camera", "abc"), 2),
    CliCase("camera_negative_index", ("--camera", "-1", "--no-window"), "fail",
            ("--camera", "-1"), 2),
    CliCase("camera_delivers_nothing", ("--camera", "0", *VIDEO_OUT), "fail",
            ("camera 0", "no frames|delivers"), 3, outputs_valid_if_present,
            camera=(0, "false")),
    CliCase("camera_lost_mid_run", ("--camera", "0", *VIDEO_OUT), "fail",
            ("camera", "lost|stopped|unplugged"), 6, clip_and_timeline(min_frames=1),
            # ~3 s of frames: the models load meanwhile, so the loss comes mid-analysis.
            camera=(100, "false")),
    # ------------------------------------------------------------------ outputs
    CliCase("save_into_a_file_not_folder",
            ("--video", "{video_ok}", "--save", "{a_file}/clip.mp4", "--no-window"), "fail",
            ("plain_file.txt",), 4),
    CliCase("json_into_a_file_not_folder",
            ("--video", "{video_ok}", "--json", "{a_file}/timeline.json", "--no-window"),
            "fail", ("plain_file.txt",), 4),
    CliCase("photo_save_into_a_file_not_folder",
            ("--image", "{image_ok}", "{grayscale_png}", "--save", "{a_file}/annotated"),
            "fail", ("plain_file.txt",), 4),
    CliCase("out_folder_is_a_file", ("--video", "{video_ok}", "--out", "{a_file}", "--no-window"),
            "fail", ("plain_file.txt",), 4),
    CliCase("save_into_proc", ("--video", "{video_ok}", "--save", "/proc/formcoach/clip.mp4",
                               "--no-window"), "fail", ("/proc/formcoach",), 4),
    CliCase("save_is_an_existing_folder",
            ("--video", "{video_ok}", "--save", "{directory}", "--no-window"), "fail",
            ("a_folder.mp4",), None),
    CliCase("json_name_too_long",
            ("--video", "{video_ok}", "--json", "{out}/" + "t" * 300 + ".json", "--no-window"),
            "fail", ("too long|cannot write",), 4),
    CliCase("save_with_wrong_suffix", ("--video", "{video_ok}", "--save", "/dev/full",
                                       "--no-window"), "fail", (".mp4",), 2),
    CliCase("clip_to_full_disk", ("--video", "{video_ok}", *VIDEO_OUT), "fail",
            ("clip.mp4|/dev/full", "write|space|full"), 4, outputs_valid_if_present,
            setup=symlink_to_dev_full("clip.mp4")),
    CliCase("timeline_to_full_disk", ("--video", "{video_ok}", *VIDEO_OUT), "fail",
            ("timeline.json|/dev/full", "write|space|full"), 4, outputs_valid_if_present,
            setup=symlink_to_dev_full("timeline.json")),
    CliCase("timeline_journal_to_full_disk", ("--video", "{video_ok}", *VIDEO_OUT), "fail",
            ("timeline.json|/dev/full", "write|space|full"), 4, outputs_valid_if_present,
            setup=symlink_to_dev_full("timeline.json.partial.jsonl")),
    # ------------------------------------------------------------------ weights
    *(
        CliCase(f"weights_{kind}", ("--video", "{video_ok}", "--weights", _ref(f"weights_{kind}"),
                                    "--no-window", "--json", "{out}/timeline.json"), "fail",
                (file_name, "weights|model|checkpoint"), 5, outputs_valid_if_present)
        for kind, file_name in WEIGHTS_CASES
        if kind in WEIGHTS_ON_CLI
    ),
    # ------------------------------------------------------------------ command line
    CliCase("no_source", (), "fail", ("required|--camera|--video",), 2),
    CliCase("two_sources", ("--video", "{video_ok}", "--image", "{image_ok}"), "fail",
            ("not allowed|--image|--video",), 2),
    CliCase("demo_without_out", ("--demo",), "fail", ("--out",), 2),
    CliCase("max_frames_zero", ("--video", "{video_ok}", "--max-frames", "0"), "fail",
            ("max-frames",), 2),
    CliCase("max_frames_not_a_number", ("--video", "{video_ok}", "--max-frames", "ten"),
            "fail", ("max-frames|invalid",), 2),
)


def skip_reason(case: CliCase) -> str | None:
    """Why a case cannot run on this machine (None when it can)."""
    if case.name == "save_into_proc" and not Path("/proc").is_dir():
        return "no /proc on this system"
    if "full_disk" in case.name and not os.path.exists("/dev/full"):
        return "no /dev/full on this system"
    return None

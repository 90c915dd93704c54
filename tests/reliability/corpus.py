"""The bad-input corpus: every odd, broken or hostile input the app must survive.

``build_corpus(root)`` writes all files into ``root`` (a pytest ``tmp_path``) in a few seconds
and returns a ``Corpus`` mapping case names to paths. Nothing here is committed: the files are
generated on every test session from code, with fixed seeds.
"""

from __future__ import annotations

import io
import os
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import media

VIDEO_SIZE = (160, 120)  # (w, h) of every generated video
IMAGE_SIZE = (320, 240)


@dataclass
class Corpus:
    """Paths of the generated corpus, by name (``corpus["truncated_mp4"]``)."""

    root: Path
    paths: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it could not be made

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    def add(self, name: str, path: Path) -> Path:
        """Records ``path`` under ``name`` and returns it."""
        self.paths[name] = path
        return path


def _mp4_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """Top-level ISO-BMFF boxes of an mp4 as (type, offset, size)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        if size < 8:
            break
        boxes.append((kind.decode("latin-1"), offset, size))
        offset += size
    return boxes


def _write_image(path: Path, image: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), image):
        raise RuntimeError(f"cv2 could not write {path}")
    return path


def build_corpus(root: Path) -> Corpus:
    """Writes the whole bad-input corpus into ``root``.

    Returns:
        The ``Corpus``; names are the case names used by the reliability tests.
    """
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    add = corpus.add
    width, height = VIDEO_SIZE

    # ---------------------------------------------------------------- videos
    frames = media.person_frames(12, width, height)
    good_video = media.encode_video(add("video_ok", root / "video_ok.mp4"), frames)
    add("missing_video", root / "no_such_video.mp4")
    add("directory", root / "a_folder.mp4").mkdir()
    add("empty_mp4", root / "empty.mp4").write_bytes(b"")
    add("text_as_mp4", root / "notes.mp4").write_text("shopping list: chalk, grips, tape\n")
    media.truncate(good_video, add("truncated_mp4", root / "truncated.mp4"), 0.5)
    faststart = media.encode_video(root / "faststart_src.mp4", frames, faststart=True)
    media.truncate(faststart, add("truncated_faststart_mp4", root / "truncated_fs.mp4"), 0.7)
    data = faststart.read_bytes()
    mdat = [offset for kind, offset, _ in _mp4_boxes(data) if kind == "mdat"]
    # The index (moov) promises 12 frames; the media data they live in is gone.
    cut = (mdat[0] + 16) if mdat else len(data) // 3
    add("header_only_mp4", root / "header_only.mp4").write_bytes(data[:cut])
    faststart.unlink()
    media.corrupt_middle(good_video, add("garbled_mp4", root / "garbled.mp4"), keep_head=48)
    media.zero_frame_video(add("zero_frame_mp4", root / "zero_frames.mp4"))
    media.audio_only_mp4(add("audio_only_mp4", root / "voice_memo.mp4"))
    media.encode_video(add("one_frame_mp4", root / "one_frame.mp4"), frames[:1])
    media.variable_fps_video(
        add("variable_fps_mp4", root / "variable_fps.mp4"), media.person_frames(24, width, height)
    )
    media.rotated_video(add("rotated_mp4", root / "rotated.mp4"), frames, degrees=90)
    media.encode_video(
        add("odd_size_mp4", root / "odd_size.avi"),
        media.person_frames(6, 97, 75),
        extra_output_args=("-c:v", "mjpeg", "-pix_fmt", "yuvj444p"),
    )

    # ---------------------------------------------------------------- images
    w, h = IMAGE_SIZE
    person = media.person_frame(w, h)
    _write_image(add("image_ok", root / "person.png"), person)
    add("missing_image", root / "no_such_photo.jpg")
    add("empty_folder", root / "empty_folder").mkdir()
    junk = add("folder_of_junk", root / "folder_of_junk")
    junk.mkdir()
    (junk / "readme.txt").write_text("not an image\n")
    (junk / "data.csv").write_text("a,b\n1,2\n")
    add("empty_png", root / "empty.png").write_bytes(b"")
    add("text_as_jpg", root / "notes.jpg").write_text("this is not a JPEG\n")
    jpeg = cv2.imencode(".jpg", person)[1].tobytes()
    # Keep SOI + headers (a viewer still recognizes the file), destroy the entropy data.
    garbled = bytearray(jpeg)
    rng = np.random.default_rng(7)
    start = min(len(garbled) // 4, 700)
    garbled[start:] = rng.integers(0, 256, len(garbled) - start, dtype=np.uint8).tobytes()
    add("corrupt_jpg", root / "corrupt.jpg").write_bytes(bytes(garbled))
    add("truncated_jpg", root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    add("truncated_png", root / "truncated.png").write_bytes(
        cv2.imencode(".png", person)[1].tobytes()[:400]
    )
    # 8K: 7680x4320, flat colours so the file stays small while the decoded frame is ~100 MB.
    huge = np.full((4320, 7680, 3), 180, np.uint8)
    media.draw_person(huge, 3840, 4000, 3000)
    cv2.imwrite(str(add("image_8k", root / "huge_8k.jpg")), huge, [cv2.IMWRITE_JPEG_QUALITY, 60])
    _write_image(add("tiny_image", root / "tiny_2x2.png"), person[:2, :2])
    _write_image(add("grayscale_png", root / "gray.png"), cv2.cvtColor(person, cv2.COLOR_BGR2GRAY))
    rgba = cv2.cvtColor(person, cv2.COLOR_BGR2BGRA)
    rgba[..., 3] = 128
    _write_image(add("rgba_png", root / "rgba.png"), rgba)
    _write_image(add("png16", root / "deep16.png"), person.astype(np.uint16) * 257)
    try:
        from PIL import Image

        rgb = Image.fromarray(person[..., ::-1].copy())
        rgb.convert("CMYK").save(add("cmyk_jpg", root / "cmyk.jpg"), "JPEG")
        rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(
            add("palette_png", root / "palette.png")
        )
        buffer = io.BytesIO()
        rgb.save(buffer, "JPEG", exif=_exif_orientation(Image, 3))
        add("exif_rotated_jpg", root / "exif_upside_down.jpg").write_bytes(buffer.getvalue())
        # A phone photo taken in portrait: pixels stored sideways, EXIF says "turn 90° CW".
        sideways = Image.fromarray(np.ascontiguousarray(np.rot90(person[..., ::-1], k=1)))
        buffer = io.BytesIO()
        sideways.save(buffer, "JPEG", exif=_exif_orientation(Image, 6))
        add("exif_portrait_jpg", root / "exif_portrait.jpg").write_bytes(buffer.getvalue())
        rgb.save(add("webp_image", root / "photo.webp"), "WEBP")
        rgb.save(add("gif_image", root / "photo.gif"), "GIF")
    except ImportError as error:  # pragma: no cover - Pillow is in the dev environment
        corpus.skipped["cmyk_jpg"] = f"Pillow not installed: {error}"
    _write_image(add("no_person_png", root / "empty_gym.png"), media.background(w, h, seed=3))
    _write_image(add("two_people_png", root / "two_people.png"), media.person_frame(w, h, people=2))
    _write_image(
        add("partial_person_png", root / "partly_out.png"), media.person_frame(w, h, offset_x=0.45)
    )
    _write_image(add("upright_person_png", root / "standing.png"), _standing(w, h))
    add("unicode_name_png", root / "händstand – фото ✓.png").write_bytes(
        cv2.imencode(".png", person)[1].tobytes()
    )

    # ---------------------------------------------------------------- outputs
    add("a_file", root / "plain_file.txt").write_text("I am a file, not a folder\n")
    add("dev_full", Path("/dev/full"))
    locked_dir = add("readonly_dir", root / "readonly_dir")
    locked_dir.mkdir()
    os.chmod(locked_dir, 0o500)  # root ignores this; the tests use other tricks there

    # ---------------------------------------------------------------- weights
    rng = np.random.default_rng(11)
    add("weights_corrupt", root / "corrupt.pt").write_bytes(
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    add("weights_empty", root / "empty.pt").write_bytes(b"")
    add("weights_text", root / "weights.pt").write_text("<html>404 Not Found</html>\n")
    add("weights_missing", root / "no_such_weights.pt")
    add("weights_directory", root / "weights_folder.pt").mkdir()
    _mismatched_weights(add("weights_mismatched", root / "mismatched.pt"))
    _truncated_zip_weights(add("weights_truncated", root / "truncated.pt"))
    _kind_mismatched_weights(add("weights_form_mismatched", root / "form_mismatched.pt"), "form")
    _kind_mismatched_weights(add("weights_pose_mismatched", root / "pose_mismatched.pt"), "pose")

    # ---------------------------------------------------------------- label stores
    add("labels_corrupt_db", root / "corrupt_labels.db").write_bytes(
        b"SQLite format 3\x00" + rng.integers(0, 256, 8192, dtype=np.uint8).tobytes()
    )
    add("labels_random_db", root / "random_labels.db").write_bytes(
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    _damaged_sqlite(add("labels_damaged_db", root / "damaged_labels.db"))
    add("labels_locked_db", root / "locked_labels.db")  # created by the test that locks it
    add("labels_directory_db", root / "labels_folder.db").mkdir()
    add("labels_csv_ok", root / "labels.csv").write_text(
        "file,label,confidence,notes\nperson.png,straight,1.0,\n"
    )
    return corpus


def _standing(width: int, height: int) -> np.ndarray:
    image = media.background(width, height, seed=5)
    media.draw_person(image, width / 2, height * 0.9, height * 0.8, inverted=False)
    return image


def _exif_orientation(image_module, orientation: int) -> bytes:
    exif = image_module.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _mismatched_weights(path: Path) -> None:
    """A valid torch checkpoint of some other network (wrong keys and shapes)."""
    import torch

    state = {"conv.weight": torch.zeros(4, 3, 3, 3), "fc.bias": torch.zeros(1000)}
    torch.save({"model": state, "config": {"name": "resnet_from_the_internet"}}, path)


def _kind_mismatched_weights(path: Path, kind: str) -> None:
    """A formcoach-looking checkpoint (right ``kind``) whose tensors fit no network of ours."""
    import torch

    state = {"layers.0.weight": torch.zeros(7, 5), "layers.0.bias": torch.zeros(7)}
    torch.save(
        {"kind": kind, "model": "form_net_test" if kind == "form" else "deephar_test",
         "config": {"num_joints": 33, "clip_length": 3}, "state_dict": state,
         "sha256": "0" * 64},
        path,
    )


def _truncated_zip_weights(path: Path) -> None:
    """A torch checkpoint cut in half (an interrupted download)."""
    import torch

    buffer = io.BytesIO()
    torch.save({"weights": torch.arange(20000, dtype=torch.float32)}, buffer)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])


def _damaged_sqlite(path: Path) -> None:
    """A real SQLite database whose table pages were overwritten (a disk error)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, text TEXT)")
    db.executemany("INSERT INTO t (text) VALUES (?)", [("x" * 200,) for _ in range(200)])
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page : page * 3] = b"\xff" * (page * 2)
    path.write_bytes(bytes(data))

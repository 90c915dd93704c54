"""Fuzzing the app's image, video and weights loaders with hypothesis.

Random bytes and mutated real PNG / JPEG / MP4 / checkpoint files go through the loaders the
app uses. Each must either return something well-formed or raise the project's own one-line
error type (``MediaError``, ``ModelError``, ``FormModelError``, ``PoseBackendError``); any other
exception, a hang or a crash of the interpreter fails the test.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability import fuzzing, media

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_WORK = Path(tempfile.mkdtemp(prefix="formcoach_fuzz_"))


def _write(data: bytes, suffix: str) -> Path:
    path = _WORK / f"sample{suffix}"
    path.write_bytes(data)
    return path


def _assert_one_line(error: BaseException) -> None:
    text = str(error)
    assert text and "\n" not in text.strip(), repr(text)


# ---------------------------------------------------------------------------------- images
_PNG, _JPEG = fuzzing.seed_png(), fuzzing.seed_jpeg()


@FUZZ
@given(data=fuzzing.file_bytes(_PNG, _JPEG), suffix=st.sampled_from((".png", ".jpg", ".webp")))
def test_read_image_returns_bgr_or_input_error(data: bytes, suffix: str) -> None:
    from engine.media import MediaError, read_image

    path = _write(data, suffix)
    try:
        image = read_image(path)
    except MediaError as error:
        _assert_one_line(error)
        event("refused")
        return
    event("decoded")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 1 and image.shape[1] >= 1


@pytest.mark.parametrize("size", [(40000, 40000), (100000, 1), (1, 200000), (30000, 30000)])
def test_image_declaring_a_huge_size_is_refused_cleanly(size) -> None:
    # A decompression bomb: a tiny file whose header promises gigapixels.
    from engine.media import MediaError, read_image

    path = _write(fuzzing.png_with_size(*size), ".png")
    try:
        image = read_image(path)
    except MediaError as error:
        _assert_one_line(error)
        assert path.name in str(error)
        return
    assert image.ndim == 3 and image.shape[0] * image.shape[1] <= 4096 * 4096


# ---------------------------------------------------------------------------------- videos
def _seed_mp4() -> bytes:
    path = _WORK / "seed.mp4"
    media.encode_video(path, media.person_frames(4, 64, 48))
    return path.read_bytes()


_MP4 = _seed_mp4()


@settings(FUZZ, max_examples=100)
@given(data=fuzzing.file_bytes(_MP4))
def test_video_source_delivers_frames_or_input_error(data: bytes) -> None:
    from coach.sources import VideoFileSource
    from engine.media import MediaError

    path = _write(data, ".mp4")
    try:
        source = VideoFileSource(path)
    except MediaError as error:
        _assert_one_line(error)
        event("refused")
        return
    try:
        delivered = 0
        while (frame := source.read()) is not None:
            assert frame.bgr.dtype == np.uint8 and frame.bgr.ndim == 3
            assert frame.bgr.shape[2] == 3
            assert frame.index == delivered
            delivered += 1
            assert delivered < 10_000
        assert delivered >= 1
        event(f"decoded {'all 4' if delivered == 4 else 'some'} frames")
    finally:
        source.close()


# ---------------------------------------------------------------------------------- weights
def _seed_checkpoint(kind: str) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(
        {"kind": kind, "model_name": "form_net_test", "model_kwargs": {},
         "state_dict": {"w": torch.zeros(3, 2)}, "temperature": 1.0, "clip_length": 4,
         "labels": ["straight"]},
        buffer,
    )
    return buffer.getvalue()


_FORM_CKPT = _seed_checkpoint("form")


@settings(FUZZ, max_examples=40)
@given(data=fuzzing.file_bytes(_FORM_CKPT))
def test_weights_sorting_raises_model_error_only(data: bytes) -> None:
    from coach.errors import ModelError
    from coach.loading import sort_weights

    path = _write(data, ".pt")
    try:
        sort_weights([path])
    except ModelError as error:
        _assert_one_line(error)


_VALUE = st.one_of(
    st.none(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.lists(st.integers(-3, 64), max_size=4),
    st.dictionaries(st.text(max_size=10), st.integers(-3, 64), max_size=3),
)


@settings(FUZZ, max_examples=40)
@given(
    fields=st.dictionaries(
        st.sampled_from(("kind", "model_name", "model_kwargs", "state_dict", "temperature",
                         "clip_length", "labels", "min_confidence", "leg_torso_ratio_range")),
        _VALUE,
        max_size=9,
    ),
    model_name=st.sampled_from(("form_net_test", "deephar_test", "nope", "")),
)
def test_form_model_loader_raises_form_model_error_only(fields: dict, model_name: str) -> None:
    # Structurally odd checkpoints: right container, wrong contents.
    import torch

    from engine.form import FormModelError, load_form_model

    checkpoint = {"kind": "form", "model_name": model_name, **fields}
    path = _WORK / "fuzzed_form.pt"
    torch.save(checkpoint, path)
    try:
        load_form_model(path, verify_checksum=False)
    except FormModelError as error:
        _assert_one_line(error)


@settings(FUZZ, max_examples=30)
@given(data=fuzzing.file_bytes(_FORM_CKPT, _seed_checkpoint("pose")))
def test_pose_checkpoint_loader_raises_pose_backend_error_only(data: bytes) -> None:
    pytest.importorskip("engine.pose.deephar")
    from engine.pose.base import PoseBackendError
    from engine.pose.deephar import load_pose_checkpoint

    path = _write(data, ".pt")
    try:
        load_pose_checkpoint(path)
    except PoseBackendError as error:
        _assert_one_line(error)

"""Hypothesis strategies for fuzzing decoders and importers: random and mutated files."""

from __future__ import annotations

import struct
import zlib

import cv2
from hypothesis import strategies as st

from . import media


def seed_png() -> bytes:
    """A small valid PNG of a drawn person."""
    return cv2.imencode(".png", media.person_frame(48, 36))[1].tobytes()


def seed_jpeg() -> bytes:
    """A small valid JPEG of a drawn person."""
    return cv2.imencode(".jpg", media.person_frame(48, 36))[1].tobytes()


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but holds one row of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" + b"\x00" * (3 * min(width, 4096)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row)
            + chunk(b"IEND", b""))


_MUTATION = st.tuples(
    st.sampled_from(("flip", "set", "truncate", "insert", "delete", "duplicate")),
    st.floats(0.0, 1.0, allow_nan=False),
    st.binary(min_size=1, max_size=24),
)


def _apply(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, where, payload in mutations:
        if not out:
            out.extend(payload)
            continue
        at = min(len(out) - 1, int(where * len(out)))
        if kind == "flip":
            out[at] ^= payload[0] or 0xFF
        elif kind == "set":
            out[at : at + len(payload)] = payload
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "delete":
            del out[at : at + len(payload)]
        else:
            out[at:at] = out[at : at + 64 * (1 + payload[0] % 4)]
    return bytes(out)


def mutated(seed: bytes, max_mutations: int = 6) -> st.SearchStrategy[bytes]:
    """Copies of ``seed`` with a few random byte-level mutations (flips, cuts, inserts)."""
    return st.lists(_MUTATION, min_size=1, max_size=max_mutations).map(
        lambda mutations: _apply(seed, mutations)
    )


def file_bytes(*seeds: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, headers of real formats followed by junk, or mutated real files."""
    headers = [seed[:32] for seed in seeds]
    return st.one_of(
        st.binary(max_size=2048),
        st.builds(lambda head, tail: head + tail, st.sampled_from(headers),
                  st.binary(max_size=2048)),
        *(mutated(seed) for seed in seeds),
        *(mutated(seed, max_mutations=1) for seed in seeds),
    )


# -------------------------------------------------------------------------- label files
_CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(("straight", "banana", "other_handstand", "not_handstand", "unsure",
                     "unclear", "STRAIGHT ", "", "nan", "-1", "1e309", "0.5", "person.png",
                     "../person.png", "/etc/passwd", "person.png\x00", "a,b", '"quoted"')),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_COLUMNS = st.lists(
    st.sampled_from(("file", "label", "confidence", "notes", "frame", "time_s", "labeler",
                     "created", "extra", "")),
    min_size=0, max_size=6,
)


def _csv(columns: list[str], rows: list[list[str]], separator: str) -> str:
    def quote(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell

    lines = [separator.join(columns)] + [separator.join(quote(c) for c in row) for row in rows]
    return "\n".join(lines) + "\n"


_FILES = st.sampled_from(("person.png", "clip.mp4", "missing.png", "./person.png", "PERSON.PNG",
                          "../person.png", "", " ", "person.png\t", "folder/", "clip.mp4#1"))
_LABELS = st.sampled_from(("straight", "banana", "other_handstand", "not_handstand", "unsure",
                           "unclear", "unknown", "Straight", " banana ", "", "bananas", "0"))
_EXTRAS = ("confidence", "notes", "frame", "time_s", "labeler", "created")


def _row_values(columns: list[str]) -> st.SearchStrategy[list[str]]:
    by_column = {"file": _FILES, "label": _LABELS}
    return st.tuples(*(by_column.get(column, _CELL) for column in columns)).map(list)


@st.composite
def _plausible_csv(draw) -> str:
    columns = ["file", "label"] + draw(st.lists(st.sampled_from(_EXTRAS), unique=True,
                                                max_size=4))
    columns = draw(st.permutations(columns))
    rows = draw(st.lists(_row_values(columns), min_size=1, max_size=6))
    # Some rows lose or gain cells, as in hand-edited files.
    rows = [row[: draw(st.integers(0, len(row)))] if draw(st.booleans()) and index % 3 == 2
            else row for index, row in enumerate(rows)]
    return _csv(list(columns), rows, draw(st.sampled_from((",", ",", ";"))))


def csv_text() -> st.SearchStrategy[str]:
    """CSV label files: mostly plausible ones with odd cells, some arbitrary headers or text."""
    arbitrary = st.builds(
        _csv,
        _COLUMNS,
        st.lists(st.lists(_CELL, max_size=7), max_size=6),
        st.sampled_from((",", ";", "\t")),
    )
    return st.one_of(_plausible_csv(), _plausible_csv(), arbitrary, st.text(max_size=400))


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
              st.floats(allow_nan=False, allow_infinity=False), _CELL),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)
_RECORD = st.dictionaries(
    st.sampled_from(("file", "label", "confidence", "notes", "frame", "time_s", "labeler",
                     "created", "other")),
    st.one_of(_CELL, _JSON),
    max_size=8,
)


_PLAUSIBLE_RECORD = st.fixed_dictionaries(
    {"file": _FILES, "label": _LABELS},
    optional={key: st.one_of(_CELL, _JSON, st.integers(-2, 5)) for key in _EXTRAS},
)


def jsonl_text() -> st.SearchStrategy[str]:
    """JSONL label files: records with odd values, broken lines, or arbitrary text."""
    import json

    line = st.one_of(
        _PLAUSIBLE_RECORD.map(lambda record: json.dumps(record, allow_nan=True)),
        _PLAUSIBLE_RECORD.map(lambda record: json.dumps(record, allow_nan=True)),
        _RECORD.map(lambda record: json.dumps(record, allow_nan=True)),
        _JSON.map(lambda value: json.dumps(value, allow_nan=True)),
        st.text(max_size=60).filter(lambda text: "\n" not in text),
    )
    return st.one_of(st.lists(line, max_size=6).map("\n".join), st.text(max_size=400))

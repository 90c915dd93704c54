"""Label files in and out of the label store: CSV and JSONL import and export.

CSV columns: ``file,label`` required; ``confidence,notes,frame,labeler,created`` optional (the
dev set's ``file,label,confidence,notes`` imports as is; ``frame`` is a video's frame index, its
time comes from the video's fps; other columns such as ``time_s`` are ignored). JSONL: one
object per line with the same keys. An export writes
``file,label,confidence,notes,frame,time_s,labeler,created`` and re-imports as is.

The command line is ``python -m training.store import|export`` (``training.store.main``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from training.store import LabelStore, MediaInfo, StoreError, normalize_label, one_line

EXPORT_COLUMNS = ("file", "label", "confidence", "notes", "frame", "time_s", "labeler", "created")


@dataclass
class ImportReport:
    """What an import did."""

    imported: int = 0
    missing_files: list[str] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)


def import_labels(
    store: LabelStore, path: str | Path, *, labeler: str | None = None
) -> ImportReport:
    """Imports labels from a CSV or JSONL file (chosen by extension) into ``store``.

    Relative file paths are resolved against the folder of the imported file. Files that do
    not exist are reported, not imported. All labels are committed in one transaction (one
    undo action).

    Args:
        store: the label store.
        path: the ``.csv`` or ``.jsonl`` file.
        labeler: labeler name for rows without one.

    Raises:
        StoreError: the file cannot be read or has no ``file``/``label`` columns.
    """
    path = Path(path)
    rows = _read_rows(path)
    report = ImportReport()
    parsed: list[tuple[str, Path, int, tuple]] = []  # (where, media path, frame, label row)
    for line_number, row in rows:
        where = f"{path.name}:{line_number}"
        try:
            file_name = str(row.get("file") or "").strip()
            if not file_name:
                raise StoreError("empty file")
            label = normalize_label(str(row.get("label") or ""))
            media_path = Path(file_name).expanduser()
            if not media_path.is_absolute():
                media_path = path.parent / media_path
            if not media_path.is_file():
                report.missing_files.append(str(media_path))
                continue
            frame_value = row.get("frame")
            frame_index = int(frame_value) if frame_value not in (None, "") else 0
            if frame_index < 0:
                raise StoreError(f"negative frame {frame_index}")
            values = (
                label,
                _optional_float(row.get("confidence")),
                _optional_text(row.get("notes")),
                _optional_text(row.get("labeler")) or labeler,
                _optional_float(row.get("created")),
            )
            parsed.append((where, media_path.resolve(), frame_index, values))
        except (StoreError, ValueError, TypeError) as error:
            report.bad_rows.append(f"{where}: {one_line(error)}")
    failed: dict[str, str] = {}

    def remember(error: StoreError) -> None:
        failed[str(error).split(":")[0]] = one_line(error)

    medias = {
        Path(media.path): media
        for media in store.add_media_many(
            sorted({media_path for _, media_path, _, _ in parsed}), on_error=remember
        )
    }
    wanted: list[tuple[MediaInfo, int]] = []
    kept: list[tuple] = []
    for where, media_path, frame_index, values in parsed:
        media = medias.get(media_path)
        if media is None:
            report.bad_rows.append(f"{where}: {failed.get(str(media_path), 'cannot add')}")
        elif media.kind == "image" and frame_index != 0:
            report.bad_rows.append(f"{where}: image with frame {frame_index}")
        else:
            wanted.append((media, frame_index))
            kept.append(values)
    frames = store.frame_ids_many(wanted)
    store.add_label_rows(
        [
            (frame, label, created, who, conf, notes)
            for frame, (label, conf, notes, who, created) in zip(frames, kept, strict=True)
        ]
    )
    report.imported = len(kept)
    return report


def export_labels(store: LabelStore, path: str | Path) -> int:
    """Writes every frame's current label to a CSV or JSONL file (chosen by extension).

    ``file`` is relative to the exported file's folder where possible, so the export
    re-imports as is. ``frame`` is empty (CSV) or null (JSONL) for images.

    Returns:
        The number of labels written.

    Raises:
        StoreError: the name is not ``.csv``/``.jsonl`` or the file cannot be written.
    """
    path = Path(path)
    base = path.resolve().parent
    rows = [
        {
            "file": _relative_to(Path(record.path), base),
            "label": record.label,
            "confidence": record.confidence,
            "notes": record.notes,
            "frame": record.frame_index if record.kind == "video" else None,
            "time_s": record.time_s if record.kind == "video" else None,
            "labeler": record.labeler,
            "created": record.created,
        }
        for record in store.current_labels()
    ]
    try:
        if path.suffix.lower() == ".jsonl":
            with path.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif path.suffix.lower() == ".csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(EXPORT_COLUMNS))
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        else:
            raise StoreError(f"{path}: export needs a .csv or .jsonl file name")
    except OSError as error:
        raise StoreError(f"cannot write {path}: {one_line(error)}") from None
    return len(rows)


def _relative_to(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _optional_float(value) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def _optional_text(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise StoreError(f"no such file to import: {path}")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"cannot read {path}: {one_line(error)}") from None
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise StoreError(f"{path}:{number}: not JSON ({one_line(error)})") from None
            if not isinstance(row, dict):
                raise StoreError(f"{path}:{number}: expected a JSON object per line")
            rows.append((number, row))
        return rows
    if suffix == ".csv":
        try:
            reader = csv.DictReader(text.splitlines())
            fields = reader.fieldnames or []
            if "file" not in fields or "label" not in fields:
                raise StoreError(f"{path}: a label CSV needs 'file' and 'label' columns")
            return [(number, row) for number, row in enumerate(reader, start=2)]
        except csv.Error as error:
            raise StoreError(f"{path}: bad CSV ({one_line(error)})") from None
    raise StoreError(f"{path}: import needs a .csv or .jsonl file")

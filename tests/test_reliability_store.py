"""A locked, corrupt or misplaced labels database: one error line, no traceback, nothing lost.

The store's command line (``python -m training.store``), the labeling program and retraining
run in this process (``reliability.cli.run_main``) on the corpus's damaged databases; one also
runs in a fresh process (``slow``); the locked case holds a real SQLite write lock from another
connection while they run.
"""

from __future__ import annotations

import importlib
import sqlite3
import threading

import pytest
from reliability.cli import CliResult, assert_clean_failure, run_coach, run_main
from reliability.fixtures import corpus  # noqa: F401 - a fixture

BAD_DATABASES = {
    "corrupt_header": ("labels_corrupt_db", "corrupt"),
    "random_bytes": ("labels_random_db", "corrupt|not a"),
    "damaged_pages": ("labels_damaged_db", "corrupt|malformed"),
    "a_directory": ("labels_directory_db", "directory|folder"),
}
# (test id, module, arguments); {db} is the database, {csv} a valid label file, {img} a photo.
COMMANDS = {
    "store_stats": ("training.store", ["--db", "{db}", "stats"]),
    "store_import": ("training.store", ["--db", "{db}", "import", "{csv}"]),
    "store_export": ("training.store", ["--db", "{db}", "export", "{out}/export.csv"]),
    "label_tool": ("training.label", ["--db", "{db}", "--no-pose", "{img}"]),
    "retrain": ("training.train_form", ["--store", "{db}", "--labeled-only", "--out",
                                        "{out}/w.pt", "--epochs", "1", "--no-report"]),
}
# Each damaged database meets a different entry point.
PAIRS = [
    ("corrupt_header", "store_stats"),
    ("random_bytes", "store_import"),
    ("damaged_pages", "label_tool"),
    ("a_directory", "store_export"),
    ("corrupt_header", "retrain"),
    ("damaged_pages", "store_import"),
]
# Retraining imports the most (torch, the training code) before it meets the database.
FRESH_PROCESS_PAIR = ("corrupt_header", "retrain")


def _args(args: list[str], corpus, db, out) -> list[str]:  # noqa: F811
    values = {"db": str(db), "csv": str(corpus["labels_csv_ok"]), "img": str(corpus["image_ok"]),
              "out": str(out)}
    return [arg.format(**values) for arg in args]


def _run(command_id: str, corpus, db, out) -> CliResult:  # noqa: F811
    module, args = COMMANDS[command_id]
    return run_main(importlib.import_module(module).main, _args(args, corpus, db, out))


@pytest.mark.parametrize(("db_id", "command_id"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_bad_label_database(corpus, tmp_path, db_id, command_id) -> None:  # noqa: F811
    key, problem = BAD_DATABASES[db_id]
    result = _run(command_id, corpus, corpus[key], tmp_path)
    assert_clean_failure(result, corpus[key].name, problem)


@pytest.mark.slow
def test_bad_label_database_in_a_fresh_process(corpus, tmp_path) -> None:  # noqa: F811
    db_id, command_id = FRESH_PROCESS_PAIR
    key, problem = BAD_DATABASES[db_id]
    module, args = COMMANDS[command_id]
    result = run_coach(_args(args, corpus, corpus[key], tmp_path), module=module, timeout=90)
    assert_clean_failure(result, corpus[key].name, problem)


def test_missing_database_is_not_created_by_read_commands(corpus, tmp_path) -> None:  # noqa: F811
    db = tmp_path / "nowhere.db"
    result = _run("store_stats", corpus, db, tmp_path)
    assert_clean_failure(result, "nowhere.db", "no label store")
    assert not db.exists()


def _hold_write_lock(db_path, locked: threading.Event, release: threading.Event) -> None:
    connection = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN EXCLUSIVE")
    locked.set()
    release.wait(60)
    connection.execute("ROLLBACK")
    connection.close()


@pytest.fixture
def locked_store(corpus, tmp_path):  # noqa: F811
    """A label store with one committed label, then write-locked by another connection."""
    from training.label_io import import_labels
    from training.store import LabelStore

    db = tmp_path / "locked_labels.db"
    with LabelStore(db) as store:
        import_labels(store, corpus["labels_csv_ok"])
        assert store.label_count() == 1
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(db, locked, release), daemon=True)
    holder.start()
    assert locked.wait(10)
    yield db
    release.set()
    holder.join(10)


def _write_to(db, corpus, timeout_s: float) -> None:  # noqa: F811
    from training.label_io import import_labels
    from training.store import LabelStore

    # Opening may succeed (WAL readers are not blocked); the first write meets the lock.
    with LabelStore(db, timeout_s=timeout_s) as store:
        import_labels(store, corpus["labels_csv_ok"])


def test_locked_database_in_process_fails_fast_with_one_line(locked_store, corpus) -> None:  # noqa: F811
    from training.store import StoreError

    with pytest.raises(StoreError, match="locked") as caught:
        _write_to(locked_store, corpus, 0.2)
    assert "\n" not in str(caught.value)


def test_locked_database_on_the_command_line(locked_store, corpus, tmp_path) -> None:  # noqa: F811
    result = _run("store_import", corpus, locked_store, tmp_path)
    assert_clean_failure(result, "locked_labels.db", "locked")


def test_labels_survive_a_lock_and_a_failed_import(locked_store, corpus) -> None:  # noqa: F811
    from training.store import StoreError

    with pytest.raises(StoreError):
        _write_to(locked_store, corpus, 0.1)
    # Once the other program lets go, everything committed before is still there.
    with sqlite3.connect(locked_store, timeout=0.1) as db:
        assert db.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 1

"""A tenant's model registry: records in ``tenant.sqlite3``, artifacts as files beside it.

Artifacts live in ``models/<name>/<version>/`` under the tenant's directory. Registering writes
the files (each fsynced) to a fresh folder in ``models/.staging/``, then, inside one write
transaction, takes the next version number, renames the folder into place (atomic) and inserts
the record. So the record only ever commits once its files are whole, and two processes
registering at once are serialized by SQLite's write lock into distinct versions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from relevo.adapters.sqlite.database import Database, to_datetime
from relevo.domain.derived import micros
from relevo.domain.model_records import (
    ModelRecord,
    NewModel,
    Promotion,
    check_model,
    new_record,
    promotion_stack,
    verify_artifact,
)

STALE_STAGING = timedelta(days=1)
"""A staging folder this old belongs to a registration that died while writing its files."""

_encode = msgspec.json.encode
_record_decoder = msgspec.json.Decoder(ModelRecord)


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (new files, a rename into it) durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    for name, content in files.items():
        with open(folder / name, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    _fsync_dir(folder)


def _history(db: sqlite3.Connection, name: str) -> list[Promotion]:
    rows = db.execute(
        "SELECT version, at_us, action FROM model_promotions WHERE name = ? ORDER BY seq", (name,)
    ).fetchall()
    return [Promotion(version, to_datetime(at), action) for version, at, action in rows]


class SqliteModelRegistry:
    def __init__(self, database: Database, root: Path) -> None:
        self._db = database
        self._root = root
        self._staging = root / ".staging"

    def register(self, model: NewModel, files: Mapping[str, bytes], at: datetime) -> ModelRecord:
        # The service reports these to the user; here they guard the paths built from names.
        problems = check_model(model, files)
        if problems:
            raise ValueError("; ".join(f"{v.pointer}: {v.detail}" for v in problems))
        self._sweep_staging()
        self._staging.mkdir(parents=True, exist_ok=True)
        placed = Path(tempfile.mkdtemp(dir=self._staging))
        try:
            _write_files(placed, files)
            with self._db.transaction() as db:
                (latest,) = db.execute(
                    "SELECT max(version) FROM models WHERE name = ?", (model.name,)
                ).fetchone()
                record = new_record(model, (latest or 0) + 1, files, at)
                target = self._root / model.name / str(record.version)
                if target.exists():  # a registration crashed after its rename, before its commit
                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                placed = placed.rename(target)
                _fsync_dir(target.parent)
                db.execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?)",
                    (record.name, record.version, micros(record.created_at), _encode(record)),
                )
        except BaseException:
            shutil.rmtree(placed, ignore_errors=True)
            raise
        return record

    def _sweep_staging(self) -> None:
        if not self._staging.is_dir():
            return
        cutoff = time.time() - STALE_STAGING.total_seconds()
        for leftover in self._staging.iterdir():
            with contextlib.suppress(FileNotFoundError):  # another process swept it first
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)

    def versions(self, name: str) -> list[ModelRecord]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT body FROM models WHERE name = ? ORDER BY version DESC", (name,)
            ).fetchall()
        return [_record_decoder.decode(body) for (body,) in rows]

    def names(self) -> list[str]:
        with self._db.reading() as db:
            return [name for (name,) in db.execute("SELECT DISTINCT name FROM models ORDER BY 1")]

    def get(self, name: str, version: int) -> ModelRecord | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT body FROM models WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        return None if row is None else _record_decoder.decode(row[0])

    def files(self, name: str, version: int) -> dict[str, bytes]:
        record = self.get(name, version)
        if record is None:
            raise LookupError(f"model '{name}' has no version {version}")
        folder = self._root / name / str(version)
        found: dict[str, bytes] = {}
        for file_name in record.files:
            with contextlib.suppress(FileNotFoundError):  # verify_artifact names what is missing
                found[file_name] = (folder / file_name).read_bytes()
        verify_artifact(record, found)
        return found

    def promote(self, name: str, version: int, at: datetime) -> bool:
        with self._db.transaction() as db:
            if (
                db.execute(
                    "SELECT 1 FROM models WHERE name = ? AND version = ?", (name, version)
                ).fetchone()
                is None
            ):
                raise LookupError(f"model '{name}' has no version {version}")
            stack = promotion_stack(_history(db, name))
            if stack and stack[-1] == version:
                return False
            db.execute(
                "INSERT INTO model_promotions (name, version, action, at_us)"
                " VALUES (?, ?, 'promote', ?)",
                (name, version, micros(at)),
            )
            return True

    def rollback(self, name: str, at: datetime) -> int | None:
        with self._db.transaction() as db:
            stack = promotion_stack(_history(db, name))
            if len(stack) < 2:
                return None
            db.execute(
                "INSERT INTO model_promotions (name, version, action, at_us)"
                " VALUES (?, ?, 'rollback', ?)",
                (name, stack[-2], micros(at)),
            )
            return stack[-2]

    def promoted(self, name: str) -> ModelRecord | None:
        # The latest change names the version on top of the promotion stack (see rollback).
        with self._db.reading() as db:
            row = db.execute(
                "SELECT m.body FROM model_promotions p"
                " JOIN models m ON m.name = p.name AND m.version = p.version"
                " WHERE p.name = ? ORDER BY p.seq DESC LIMIT 1",
                (name,),
            ).fetchone()
        return None if row is None else _record_decoder.decode(row[0])

    def promotions(self, name: str) -> list[Promotion]:
        with self._db.reading() as db:
            return _history(db, name)

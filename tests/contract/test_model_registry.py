"""Contract: ModelRegistry. Versions, byte-exact artifacts, checksums, promotion and rollback
that survive a restart, tenant isolation; then what the SQLite adapter does on disk when a
registration dies part-way."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relevo.adapters.sqlite import registry as sqlite_registry
from relevo.adapters.sqlite.storage import SqliteStorage
from relevo.domain.model_records import CorruptArtifact, NewModel, Promotion, artifact_checksum
from relevo.ports import Storage

T = datetime(2026, 3, 1, tzinfo=UTC)
FILES = {"params.json": b'{"k": 50}', "arrays.npz": bytes(range(256)) * 64, "empty.bin": b""}


def model(name: str = "itemknn", **fields) -> NewModel:
    """A trainer's submission; override any field."""
    defaults = {
        "kind": name,
        "data_from": datetime(2026, 1, 1, tzinfo=UTC),
        "data_to": datetime(2026, 2, 28, tzinfo=UTC),
        "event_count": 1_234,
        "params": {"k": 50, "shrink": 10.0},
        "metrics": {"ndcg@10": 0.25},
        "code_version": "0.1.0",
        "lineage": {"interactions": {"eu": 1_000, "us": 234}},
        "train_seconds": 1.5,
    }
    return NewModel(name=name, **(defaults | fields))


def tamper(storage: Storage, tenant_id: str, name: str, version: int, file_name: str, content):
    """Damage one stored artifact file as a disk fault or an intruder would (None: delete it).
    Each adapter says here where it keeps artifact bytes."""
    if isinstance(storage, SqliteStorage):
        path = storage.data_dir / "tenants" / tenant_id / "models" / name / str(version) / file_name
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        return
    raise NotImplementedError(f"say where {type(storage).__name__} keeps artifact files")


def test_versions_count_up_per_name(storage, tenant) -> None:
    models = storage.models("acme")
    assert models.names() == [] and models.versions("itemknn") == []
    first = models.register(model(), FILES, T)
    second = models.register(model(), FILES, T + timedelta(hours=1))
    other = models.register(model("als"), {"factors.npy": b"\x01"}, T)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert [r.version for r in models.versions("itemknn")] == [2, 1]
    assert models.names() == ["als", "itemknn"]
    assert models.get("itemknn", 2) == second
    assert models.get("itemknn", 3) is None
    assert models.get("nothing", 1) is None


def test_the_record_keeps_the_lineage_and_the_files_round_trip_byte_exact(storage, tenant) -> None:
    models = storage.models("acme")
    record = models.register(model(lineage={"base": {"itemknn": 2, "als": 1}}), FILES, T)
    assert record == models.get("itemknn", 1)
    assert (record.kind, record.created_at, record.event_count) == ("itemknn", T, 1_234)
    assert (record.data_from, record.data_to) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 28, tzinfo=UTC),
    )
    assert record.params == {"k": 50, "shrink": 10.0}
    assert record.metrics == {"ndcg@10": 0.25}
    assert record.lineage == {"base": {"itemknn": 2, "als": 1}}
    assert (record.code_version, record.train_seconds) == ("0.1.0", 1.5)
    assert record.files == ["arrays.npz", "empty.bin", "params.json"]
    assert record.checksum == artifact_checksum(FILES)
    assert models.files("itemknn", 1) == FILES


def test_large_artifacts_round_trip(storage, tenant) -> None:
    big = {"arrays.npz": os.urandom(8 * 1024 * 1024)}
    storage.models("acme").register(model(), big, T)
    assert storage.models("acme").files("itemknn", 1) == big


def test_a_changed_or_missing_artifact_file_is_refused(storage, tenant) -> None:
    models = storage.models("acme")
    models.register(model(), FILES, T)
    models.register(model(), FILES, T)
    tamper(storage, "acme", "itemknn", 1, "params.json", b'{"k": 51}')
    with pytest.raises(CorruptArtifact, match=r"model 'itemknn' version 1: .* do not match"):
        models.files("itemknn", 1)
    tamper(storage, "acme", "itemknn", 2, "arrays.npz", None)
    with pytest.raises(CorruptArtifact, match=r"version 2: artifact file\(s\) missing: arrays.npz"):
        models.files("itemknn", 2)
    with pytest.raises(LookupError):
        models.files("itemknn", 3)


def test_promotion_and_rollback_take_effect_at_once_and_survive_a_restart(
    open_storage, storage, tenant
) -> None:
    models = storage.models("acme")
    for _ in range(3):
        models.register(model(), FILES, T)
    assert models.promoted("itemknn") is None
    assert models.rollback("itemknn", T) is None
    assert models.promote("itemknn", 1, T) is True
    assert models.promote("itemknn", 2, T + timedelta(minutes=1)) is True
    assert models.promote("itemknn", 3, T + timedelta(minutes=2)) is True
    assert models.promote("itemknn", 3, T + timedelta(minutes=3)) is False  # already serving
    assert models.rollback("itemknn", T + timedelta(minutes=4)) == 2
    assert models.promoted("itemknn").version == 2
    storage.close()

    reopened = open_storage().models("acme")
    assert reopened.promoted("itemknn").version == 2
    assert reopened.promotions("itemknn") == [
        Promotion(1, T),
        Promotion(2, T + timedelta(minutes=1)),
        Promotion(3, T + timedelta(minutes=2)),
        Promotion(2, T + timedelta(minutes=4), "rollback"),
    ]
    assert reopened.rollback("itemknn", T + timedelta(minutes=5)) == 1
    assert reopened.promoted("itemknn").version == 1
    assert reopened.rollback("itemknn", T + timedelta(minutes=6)) is None
    assert reopened.promoted("itemknn").version == 1
    # A new promotion stacks on what serves now: rolling it back returns to version 1.
    assert reopened.promote("itemknn", 3, T + timedelta(minutes=7)) is True
    assert reopened.rollback("itemknn", T + timedelta(minutes=8)) == 1


def test_another_process_sees_a_promotion_at_once(open_storage, storage, tenant) -> None:
    models = storage.models("acme")
    models.register(model(), FILES, T)
    models.register(model(), FILES, T)
    models.promote("itemknn", 1, T)
    other = open_storage().models("acme")
    assert other.promoted("itemknn").version == 1
    models.promote("itemknn", 2, T)
    assert other.promoted("itemknn").version == 2
    other.rollback("itemknn", T)
    assert models.promoted("itemknn").version == 1


def test_only_registered_versions_can_be_promoted(storage, tenant) -> None:
    models = storage.models("acme")
    models.register(model(), FILES, T)
    with pytest.raises(LookupError):
        models.promote("itemknn", 2, T)
    with pytest.raises(LookupError):
        models.promote("als", 1, T)
    assert models.promotions("itemknn") == []


def test_concurrent_registrations_get_distinct_versions(open_storage, storage, tenant) -> None:
    stores = [storage, open_storage()]  # two processes' worth of connections
    done: list[int] = []

    def register(index: int) -> None:
        files = {"params.json": str(index).encode()}
        record = stores[index % 2].models("acme").register(model(), files, T)
        done.append(record.version)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done) == list(range(1, 9))
    models = storage.models("acme")
    stored = {models.files("itemknn", version)["params.json"] for version in range(1, 9)}
    assert stored == {str(index).encode() for index in range(8)}


def test_one_tenant_never_sees_another_tenants_models(storage, tenant) -> None:
    acme = storage.models("acme")
    acme.register(model(), FILES, T)
    acme.promote("itemknn", 1, T)
    beta = storage.models("beta")
    assert beta.names() == []
    assert beta.versions("itemknn") == []
    assert beta.get("itemknn", 1) is None
    assert beta.promoted("itemknn") is None
    with pytest.raises(LookupError):
        beta.files("itemknn", 1)
    assert beta.register(model(), {"params.json": b"beta"}, T).version == 1
    assert acme.files("itemknn", 1) == FILES


# SQLite specifics: what a registration that dies part-way leaves on disk.


@pytest.fixture
def sqlite_storage(tmp_path: Path):
    opened = SqliteStorage(tmp_path / "data", "normal")
    yield opened
    opened.close()


def test_a_registration_that_dies_before_its_commit_leaves_nothing(
    sqlite_storage, monkeypatch
) -> None:
    models = sqlite_storage.models("acme")
    root = sqlite_storage.data_dir / "tenants" / "acme" / "models"
    real_fsync = sqlite_registry._fsync_dir

    def fail_after_the_rename(path: Path) -> None:
        if path == root / "itemknn":
            raise OSError("disk gone")
        real_fsync(path)

    monkeypatch.setattr(sqlite_registry, "_fsync_dir", fail_after_the_rename)
    with pytest.raises(OSError, match="disk gone"):
        models.register(model(), FILES, T)
    assert models.versions("itemknn") == []
    assert not (root / "itemknn" / "1").exists()
    assert list((root / ".staging").iterdir()) == []
    monkeypatch.undo()
    assert models.register(model(), FILES, T).version == 1
    assert models.files("itemknn", 1) == FILES


def test_files_left_by_a_crash_after_the_rename_are_replaced(sqlite_storage) -> None:
    root = sqlite_storage.data_dir / "tenants" / "acme" / "models"
    (root / "itemknn" / "1").mkdir(parents=True)
    (root / "itemknn" / "1" / "params.json").write_bytes(b"from a crashed registration")
    record = sqlite_storage.models("acme").register(model(), FILES, T)
    assert record.version == 1
    assert sorted(p.name for p in (root / "itemknn" / "1").iterdir()) == sorted(FILES)
    assert sqlite_storage.models("acme").files("itemknn", 1) == FILES


def test_stale_staging_folders_are_swept(sqlite_storage) -> None:
    staging = sqlite_storage.data_dir / "tenants" / "acme" / "models" / ".staging"
    (staging / "old").mkdir(parents=True)
    (staging / "fresh").mkdir()
    day_and_more = time.time() - sqlite_registry.STALE_STAGING.total_seconds() - 60
    os.utime(staging / "old", (day_and_more, day_and_more))
    sqlite_storage.models("acme").register(model(), FILES, T)
    assert sorted(p.name for p in staging.iterdir()) == ["fresh"]

"""The registry service on real storage: what it refuses (naming the field and the rule), which
version it serves and loads, and how rollback walks back through promotions."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from relevo.decoding import InvalidInput
from relevo.domain.model_records import CorruptArtifact, NewModel

FILES = {"params.json": b'{"k": 50}', "arrays.npz": b"\x00\x01\x02"}


def model(name: str = "itemknn", **fields) -> NewModel:
    return NewModel(name=name, kind=fields.pop("kind", name), **fields)


def refused(call) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        call()
    return [(v.pointer, v.rule) for v in caught.value.violations]


def test_bad_submissions_are_refused_with_every_field_named(relevo, tenant) -> None:
    registry = relevo.registry
    assert refused(lambda: registry.register(tenant, model("Item KNN"), FILES)) == [
        ("/name", "pattern")
    ]
    assert refused(lambda: registry.register(tenant, model(), {})) == [("/files", "min_items")]
    naive = model(data_from=datetime(2026, 1, 1), event_count=-1)
    assert refused(lambda: registry.register(tenant, naive, FILES)) == [
        ("/data_from", "type"),
        ("/event_count", "minimum"),
    ]
    backwards = model(
        data_from=datetime(2026, 2, 1, tzinfo=UTC), data_to=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert refused(lambda: registry.register(tenant, backwards, FILES)) == [("/data_to", "order")]
    assert refused(lambda: registry.register(tenant, model(params={"a": object()}), FILES)) == [
        ("", "json")
    ]
    assert relevo.registry.list(tenant) == []


def test_numpy_numbers_from_a_trainer_are_stored_as_plain_numbers(relevo, tenant) -> None:
    submitted = model(
        event_count=np.int64(7), params={"k": np.int32(50)}, metrics={"ndcg@10": np.float32(0.5)}
    )
    record = relevo.registry.register(tenant, submitted, FILES)
    assert (record.event_count, record.params, record.metrics) == (7, {"k": 50}, {"ndcg@10": 0.5})
    assert type(record.params["k"]) is int


def test_list_and_show_name_the_serving_version(relevo, tenant) -> None:
    registry = relevo.registry
    registry.register(tenant, model(), FILES, promote=True)
    registry.register(tenant, model(), FILES)
    registry.register(tenant, model("als"), FILES)
    listed = registry.list(tenant)
    assert [(m.name, m.promoted, [r.version for r in m.versions]) for m in listed] == [
        ("als", None, [1]),
        ("itemknn", 1, [2, 1]),
    ]
    assert registry.show(tenant, "itemknn").version == 1  # the promoted one
    assert registry.show(tenant, "als").version == 1  # none promoted: the newest
    assert registry.show(tenant, "itemknn", 2).version == 2
    assert refused(lambda: registry.show(tenant, "ease")) == [("/name", "exists")]
    assert refused(lambda: registry.show(tenant, "itemknn", 3)) == [("/version", "exists")]


def test_rollback_walks_back_one_promotion_at_a_time(relevo, tenant) -> None:
    registry = relevo.registry
    assert refused(lambda: registry.rollback(tenant, "itemknn")) == [("/name", "exists")]
    for _ in range(3):
        registry.register(tenant, model(), FILES)
    assert refused(lambda: registry.rollback(tenant, "itemknn")) == [("/name", "rollback")]
    assert registry.promote(tenant, "itemknn", 1) is True
    assert registry.promote(tenant, "itemknn", 3) is True
    assert registry.promote(tenant, "itemknn", 3) is False
    assert refused(lambda: registry.promote(tenant, "itemknn", 4)) == [("/version", "exists")]
    assert refused(lambda: registry.promote(tenant, "als", 1)) == [("/name", "exists")]
    assert registry.rollback(tenant, "itemknn").version == 1
    assert registry.promoted(tenant, "itemknn").version == 1
    with pytest.raises(InvalidInput, match="no version of 'itemknn' was promoted before version 1"):
        registry.rollback(tenant, "itemknn")
    assert [(p.version, p.action) for p in registry.promotions(tenant, "itemknn")] == [
        (1, "promote"),
        (3, "promote"),
        (1, "rollback"),
    ]


def test_load_gives_the_promoted_version_and_its_verified_files(relevo, tenant) -> None:
    registry = relevo.registry
    assert registry.promoted(tenant, "itemknn") is None  # serving asks before any training
    assert refused(lambda: registry.load(tenant, "itemknn")) == [("/name", "exists")]
    registry.register(tenant, model(), FILES)
    assert refused(lambda: registry.load(tenant, "itemknn")) == [("/version", "promoted")]
    registry.register(tenant, model(), {"params.json": b"{}"}, promote=True)
    record, files = registry.load(tenant, "itemknn")
    assert (record.version, files) == (2, {"params.json": b"{}"})
    assert registry.load(tenant, "itemknn", 1) == (registry.show(tenant, "itemknn", 1), FILES)


def test_a_damaged_artifact_is_never_promoted_nor_loaded(relevo, tenant) -> None:
    registry = relevo.registry
    registry.register(tenant, model(), FILES)
    artifact = relevo.settings.data_dir / "tenants" / "acme" / "models" / "itemknn" / "1"
    (artifact / "arrays.npz").write_bytes(b"\x00\x01\x03")
    assert refused(lambda: registry.promote(tenant, "itemknn", 1)) == [("/version", "artifact")]
    assert registry.promoted(tenant, "itemknn") is None
    with pytest.raises(CorruptArtifact):
        registry.load(tenant, "itemknn", 1)

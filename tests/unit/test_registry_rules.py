"""The model registry's pure rules: checksums, what a submission must satisfy, and how
promotions and rollbacks stack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relevo.domain.model_records import (
    CorruptArtifact,
    NewModel,
    Promotion,
    artifact_checksum,
    check_model,
    new_record,
    promotion_stack,
    verify_artifact,
)

T = datetime(2026, 1, 1, tzinfo=UTC)
names = st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True)
artifacts = st.dictionaries(names, st.binary(max_size=64), min_size=1, max_size=5)


@given(artifacts)
def test_the_checksum_does_not_depend_on_the_order_files_are_given(files) -> None:
    assert artifact_checksum(dict(reversed(files.items()))) == artifact_checksum(files)


@given(artifacts, st.data())
def test_any_change_to_a_file_changes_the_checksum(files, data) -> None:
    name = data.draw(st.sampled_from(sorted(files)))
    changed = data.draw(st.binary(max_size=64).filter(lambda b: b != files[name]))
    assert artifact_checksum(files | {name: changed}) != artifact_checksum(files)


@given(artifacts, st.data())
def test_renaming_a_file_changes_the_checksum(files, data) -> None:
    name = data.draw(st.sampled_from(sorted(files)))
    other = data.draw(names.filter(lambda n: n not in files))
    renamed = {other if n == name else n: content for n, content in files.items()}
    assert artifact_checksum(renamed) != artifact_checksum(files)


def test_bytes_moved_between_files_change_the_checksum() -> None:
    assert artifact_checksum({"a": b"12", "b": b"3"}) != artifact_checksum({"a": b"1", "b": b"23"})


def rules(model: NewModel, files: dict) -> list[tuple[str, str]]:
    return [(v.pointer, v.rule) for v in check_model(model, files)]


def test_a_submission_needs_a_slug_name_files_with_portable_names_and_an_ordered_window() -> None:
    good = NewModel(name="hybrid", kind="hybrid", data_from=T, data_to=T)
    assert rules(good, {"ranker.txt": b"", "arrays.npz": b"x"}) == []
    assert rules(NewModel(name="Hybrid", kind="hybrid"), {"a": b""}) == [("/name", "pattern")]
    assert rules(good, {}) == [("/files", "min_items")]
    assert rules(good, {".hidden": b"", "a/b": b"", "ok": "text"}) == [
        ("/files/.hidden", "pattern"),
        ("/files/a/b", "pattern"),
        ("/files/ok", "type"),
    ]
    backwards = NewModel(name="als", kind="als", data_from=T.replace(year=2027), data_to=T)
    assert rules(backwards, {"a": b""}) == [("/data_to", "order")]


def test_a_record_is_in_utc_with_sorted_files_and_their_checksum() -> None:
    files = {"z.bin": b"1", "a.json": b"{}"}
    local = datetime.fromisoformat("2026-01-01T02:00:00+02:00")
    record = new_record(NewModel(name="als", kind="als", data_from=local), 4, files, local)
    assert (record.version, record.files) == (4, ["a.json", "z.bin"])
    assert record.created_at.tzinfo is UTC and record.created_at == T
    assert record.data_from.tzinfo is UTC
    assert record.checksum == artifact_checksum(files)


def test_an_artifact_must_be_exactly_what_was_registered() -> None:
    files = {"params.json": b"{}", "arrays.npz": b"\x00"}
    record = new_record(NewModel(name="als", kind="als"), 2, files, T)
    verify_artifact(record, files)
    with pytest.raises(CorruptArtifact, match="model 'als' version 2: artifact file"):
        verify_artifact(record, {"params.json": b"{}"})
    with pytest.raises(CorruptArtifact, match="do not match the checksum"):
        verify_artifact(record, {"params.json": b"{}", "arrays.npz": b"\x01"})


def promote(version: int) -> Promotion:
    return Promotion(version, T)


def rollback(to: int) -> Promotion:
    return Promotion(to, T, "rollback")


def test_promotions_stack_and_rollbacks_pop() -> None:
    assert promotion_stack([]) == []
    history = [promote(1), promote(2), promote(3)]
    assert promotion_stack(history) == [1, 2, 3]
    history += [rollback(2)]
    assert promotion_stack(history) == [1, 2]
    history += [rollback(1)]
    assert promotion_stack(history) == [1]


def test_promoting_the_serving_version_again_changes_nothing() -> None:
    assert promotion_stack([promote(1), promote(1), promote(2), promote(2)]) == [1, 2]


def test_a_promotion_after_a_rollback_stacks_on_what_serves() -> None:
    history = [promote(1), promote(2), rollback(1), promote(3)]
    assert promotion_stack(history) == [1, 3]
    # An old version promoted again is a new step: rolling it back returns to what served.
    assert promotion_stack([promote(1), promote(2), promote(1), rollback(2)]) == [1, 2]

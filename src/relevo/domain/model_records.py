"""Trained models as the registry keeps them: versioned artifacts with their lineage.

A model is a set of files (the artifact) plus what it takes to trust and reproduce it: the data
window and number of events it learned from, its parameters, its offline metrics, the code that
trained it and what it builds on. Versions are numbered 1, 2, 3... per tenant and name; one
version per name is promoted (serves). Promotions form a stack, so a rollback always returns to
the version that served before, and a second rollback goes one further back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from relevo.domain.violations import Violation

MODEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Artifact file names are flat and portable, so every store (a directory, an object store's
keys) can hold them as they are, and none can climb out of its artifact."""

ModelName = Annotated[str, msgspec.Meta(pattern=MODEL_NAME.pattern)]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]


class NewModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a trainer submits; the registry adds the version, checksum, time and file names."""

    name: ModelName
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    data_from: Moment | None = None
    data_to: Moment | None = None
    event_count: Annotated[int, msgspec.Meta(ge=0)] = 0
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    code_version: str = ""
    lineage: dict[str, Any] = {}
    train_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class ModelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One registered version of a model: its metadata, and the checksum its files must match."""

    name: str
    version: int
    kind: str
    created_at: datetime
    data_from: datetime | None
    data_to: datetime | None
    event_count: int
    params: dict[str, Any]
    metrics: dict[str, float]
    code_version: str
    checksum: str
    lineage: dict[str, Any]
    files: list[str]
    train_seconds: float


class Promotion(msgspec.Struct, frozen=True):
    """One change of the promoted version: ``version`` is the one serving from ``at`` on."""

    version: int
    at: datetime
    action: Literal["promote", "rollback"] = "promote"


class CorruptArtifact(Exception):
    """A stored artifact no longer matches what was registered: a file is missing or changed.

    Never served: a model whose bytes are not the ones that were evaluated is not that model.
    """


class CannotTrain(Exception):
    """The data gives a model nothing it can learn from; the message says why, for a person.

    An outcome of the data, not a bug: a training run reports it for that model alone and
    registers the others.
    """


class Failed(msgspec.Struct, frozen=True):
    """A model a training run could not fit, and why (one line, no traceback): reported beside
    the versions registered, so one model's failure never loses the others."""

    name: str
    reason: str


def artifact_checksum(files: Mapping[str, bytes]) -> str:
    """SHA-256 over the files in name order, each name and content prefixed by its length, so
    that moving bytes from one file to another, or renaming a file, changes the checksum.

    >>> artifact_checksum({"b.txt": b"2", "a.txt": b"1"}) == artifact_checksum(
    ...     {"a.txt": b"1", "b.txt": b"2"}
    ... )
    True
    >>> artifact_checksum({"ab": b"c"}) == artifact_checksum({"a": b"bc"})
    False
    >>> artifact_checksum({})
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        for part in (name.encode(), files[name]):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def check_model(model: NewModel, files: Mapping[str, bytes]) -> list[Violation]:
    """Rules beyond field types: a real artifact, portable file names, an ordered data window.

    >>> files = {"params.json": b"{}"}
    >>> check_model(NewModel(name="als", kind="als"), files)
    []
    >>> [(v.pointer, v.rule) for v in check_model(NewModel(name="als", kind="als"), {})]
    [('/files', 'min_items')]
    >>> [(v.pointer, v.rule) for v in check_model(NewModel(name="als", kind="als"), {"../x": b""})]
    [('/files/../x', 'pattern')]
    """
    found: list[Violation] = []
    if not MODEL_NAME.match(model.name):
        found.append(
            Violation(
                "/name", "pattern", "must be 1-64 of a-z, 0-9, '_' and '-', starting with a letter"
            )
        )
    if not files:
        found.append(Violation("/files", "min_items", "an artifact needs at least one file"))
    for name, content in files.items():
        if not FILE_NAME.match(name):
            found.append(
                Violation(
                    f"/files/{name}",
                    "pattern",
                    "must be 1-128 of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
                )
            )
        elif not isinstance(content, bytes):
            found.append(
                Violation(f"/files/{name}", "type", f"must be bytes, got {type(content).__name__}")
            )
    if (
        model.data_from is not None
        and model.data_to is not None
        and model.data_from > model.data_to
    ):
        found.append(Violation("/data_to", "order", "must not be before data_from"))
    return found


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def new_record(
    model: NewModel, version: int, files: Mapping[str, bytes], at: datetime
) -> ModelRecord:
    """The record a registry stores for ``model`` as ``version``, with times in UTC."""
    return ModelRecord(
        name=model.name,
        version=version,
        kind=model.kind,
        created_at=at.astimezone(UTC),
        data_from=_utc(model.data_from),
        data_to=_utc(model.data_to),
        event_count=model.event_count,
        params=model.params,
        metrics=model.metrics,
        code_version=model.code_version,
        checksum=artifact_checksum(files),
        lineage=model.lineage,
        files=sorted(files),
        train_seconds=model.train_seconds,
    )


def verify_artifact(record: ModelRecord, files: Mapping[str, bytes]) -> None:
    """Raise ``CorruptArtifact`` unless ``files`` are exactly the ones ``record`` was made of.

    >>> files = {"params.json": b"{}"}
    >>> record = new_record(NewModel(name="als", kind="als"), 1, files, datetime(2026, 1, 1))
    >>> verify_artifact(record, files)
    >>> verify_artifact(record, {"params.json": b"{ }"})
    Traceback (most recent call last):
    ...
    relevo.domain.model_records.CorruptArtifact: model 'als' version 1: its files do not match the checksum recorded at registration (the artifact was changed or damaged)
    """
    where = f"model '{record.name}' version {record.version}"
    missing = sorted(set(record.files) - set(files))
    if missing:
        raise CorruptArtifact(f"{where}: artifact file(s) missing: {', '.join(missing)}")
    if sorted(files) != record.files or artifact_checksum(files) != record.checksum:
        raise CorruptArtifact(
            f"{where}: its files do not match the checksum recorded at registration"
            " (the artifact was changed or damaged)"
        )


def promotion_stack(history: Iterable[Promotion]) -> list[int]:
    """The versions a rollback can return to, oldest first; the last one is promoted.

    A promotion pushes (promoting the version already serving changes nothing); a rollback pops.

    >>> T = datetime(2026, 1, 1)
    >>> promotion_stack([Promotion(1, T), Promotion(2, T), Promotion(2, T), Promotion(3, T)])
    [1, 2, 3]
    >>> promotion_stack([Promotion(1, T), Promotion(2, T), Promotion(1, T, "rollback")])
    [1]
    """
    stack: list[int] = []
    for change in history:
        if change.action == "rollback":
            stack.pop()
        elif not stack or stack[-1] != change.version:
            stack.append(change.version)
    return stack

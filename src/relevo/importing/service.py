"""Importing a file of events or items: read, map, and send through the services in batches.

Events go through ``IngestService.ingest`` in backfill mode (history may be of any age, the
future-skew rule still holds), so an import validates, dedupes, quarantines and derives state
exactly as live traffic does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from relevo.bootstrap import Relevo
from relevo.decoding import InvalidInput
from relevo.domain.events import IngestMode
from relevo.domain.tenants import Tenant
from relevo.domain.violations import Violation
from relevo.importing.mapping import (
    EVENT_FIELDS,
    EVENT_OBJECTS,
    ITEM_FIELDS,
    ITEM_OBJECTS,
    RowMapper,
    identity_mapping,
    parse_mapping,
    row_fingerprint,
)
from relevo.importing.presets import PRESETS, Preset
from relevo.importing.readers import Format, detect_format, read_batches

Progress = Callable[[int, int, int], None]  # rows done, bytes done, bytes in all


class ImportReport(msgspec.Struct):
    file: str
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    seconds: float = 0.0
    per_second: float = 0.0


def _preset(name: str | None) -> Preset | None:
    if name is None:
        return None
    if name not in PRESETS:
        raise InvalidInput([Violation("/preset", "enum", f"must be one of {sorted(PRESETS)}")])
    return PRESETS[name]


def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            [Violation("/timezone", "zone", f"'{name}' is not an IANA time zone")]
        ) from None


def import_events(
    relevo: Relevo,
    tenant: Tenant,
    path: Path,
    mapping: str | None = None,
    event_type: str | None = None,
    preset: str | None = None,
    file_format: Format | None = None,
    timezone: str | None = None,
    batch_size: int = 20_000,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a file of events. Without a mapping, each JSON Lines record is an event envelope."""
    chosen = _preset(preset)
    mapping = mapping or (chosen.events if chosen else None)
    event_type = event_type or (chosen.event_type if chosen else None)
    zone = _zone(timezone or (chosen.timezone if chosen else "UTC"))
    pairs = parse_mapping(mapping, EVENT_FIELDS, EVENT_OBJECTS) if mapping else None
    values, defaults = {}, {}
    if (
        chosen
        and chosen.region_values
        and set(chosen.region_values.values()) | {chosen.default_region} <= set(tenant.regions)
    ):
        values["context.region"] = chosen.region_values
        if chosen.default_region:
            defaults["context.region"] = chosen.default_region
    elif pairs:
        pairs = tuple(p for p in pairs if not (chosen and p[0] == "context.region"))
    file_format = file_format or detect_format(path)
    report = ImportReport(path.name)
    started = time.perf_counter()
    mapper: RowMapper | None = None
    source = f"import:{path.name}"
    for batch in read_batches(path, file_format):
        if pairs is None and batch.columns is not None:  # a table with no mapping given
            pairs = _identity(batch.columns, EVENT_FIELDS, EVENT_OBJECTS, path)
        if pairs is None:
            records = [_with_type(row, event_type) for row in batch.rows]
        else:
            if mapper is None:
                constants = {"type": event_type} if event_type else {}
                mapper = RowMapper(pairs, batch.columns, constants, values, defaults, zone)
            records = [_event_record(mapper(row), row, pairs) for row in batch.rows]
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            for result in relevo.ingest.ingest(tenant, chunk, source, IngestMode.BACKFILL):
                setattr(report, result.status, getattr(report, result.status) + 1)
        report.rows += len(records)
        if progress:
            progress(report.rows, batch.position, batch.size)
    report.seconds = round(time.perf_counter() - started, 3)
    report.per_second = round(report.rows / report.seconds, 1) if report.seconds else 0.0
    return report


def _identity(columns, fields, objects, path: Path) -> tuple[tuple[str, str], ...]:
    pairs = identity_mapping(columns, fields, objects)
    if not pairs:
        raise InvalidInput(
            [
                Violation(
                    "/map",
                    "required",
                    f"no column of {path.name} is named after a field;"
                    " give --map FIELD=COLUMN,... or --preset",
                )
            ],
            "No column mapping",
        )
    return pairs


def _with_type(record, event_type: str | None):
    """A JSON Lines event without a type takes the one given with --type."""
    if event_type and isinstance(record, dict) and "type" not in record:
        return {**record, "type": event_type}
    return record


def _event_record(record: dict, row, pairs) -> dict:
    """Apply the import's row rules: guests, returns, and an id for rows that carry none."""
    guest = record.pop("guest_id", None)
    if "user_id" not in record and "anonymous_id" not in record and guest is not None:
        record["anonymous_id"] = guest
    value = record.get("value")
    if record.get("type") == "purchase" and isinstance(value, (int, float)) and value < 0:
        record["type"], record["value"] = "return", -value
    if "event_id" not in record:
        record["event_id"] = row_fingerprint(row)
    return record


def import_items(
    relevo: Relevo,
    tenant: Tenant,
    path: Path,
    mapping: str | None = None,
    preset: str | None = None,
    file_format: Format | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a catalog file; when an item id repeats, its last row wins."""
    chosen = _preset(preset)
    mapping = mapping or (chosen.items if chosen else None)
    pairs = parse_mapping(mapping, ITEM_FIELDS, ITEM_OBJECTS) if mapping else None
    report = ImportReport(path.name)
    started = time.perf_counter()
    latest: dict[object, object] = {}
    mapper: RowMapper | None = None
    for batch in read_batches(path, file_format or detect_format(path)):
        if pairs is None and batch.columns is not None:
            pairs = _identity(batch.columns, ITEM_FIELDS, ITEM_OBJECTS, path)
        if pairs is not None and mapper is None:
            mapper = RowMapper(pairs, batch.columns)
        for row in batch.rows:
            record = row if mapper is None else mapper(row)
            key = record.get("item_id") if isinstance(record, dict) else None
            latest[key if isinstance(key, str) else object()] = record
        report.rows += len(batch.rows)
        if progress:
            progress(report.rows, batch.position, batch.size)
    records = list(latest.values())
    report.duplicate = report.rows - len(records)
    for start in range(0, len(records), 1_000):
        for result in relevo.catalog.upsert(tenant, records[start : start + 1_000]):
            if result.status == "upserted":
                report.accepted += 1
            else:
                report.rejected += 1
    report.seconds = round(time.perf_counter() - started, 3)
    report.per_second = round(report.rows / report.seconds, 1) if report.seconds else 0.0
    return report

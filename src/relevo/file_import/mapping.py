"""Column mappings: which file column feeds which field of an event or an item.

``--map user_id=CustomerID,item_id=StockCode`` maps columns to fields; ``properties.X``,
``context.X``, ``consent.X`` (events) and ``attributes.X`` (items) map into those objects.
Empty cells count as absent. Values that cannot be converted are passed on as they are, so the
pipeline refuses that record with a reason instead of the import guessing or dropping it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from operator import itemgetter
from typing import Any

from relevo.decoding import InvalidInput
from relevo.domain.violations import Violation

EVENT_FIELDS = frozenset(
    {
        "event_id",
        "type",
        "occurred_at",
        "user_id",
        "anonymous_id",
        "session_id",
        "item_id",
        "decision_id",
        "value",
        "schema_version",
        "guest_id",
    }
)
EVENT_OBJECTS = ("properties.", "context.", "consent.")
ITEM_FIELDS = frozenset(
    {
        "item_id",
        "title",
        "text",
        "category",
        "tags",
        "regions",
        "price",
        "available",
        "min_age",
        "created_at",
    }
)
ITEM_OBJECTS = ("attributes.",)
_NUMBERS = frozenset({"value", "price"})
_TIMES = frozenset({"occurred_at", "created_at"})


def identity_mapping(
    columns: Sequence[str], fields: frozenset[str], objects: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """For a file whose columns are already named after fields (``user_id``, ``properties.x``).

    >>> identity_mapping(["user_id", "Qty", "context.region"], EVENT_FIELDS, EVENT_OBJECTS)
    (('user_id', 'user_id'), ('context.region', 'context.region'))
    """
    return tuple(
        (c, c) for c in columns if c in fields or (c.startswith(objects) and "." in c[:-1])
    )


def parse_mapping(
    text: str, fields: frozenset[str], objects: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    """``"a=X,b=Y"`` as ((field, column), ...), or InvalidInput naming the bad part.

    >>> parse_mapping("user_id=CustomerID, properties.price=UnitPrice", EVENT_FIELDS, EVENT_OBJECTS)
    (('user_id', 'CustomerID'), ('properties.price', 'UnitPrice'))
    """
    pairs, problems = [], []
    for index, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        target, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not target or not column:
            problems.append(Violation(f"/map/{index}", "syntax", f"'{part}' is not FIELD=COLUMN"))
        elif target not in fields and not (target.startswith(objects) and "." in target[:-1]):
            allowed = ", ".join(sorted(fields)) + ", " + ", ".join(o + "NAME" for o in objects)
            problems.append(
                Violation(f"/map/{index}", "field", f"'{target}' is not one of: {allowed}")
            )
        else:
            pairs.append((target, column))
    if problems:
        raise InvalidInput(problems, "Invalid column mapping")
    return tuple(pairs)


@dataclass
class RowMapper:
    """Turns one row (a tuple, with ``columns`` naming its cells, or a dict) into a record."""

    pairs: tuple[tuple[str, str], ...]
    columns: Sequence[str] | None
    constants: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    value_defaults: Mapping[str, str] = field(default_factory=dict)
    timezone: tzinfo = UTC
    split_tags: str = "|"
    _times: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.columns is not None:
            missing = [
                Violation(f"/map/{i}", "column", f"the file has no column '{column}'")
                for i, (_, column) in enumerate(self.pairs)
                if column not in self.columns
            ]
            if missing:
                raise InvalidInput(missing, "Invalid column mapping")
            index = {name: i for i, name in enumerate(self.columns)}
            get = [itemgetter(index[column]) for _, column in self.pairs]
        else:
            get = [_KeyGetter(column) for _, column in self.pairs]
        # One compiled step per mapped field, so a row costs a few calls and no branching.
        self._steps = [
            (getter, self._converter(target), *target.partition(".")[::2])
            for getter, (target, _) in zip(get, self.pairs, strict=True)
        ]

    def _converter(self, target: str) -> Callable[[Any], Any] | None:
        if target in _NUMBERS:
            convert = _number
        elif target in _TIMES:
            convert = self._time
        elif target in ("tags", "regions"):
            convert = self._tags
        elif target == "min_age":
            convert = _whole
        elif target == "available" or target.startswith("consent."):
            convert = _flag
        elif target in EVENT_FIELDS:
            convert = _text
        else:
            convert = None
        if target not in self.values:
            return convert
        table, default = self.values[target], self.value_defaults.get(target)

        def mapped(cell: Any) -> Any:
            cell = table.get(str(cell), cell if default is None else default)
            return cell if convert is None else convert(cell)

        return mapped

    def __call__(self, row: Any) -> dict[str, Any]:
        record: dict[str, Any] = dict(self.constants)
        for get, convert, head, tail in self._steps:
            cell = get(row)
            if cell is None or cell == "":
                continue
            if convert is not None:
                cell = convert(cell)
            if tail:
                record.setdefault(head, {})[tail] = cell
            else:
                record[head] = cell
        return record

    def _tags(self, cell: Any) -> Any:
        return (
            [tag for tag in cell.split(self.split_tags) if tag] if isinstance(cell, str) else cell
        )

    def _time(self, cell: Any) -> Any:
        if isinstance(cell, datetime):
            return cell if cell.tzinfo else cell.replace(tzinfo=self.timezone)
        if isinstance(cell, (int, float)):
            return datetime.fromtimestamp(cell, UTC)
        parsed = self._times.get(cell)
        if parsed is None:
            parsed = _parse_time(cell, self.timezone)
            if len(self._times) > 100_000:
                self._times.clear()
            self._times[cell] = parsed
        return parsed


@dataclass(frozen=True, slots=True)
class _KeyGetter:
    """A cell of a JSON Lines record (a dict); None for a record that is not an object."""

    key: str

    def __call__(self, row: Any) -> Any:
        return row.get(self.key) if isinstance(row, dict) else None


def _whole(cell: Any) -> Any:
    return int(cell) if isinstance(cell, str) and cell.isdigit() else cell


def _flag(cell: Any) -> Any:
    if isinstance(cell, str):
        return {"true": True, "1": True, "false": False, "0": False}.get(cell.lower(), cell)
    return cell


def _number(cell: Any) -> Any:
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError:
            return cell
    return cell


def _text(cell: Any) -> Any:
    """Ids from typed files (Parquet ints, floats like 17850.0) as the text people know them by."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def _parse_time(text: str, zone: tzinfo) -> Any:
    """Epoch seconds or ISO 8601; a time without an offset is read in ``zone``.

    >>> _parse_time("964982703", UTC).isoformat()
    '2000-07-30T18:45:03+00:00'
    >>> _parse_time("2010-12-01 08:26:00", UTC).isoformat()
    '2010-12-01T08:26:00+00:00'
    >>> _parse_time("yesterday", UTC)
    'yesterday'
    """
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # refused by the pipeline with the field and the rule
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def row_fingerprint(row: Any) -> str:
    """A stable event id for a row that has none: the same row imported twice is a duplicate."""
    if isinstance(row, dict):
        text = repr(sorted(row.items()))
    else:
        try:
            text = "\x1f".join(row)
        except TypeError:  # typed cells (Parquet): spell each one out
            text = "\x1f".join("" if cell is None else str(cell) for cell in row)
    return "row-" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

"""People's attributes: what the application tells about a person that policy reads.

Policy gates items by age, limits them by region and matches segments; it reads these facts
here. An age is never stored, only a birth year, and policy asks ``age_on`` for the youngest
the person can be on a given day, so an age gate errs on the safe side and fails closed when the
birth year is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

import msgspec

from relevo.domain.tenants import RegionName
from relevo.domain.violations import Violation, from_msgspec_error

EARLIEST_BIRTH_YEAR = 1900

# The lookahead keeps Python's ``$`` from accepting a final newline ("vip\n"); to an ECMAScript
# reader of the OpenAPI document it is a no-op.
Segment = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$(?!\n)")]
AttributeName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
AttributeValue = Annotated[str, msgspec.Meta(max_length=1_000)] | int | float | bool


class PersonAttributes(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One person's attributes, as the application sets them (a PUT replaces them all).

    ``home_region`` is where the person's data lives; it is fixed by the first thing stored
    about the person, so it may be given only for a person not seen before (or repeated).
    """

    birth_year: Annotated[int, msgspec.Meta(ge=EARLIEST_BIRTH_YEAR)] | None = None
    segments: Annotated[list[Segment], msgspec.Meta(max_length=100)] = []
    attributes: Annotated[dict[AttributeName, AttributeValue], msgspec.Meta(max_length=100)] = {}
    home_region: RegionName | None = None


EVENT_ATTRIBUTES = ("birth_year", "segments", "attributes")
"""The attributes an event may set, in ``properties.person``: all but the home region, which
the first thing stored about a person fixes."""
_EVENT_FIELD_TYPES = {
    f.encode_name: f.type
    for f in msgspec.structs.fields(PersonAttributes)
    if f.name in EVENT_ATTRIBUTES
}


def check_event_attributes(value: Any, today: date) -> list[Violation]:
    """What is wrong with an event's ``properties.person``, with pointers relative to it.

    Every field is checked, so a sender hears of all bad fields at once, as with the envelope.

    >>> [(v.pointer, v.rule) for v in check_event_attributes({"birth_year": "x"}, date(2026, 5, 1))]
    [('/birth_year', 'type')]
    >>> check_event_attributes({"home_region": "eu"}, date(2026, 5, 1))[0].rule
    'fixed'
    """
    if not isinstance(value, dict):
        return [Violation("", "type", "must be an object of person attributes")]
    found: list[Violation] = []
    for name, given in value.items():
        kind = _EVENT_FIELD_TYPES.get(name)
        if kind is not None:
            try:
                msgspec.convert(given, kind)
            except msgspec.ValidationError as error:
                found.append(from_msgspec_error(str(error)).under("/" + name))
        elif name == "home_region":
            found.append(
                Violation(
                    "/home_region",
                    "fixed",
                    "a person's home region is fixed by their first event or PUT"
                    " /v1/people/{user_id}; an event cannot set it",
                )
            )
        else:
            found.append(
                Violation(
                    "/" + str(name),
                    "unknown_field",
                    f"is not an attribute an event may set ({', '.join(EVENT_ATTRIBUTES)})",
                )
            )
    if not found and isinstance(value.get("birth_year"), int):
        found = check_attributes(PersonAttributes(birth_year=value["birth_year"]), (), today)
    return found


def event_attributes(value: Any) -> dict[str, Any]:
    """The attributes an accepted event sets, by field; ``{}`` for a value ingest would refuse.

    Lenient because the log may hold events accepted before ``properties.person`` was checked:
    replaying them must not fail, and they set nothing unless they are well formed.

    >>> event_attributes({"birth_year": 1990, "segments": ["vip"]})
    {'birth_year': 1990, 'segments': ['vip']}
    >>> event_attributes({"birth_year": 1990, "home_region": "eu"})
    {}
    """
    if not isinstance(value, dict) or not value.keys() <= _EVENT_FIELD_TYPES.keys():
        return {}
    try:
        for name, given in value.items():
            msgspec.convert(given, _EVENT_FIELD_TYPES[name])
    except msgspec.ValidationError:
        return {}
    return dict(value)


def merge_attributes(
    put: PersonAttributes | None, put_at_us: int, by_events: Mapping[str, tuple[int, Any]]
) -> PersonAttributes | None:
    """A person's effective attributes: per field, the later of a PUT and an event's setting.

    A PUT sets every field at ``put_at_us`` (the server's clock); an event sets the fields it
    names at its ``occurred_at``, given here as (occurred_at_us, value). On a tie the PUT wins.
    The home region only ever comes from the PUT record.

    >>> put = PersonAttributes(birth_year=1990, segments=["vip"], home_region="eu")
    >>> merge_attributes(put, 10, {"birth_year": (20, 1991), "segments": (5, [])})
    PersonAttributes(birth_year=1991, segments=['vip'], attributes={}, home_region='eu')
    """
    newer = {
        name: value
        for name, (at, value) in by_events.items()
        if name in _EVENT_FIELD_TYPES and (put is None or at > put_at_us)
    }
    if not newer:
        return put
    return msgspec.convert(
        {**msgspec.structs.asdict(put or PersonAttributes()), **newer}, PersonAttributes
    )


def check_attributes(
    attributes: PersonAttributes, regions: tuple[str, ...], today: date
) -> list[Violation]:
    """Rules the types cannot state, as they depend on the day and the tenant.

    >>> check_attributes(PersonAttributes(birth_year=2027), ("eu",), date(2026, 5, 1))[0].rule
    'maximum'
    >>> [v.pointer for v in check_attributes(PersonAttributes(home_region="mars"), ("eu",), date(2026, 5, 1))]
    ['/home_region']
    """
    found: list[Violation] = []
    if attributes.birth_year is not None and attributes.birth_year > today.year:
        found.append(
            Violation("/birth_year", "maximum", f"must not be after the current year, {today.year}")
        )
    if attributes.home_region is not None and attributes.home_region not in regions:
        found.append(
            Violation("/home_region", "enum", f"must be one of the tenant's regions {regions}")
        )
    return found


def age_on(birth_year: int | None, today: date) -> int | None:
    """The youngest a person born in ``birth_year`` can be on ``today``; None if unknown.

    Only the year is known, so the birthday is taken to be the last day of that year: someone
    born in year Y is at least ``today.year - Y - 1``, and ``today.year - Y`` from 31 December
    on. An age gate that reads this can only be too strict, by under a year, never too lax.

    >>> age_on(2000, date(2026, 6, 1))  # 25 or 26: the gate assumes 25
    25
    >>> age_on(2000, date(2026, 12, 31))  # every birthday of 2000 has passed by then
    26
    >>> age_on(2026, date(2026, 3, 1))  # born this year: not one yet
    0
    >>> age_on(None, date(2026, 6, 1)) is None
    True
    """
    if birth_year is None:
        return None
    had_birthday = (today.month, today.day) == (12, 31)
    return max(0, today.year - birth_year - (0 if had_birthday else 1))

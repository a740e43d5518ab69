"""Decisions: what a caller asks ("what should this person see?"), what Relevo answers, and the
trace that says why, stage by stage, so any answer can be explained and audited later.

These are values that never refer back to what holds them, so they are not tracked by the
garbage collector (``gc=False``): tens of thousands stay cached, and a full collection that
scanned them all paused every answer for tens of milliseconds. For the same reason what they
hold is kept in tuples where a list would do: the collector stops scanning a tuple of
strings, never a list."""

from __future__ import annotations

import binascii
import os
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, overload

import msgspec

from relevo.domain.events import Identifier

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
AttributeValue = str | int | float | bool


class Filters(
    msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, omit_defaults=True
):
    """Request filters: every item shown must pass all that are given."""

    category: Annotated[list[Short], msgspec.Meta(max_length=100)] | None = None  # any of
    tags: Annotated[list[Short], msgspec.Meta(max_length=100)] | None = None  # any of
    price_min: Annotated[float, msgspec.Meta(ge=0)] | None = None
    price_max: Annotated[float, msgspec.Meta(ge=0)] | None = None
    attributes: dict[str, AttributeValue] = {}  # equality on the item's free attributes


class DecisionRequest(
    msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True, omit_defaults=True
):
    """The body of ``POST /v1/recommend`` and, with ``candidates``, of ``POST /v1/rank``."""

    placement: Slug = "default"
    user_id: Identifier | None = None
    anonymous_id: Identifier | None = None
    session_id: Identifier | None = None
    k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    context: dict[str, Any] = {}
    filters: Filters = Filters()
    exclude_ids: Annotated[list[Identifier], msgspec.Meta(max_length=1000)] = []
    candidates: Annotated[list[Identifier], msgspec.Meta(min_length=1, max_length=1000)] | None = (
        None
    )
    explain: bool = False


class FilterReport(msgspec.Struct, frozen=True, gc=False):
    """One policy or business filter, and how many candidates it removed."""

    name: str
    removed: int


class Trace(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """Everything that went into one answer. Person ids are pseudonyms, as everywhere at rest."""

    decision_id: str
    at: datetime
    placement: str
    person: str  # the pseudonymous person key, "" for nobody
    region: str
    strategy: str
    model: str  # "name:version", "" when no model answered
    variant: str
    fallback: str  # "none" when the model answered
    request: dict[str, Any]
    person_state: dict[str, Any]
    sources: dict[str, tuple[str, ...]]  # item id -> candidate sources
    filters: list[FilterReport]
    scores: dict[str, float]
    stages_ms: dict[str, float]
    items: list[str]
    reasons: dict[str, tuple[str, ...]] = {}
    contributions: dict[str, list[dict[str, Any]]] = {}
    feature_age_s: dict[str, float] = {}  # seconds since each feature of the person changed


class AnswerPart(msgspec.Struct, frozen=True, gc=False):
    """The fields of a trace that are each answer's own. Answers reused from one prepared
    decision share all the others (unless exploration changed what was shown), so the decision
    log keeps those once for all of them, and an answer encodes only these."""

    decision_id: str
    at: datetime
    stages_ms: dict[str, float]
    contributions: dict[str, list[dict[str, Any]]]
    feature_age_s: dict[str, float]


ANSWER_FIELDS = AnswerPart.__struct_fields__


class RecommendedItem(msgspec.Struct, frozen=True, gc=False):
    item_id: str
    score: float
    reasons: tuple[str, ...]


class ShownItems(Sequence[RecommendedItem]):
    """An answer's items, with their JSON encoded once: the answers reused from one prepared
    decision show the same items, and encoding them again for each answer is slow under load
    (their structs and strings lie all over memory; a copy of bytes does not).
    JSON encoders take it with ``encode_hook``.

    >>> shown = ShownItems([RecommendedItem("a", 0.5, ("Trending",))])
    >>> shown[0].item_id, len(shown), shown == [RecommendedItem("a", 0.5, ("Trending",))]
    ('a', 1, True)
    >>> msgspec.json.encode({"items": shown}, enc_hook=encode_hook)
    b'{"items":[{"item_id":"a","score":0.5,"reasons":["Trending"]}]}'
    """

    __slots__ = ("_items", "json")

    def __init__(self, items: Iterable[RecommendedItem]) -> None:
        self._items = tuple(items)
        self.json = msgspec.Raw(msgspec.json.encode(self._items))

    @overload
    def __getitem__(self, index: int) -> RecommendedItem: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[RecommendedItem, ...]: ...
    def __getitem__(self, index: int | slice) -> RecommendedItem | tuple[RecommendedItem, ...]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(other) == self._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ShownItems({list(self._items)!r})"


def encode_hook(value: Any) -> Any:
    """What msgspec's JSON encoders need to encode a ``Decision`` (``enc_hook``)."""
    if isinstance(value, ShownItems):
        return value.json
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def schema_hook(kind: type) -> dict[str, Any]:
    """The JSON Schema of ``ShownItems`` (``schema_hook``): an array of ``RecommendedItem``."""
    if kind is ShownItems:
        return {"type": "array", "items": {"$ref": "#/components/schemas/RecommendedItem"}}
    raise NotImplementedError(f"no schema for {kind.__name__}")


class Decision(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """The answer: DESIGN.md's shape, and the whole trace when ``explain`` was asked."""

    decision_id: str
    items: ShownItems
    strategy: str
    model_version: str
    variant: str
    fallback: str
    took_ms: float
    trace: Trace | None = None


_URL_SAFE = bytes.maketrans(b"+/", b"-_")  # base64's alphabet as in URLs


def new_decision_id(region: str) -> str:
    """A fresh decision id that names the region its trace is kept in (region names never hold
    a dot), so ``GET /v1/decisions/{id}`` and outcome events find it in one place.

    After the dot, the time in microseconds (13 hex digits), then 84 random bits: ids of one
    region sort by time, so each trace is written at the end of the decisions index rather
    than at a random page of it, which keeps a batch's commit small as the log grows. The bits
    come from ``random`` (seeded from the OS, reseeded in a forked worker), not ``secrets``: an
    id is read back only with its tenant's key, so it need not be unguessable, and a system
    call per answer cost a turn of the GIL.

    >>> first = new_decision_id("eu"); time.sleep(0.001); second = new_decision_id("eu")
    >>> first < second, first.startswith("eu."), len(first)
    (True, True, 30)
    """
    return f"{region}.{time.time_ns() // 1000:013x}{_token()}"


_TOKENS_AT_ONCE = 512
_tokens: list[str] = []  # random parts of ids to come, made a batch at a time
os.register_at_fork(after_in_child=_tokens.clear)  # a forked worker makes its own


def _token() -> str:
    """14 URL-safe base64 characters (84 random bits). Made 512 at a time: every answer
    needs one, and making the bits, their bytes and their base64 in bulk spreads the calls."""
    while True:
        try:
            return _tokens.pop()
        except IndexError:  # none left (or another thread took the last): make more
            raw = random.getrandbits(96 * _TOKENS_AT_ONCE).to_bytes(12 * _TOKENS_AT_ONCE, "big")
            text = binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode()
            _tokens.extend(text[i : i + 14] for i in range(0, len(text), 16))


def decision_region(decision_id: str) -> str | None:
    """The region a decision id names, or None for an id Relevo did not make.

    >>> decision_region("eu.AbC-12"), decision_region("nonsense")
    ('eu', None)
    """
    region, dot, token = decision_id.partition(".")
    return region if dot and region and token else None

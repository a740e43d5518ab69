"""Freshness: the time from an event's ack to the first answer whose trace shows that event
(the item first among the person's recent items). Run in the client's own process."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from serving.client import ANSWER, Connection, http_request, run_async
from serving.common import K, keep

FRESHNESS_ROUNDS = 200
FRESHNESS_LIMIT_S = 1.0  # per round: give up on seeing the event after this long
FRESHNESS_ATTEMPTS = 100  # and after this many answers that do not show it


class EventsView(msgspec.Struct):
    counts: dict[str, int] = {}


EVENTS = msgspec.json.Decoder(EventsView)


@dataclass
class FreshnessResult:
    rounds: int
    acked: int = 0
    reflected: int = 0
    first_try: int = 0
    freshness_ms: list[float] = field(default_factory=list)
    fallbacks: Counter[str] = field(default_factory=Counter)  # of the answers that showed it
    stages_ms: dict[str, list[float]] = field(default_factory=dict)  # from their traces
    problems: list[str] = field(default_factory=list)


def _view_event(user: str, item: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    event = {
        "event_id": f"bench-fresh-{uuid.uuid4().hex}",
        "type": "view",
        "occurred_at": now,
        "user_id": user,
        "item_id": item,
    }
    return msgspec.json.encode(event)


async def _freshness(
    port: int, ingest_key: str, serve_key: str, users: Sequence[str], items: Sequence[str]
) -> FreshnessResult:
    result = FreshnessResult(FRESHNESS_ROUNDS)
    rng = random.Random(11)
    last: dict[str, str] = {}
    connection = Connection(port)
    try:
        for _ in range(FRESHNESS_ROUNDS):
            user = rng.choice(users)
            item = rng.choice([i for i in rng.sample(items, 2) if i != last.get(user)])
            last[user] = item
            raw = http_request(port, "/v1/events", ingest_key, _view_event(user, item))
            code, body = await connection.request(raw)
            acked = time.perf_counter()
            try:
                accepted = EVENTS.decode(body).counts.get("accepted", 0) if code == 200 else 0
            except msgspec.DecodeError:
                accepted = 0
            if not accepted:
                keep(result.problems, f"event not accepted ({code}): {body[:300]!r}")
                continue
            result.acked += 1
            ask = {"user_id": user, "k": K, "explain": True}
            raw = http_request(port, "/v1/recommend", serve_key, msgspec.json.encode(ask))
            for attempt in range(FRESHNESS_ATTEMPTS):
                code, body = await connection.request(raw)
                answered = time.perf_counter()
                try:
                    view = ANSWER.decode(body) if code == 200 else None
                except msgspec.DecodeError:
                    view = None
                trace = view.trace if view else None
                if view and trace and trace.person_state.recent_items[:1] == [item]:
                    result.reflected += 1
                    result.first_try += attempt == 0
                    result.freshness_ms.append((answered - acked) * 1000)
                    result.fallbacks[view.fallback] += 1
                    for stage, spent in trace.stages_ms.items():
                        result.stages_ms.setdefault(stage, []).append(spent)
                    break
                if answered - acked >= FRESHNESS_LIMIT_S:
                    keep(result.problems, f"{item} not first for {user}: {body[:300]!r}")
                    break
    finally:
        connection.close()
    return result


def freshness(
    port: int, ingest_key: str, serve_key: str, users: Sequence[str], items: Sequence[str]
) -> dict[str, Any]:
    """Ingest one view, then ask until an answer's trace shows that item first. The result's
    fields, to send back from the client process."""
    return dict(vars(run_async(lambda: _freshness(port, ingest_key, serve_key, users, items))))

"""A realistic synthetic data set, for machines without the public data sets.

People have latent tastes over categories; items belong to categories and have a popularity that
follows a power law; people visit in sessions, view items drawn from their tastes and the
popularity, and some views go on to add-to-cart and purchase. A share of people are guests
(anonymous only), people live in regions, a few items are age-gated or region-limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import msgspec
import numpy as np

CATEGORIES = (
    "books",
    "garden",
    "kitchen",
    "toys",
    "music",
    "outdoor",
    "beauty",
    "electronics",
    "games",
    "fashion",
    "home",
    "sports",
)
ADJECTIVES = (
    "classic",
    "compact",
    "deluxe",
    "eco",
    "vintage",
    "smart",
    "mini",
    "pro",
    "soft",
    "bright",
)
REGIONS = ("eu", "us")


SESSIONS_MEAN = 4.0
"""Visits of a signed-in person, on average (a guest makes one)."""
EVENTS_PER_SESSION = 5.5 * 1.375
"""2 to 9 items a visit, each a view, and an add-to-cart and purchase with 25% and 12.5%."""
GUEST_SHARE = 0.2
BLOCK = 256
"""People whose item weights are worked out together: one matrix product for all of them."""


def generate(
    out_dir: Path,
    people: int = 2_000,
    items: int = 1_000,
    seed: int = 7,
    end: datetime | None = None,
    days: int = 60,
    events: int | None = None,
) -> dict[str, int]:
    """Write ``items.jsonl`` and ``events.jsonl`` to ``out_dir``; return how many of each.

    ``events`` asks for about that many events, through the number of visits a signed-in
    person makes (at least one each); by default about 26 a person. Each person draws from a
    random stream of their own (``seed``, person), so the people are the same whatever their
    number, and their item weights are worked out a block at a time: a catalog of 100,000
    items and 300,000 people is written in minutes, not hours.
    """
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    item_vectors, popularity = _write_items(out_dir / "items.jsonl", rng, items, end)
    visits = SESSIONS_MEAN if events is None else sessions_for(events, people)
    count = 0
    start = end - timedelta(days=days)
    with (out_dir / "events.jsonl").open("wb") as file:
        for first in range(0, people, BLOCK):
            block = range(first, min(people, first + BLOCK))
            streams = [np.random.default_rng([seed, p]) for p in block]
            tastes = np.stack([s.dirichlet(np.full(len(CATEGORIES), 0.3)) * 3.0 for s in streams])
            logits = tastes.astype(np.float32) @ item_vectors.T + popularity
            logits -= logits.max(axis=1, keepdims=True)
            # float64 sums: in float32, an item weighing under 6e-8 of the running total
            # would add nothing to it, and could never be drawn
            cumulative = np.cumsum(np.exp(logits, out=logits), axis=1, dtype=np.float64)
            for p, stream, weights in zip(block, streams, cumulative, strict=True):
                person = _Person(p, seed, stream, weights, start, days, visits)
                count += person.write(file, count)
    return {"items": items, "events": count}


def sessions_for(events: int, people: int) -> float:
    """The mean visits of a signed-in person that make about ``events`` events in all.

    >>> round(sessions_for(3_000_000, 300_000), 3)
    1.403
    """
    per_person = events / people / EVENTS_PER_SESSION
    return max(1.0, (per_person - GUEST_SHARE) / (1 - GUEST_SHARE))


def _write_items(
    path: Path, rng: np.random.Generator, items: int, end: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """The catalog; each item's taste vector and log popularity (a power law), as float32."""
    dims = len(CATEGORIES)
    item_category = rng.integers(0, dims, items)
    item_vectors = np.eye(dims)[item_category] * 2.0 + rng.normal(0, 0.3, (items, dims))
    popularity = np.log(1.0 / np.arange(1, items + 1) ** 0.8)[rng.permutation(items)]
    with path.open("wb") as file:
        for i in range(items):
            category = CATEGORIES[item_category[i]]
            adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
            record = {
                "item_id": f"item-{i}",
                "title": f"{adjective.title()} {category} item {i}",
                "text": f"A {adjective} pick from our {category} range.",
                "category": category,
                "tags": [adjective, category],
                "price": round(float(rng.lognormal(3.0, 0.8)), 2),
                "created_at": (end - timedelta(days=int(rng.integers(0, 365)))).isoformat(),
            }
            if rng.random() < 0.03:
                record["min_age"] = 18
            if rng.random() < 0.05:
                record["regions"] = [REGIONS[rng.integers(len(REGIONS))]]
            file.write(_encode(record) + b"\n")
    return item_vectors.astype(np.float32), popularity.astype(np.float32)


@dataclass(frozen=True)
class _Person:
    """One person's visits: drawn from their own stream, items by their cumulative weights."""

    p: int
    seed: int
    rng: np.random.Generator
    weights: np.ndarray
    """Cumulative, over the catalog."""
    start: datetime
    days: int
    visits: float

    def write(self, file: BinaryIO, first: int) -> int:
        """Write the person's events, numbered from ``first``; how many."""
        rng, p = self.rng, self.p
        guest = rng.random() < GUEST_SHARE
        person = {"anonymous_id": f"anon-{p}"} if guest else {"user_id": f"user-{p}"}
        region = REGIONS[0] if rng.random() < 0.6 else REGIONS[1]
        consent = {"personalization": bool(rng.random() < 0.9)}
        count = first
        for s in range(1 if guest else int(rng.poisson(self.visits - 1)) + 1):
            moment = self.start + timedelta(seconds=float(rng.uniform(0, self.days * 86_400)))
            for item in self._items(int(rng.integers(2, 10))):
                kinds = ["view"]
                if rng.random() < 0.25:
                    kinds.append("add_to_cart")
                    if rng.random() < 0.5:
                        kinds.append("purchase")
                for kind in kinds:
                    moment += timedelta(seconds=float(rng.exponential(40)))
                    event = {
                        "event_id": f"syn-{self.seed}-{count}",
                        "type": kind,
                        "occurred_at": moment.isoformat(),
                        **person,
                        "session_id": f"s-{p}-{s}",
                        "item_id": f"item-{item}",
                        "context": {
                            "region": region,
                            "device": "mobile" if rng.random() < 0.6 else "desktop",
                        },
                        "consent": consent,
                    }
                    if kind == "purchase":
                        event["value"] = float(rng.integers(1, 4))
                    file.write(_encode(event) + b"\n")
                    count += 1
        return count - first

    def _items(self, size: int) -> np.ndarray:
        """``size`` items drawn with replacement by the person's weights."""
        cumulative = self.weights
        drawn = cumulative.searchsorted(self.rng.random(size) * cumulative[-1], side="right")
        return np.minimum(drawn, len(cumulative) - 1)


_encode = msgspec.json.encode

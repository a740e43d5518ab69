"""A realistic synthetic data set, for machines without the public data sets.

People have latent tastes over categories; items belong to categories and have a popularity that
follows a power law; people visit in sessions, view items drawn from their tastes and the
popularity, and some views go on to add-to-cart and purchase. A share of people are guests
(anonymous only), people live in regions, a few items are age-gated or region-limited.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def generate(
    out_dir: Path,
    people: int = 2_000,
    items: int = 1_000,
    seed: int = 7,
    end: datetime | None = None,
    days: int = 60,
) -> dict[str, int]:
    """Write ``items.jsonl`` and ``events.jsonl`` to ``out_dir``; return how many of each."""
    rng = np.random.default_rng(seed)
    end = end or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    dims = len(CATEGORIES)
    item_category = rng.integers(0, dims, items)
    item_vectors = np.eye(dims)[item_category] * 2.0 + rng.normal(0, 0.3, (items, dims))
    popularity = np.log(1.0 / np.arange(1, items + 1) ** 0.8)[rng.permutation(items)]
    encode = msgspec.json.encode
    with (out_dir / "items.jsonl").open("wb") as file:
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
            file.write(encode(record) + b"\n")
    count = 0
    start = end - timedelta(days=days)
    with (out_dir / "events.jsonl").open("wb") as file:
        for p in range(people):
            taste = rng.dirichlet(np.full(dims, 0.3)) * 3.0
            logits = item_vectors @ taste + popularity
            weights = np.exp(logits - logits.max())
            weights /= weights.sum()
            guest = rng.random() < 0.2
            person = {"anonymous_id": f"anon-{p}"} if guest else {"user_id": f"user-{p}"}
            region = REGIONS[0] if rng.random() < 0.6 else REGIONS[1]
            consent = {"personalization": bool(rng.random() < 0.9)}
            for s in range(1 if guest else int(rng.poisson(3)) + 1):
                moment = start + timedelta(seconds=float(rng.uniform(0, days * 86_400)))
                for item in rng.choice(items, size=int(rng.integers(2, 10)), p=weights):
                    kinds = ["view"]
                    if rng.random() < 0.25:
                        kinds.append("add_to_cart")
                        if rng.random() < 0.5:
                            kinds.append("purchase")
                    for kind in kinds:
                        moment += timedelta(seconds=float(rng.exponential(40)))
                        event = {
                            "event_id": f"syn-{seed}-{count}",
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
                        file.write(encode(event) + b"\n")
                        count += 1
    return {"items": items, "events": count}

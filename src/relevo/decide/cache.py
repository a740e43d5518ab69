"""A bounded, thread-safe cache whose entries expire: for the model's ranked candidates per
person and for whole answers to identical requests.

Entries are keyed by what makes them valid (the person's state version, the model version), so
a new event or a promotion simply stops matching the old entry: nothing is invalidated by hand,
and the oldest entries make room for new ones.

>>> now = [0.0]
>>> cache = TtlCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
>>> cache.put("a", 1); cache.put("b", 2); cache.put("c", 3)
>>> cache.get("a"), cache.get("c")
(None, 3)
>>> now[0] = 11; cache.get("c")

Expired entries are also dropped from the least recently used end on each ``put``, so a
cache whose keys are seldom asked for twice (a request's session id is in its key) holds what
its TTL allows, not ``max_entries`` of dead entries:

>>> cache = TtlCache(max_entries=100, ttl_s=1, clock=lambda: now[0])
>>> for n in range(3): cache.put(n, n)
>>> now[0] = 13; cache.put("new", 1); len(cache)
1

A ``sliding`` cache keeps an entry while it is asked for, not ``ttl_s`` after it was put:
a read past half the entry's life extends it to ``ttl_s`` from then, so an entry goes between
``ttl_s / 2`` and ``ttl_s`` after its last read. What people keep asking for stays, and is not
made again all at once when the TTL of entries put together runs out.

>>> cache = TtlCache(max_entries=10, ttl_s=10, clock=lambda: now[0], sliding=True)
>>> now[0] = 0; cache.put("asked", 1); cache.put("idle", 2)
>>> for now[0] in (8, 16, 24): found = cache.get("asked")
>>> found, cache.get("idle")
(1, None)

``holds`` checks an entry without reading it, so a background check extends nothing:

>>> now[0] = 30; cache.put("checked", 1)
>>> now[0] = 38; cache.holds("checked")
True
>>> now[0] = 41; cache.holds("checked")
False
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

EXPIRED_PER_PUT = 4
"""Expired entries a ``put`` drops at most: more than it adds, so the dead never pile up."""


class TtlCache:
    def __init__(
        self,
        max_entries: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        sliding: bool = False,
    ) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._sliding = sliding
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()  # expiry, value
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """Without the lock: each ``OrderedDict`` call is one step under the GIL, and a race
        with another thread's ``put`` can at worst drop an entry (a later miss), never give
        a wrong value. Every decision makes several hits, and taking the lock costs more
        than the look-up it guards (docs/performance.md). A sliding cache takes it only to
        extend an entry past half its life (``_extend``)."""
        entries = self._entries
        found = entries.get(key)
        if found is None:
            return None
        try:
            now = self._clock()
            if now > found[0]:
                del entries[key]
                return None
            if self._sliding and found[0] - now < self._ttl / 2:
                self._extend(key, found, now)
            entries.move_to_end(key)
        except KeyError:  # another thread evicted it meanwhile
            pass
        return found[1]

    def _extend(self, key: Hashable, found: tuple[float, Any], now: float) -> None:
        """Keep a sliding entry another ``ttl_s`` from ``now``, unless a ``put`` replaced it
        meanwhile. Done past half its life only, so that most hits skip the lock."""
        with self._lock:
            if self._entries.get(key) is found:
                self._entries[key] = (now + self._ttl, found[1])

    def put(self, key: Hashable, value: Any, ttl_s: float | None = None) -> None:
        """Keep ``value`` for ``ttl_s`` seconds (the cache's own TTL by default)."""
        expires = self._clock() + (self._ttl if ttl_s is None else ttl_s)
        with self._lock:
            entries = self._entries
            entries[key] = (expires, value)
            entries.move_to_end(key)
            while len(entries) > self._max:
                entries.popitem(last=False)
            now = expires - (self._ttl if ttl_s is None else ttl_s)
            for _ in range(EXPIRED_PER_PUT):  # the least recently used, while expired
                oldest = next(iter(entries.values()))
                if oldest[0] >= now:
                    break
                entries.popitem(last=False)

    def holds(self, key: Hashable) -> bool:
        """Whether a live entry is held for ``key``, without counting as a use: a background
        check must not keep a sliding entry that no request asks for."""
        found = self._entries.get(key)
        return found is not None and self._clock() <= found[0]

    def pop(self, key: Hashable) -> None:
        """Drop ``key``'s entry, if there is one."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        """Entries held now (expired ones included until dropped)."""
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        return self._max

    def keys(self) -> list[Hashable]:
        """The keys held now (expired ones included until read), oldest first."""
        with self._lock:
            return list(self._entries)

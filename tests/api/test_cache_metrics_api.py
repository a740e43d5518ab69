"""``/metrics`` shows each in-memory cache's entries and bound."""

from __future__ import annotations

import re

import httpx

from relevo.monitoring import CACHE_SIZES


def test_metrics_show_the_size_and_bound_of_each_cache(server, account) -> None:
    assert account.serve.post("/v1/recommend", json={"user_id": "u-1"}).status_code == 200
    text = httpx.get(server.url + "/metrics").text
    entries = dict(re.findall(r'^relevo_cache_entries\{cache="([^"]+)"\} (\S+)$', text, re.M))
    bounds = dict(re.findall(r'^relevo_cache_max_entries\{cache="([^"]+)"\} (\S+)$', text, re.M))
    expected = {
        "rankings", "answers", "prepared", "states", "latest", "active", "known_people",
        "pseudonyms", "people_homes", "ingest_homes", "api_keys", "answer_marks",
    }  # fmt: skip
    assert expected <= set(entries) and expected <= set(bounds)
    settings = server.relevo.settings
    assert float(bounds["rankings"]) >= settings.cache_people_entries
    assert float(entries["pseudonyms"]) >= 1 and float(entries["api_keys"]) >= 1
    now = CACHE_SIZES.sizes()
    for name in ("pseudonyms", "api_keys", "people_homes"):
        assert float(entries[name]) == now[name][0]


def test_metrics_show_sqlite_heap_and_its_limit(server) -> None:
    text = httpx.get(server.url + "/metrics").text
    limit = re.search(r"^relevo_sqlite_heap_limit_bytes (\S+)$", text, re.M)
    if limit is None:  # this Python's SQLite does not export its memory statistics
        return
    assert float(limit[1]) == server.relevo.settings.sqlite_heap_limit_mb * 2**20
    assert re.search(r"^relevo_sqlite_heap_bytes \d", text, re.M)

"""What ``relevo serve`` reports in ``/metrics`` that a run checks: its cache hits and sizes,
the rankings precomputed in the background, and the traces it lost."""

from __future__ import annotations

import re
from collections import Counter

import httpx

from serving.common import HOST


def _metrics(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://{HOST}:{port}/metrics", timeout=10.0, trust_env=False)
    except httpx.TransportError:
        return None


def cache_lookups(port: int) -> Counter[str] | None:
    """Relevo's ``relevo_cache_lookups_total`` counters, by "cache result" (None if the server
    has no such metric)."""
    answer = _metrics(port)
    if answer is None or answer.status_code != 200:
        return None
    found: Counter[str] = Counter()
    for line in answer.text.splitlines():
        matched = re.match(r"relevo_cache_lookups_total\{(.*)\} (\S+)$", line)
        if matched:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', matched[1]))
            found[f"{labels.get('cache')} {labels.get('result')}"] += float(matched[2])
    return found or None


def counter_total(port: int, name: str) -> float:
    """An unlabelled counter of Relevo's (0 if absent)."""
    answer = _metrics(port)
    if answer is None:
        return 0.0
    matched = re.search(rf"^{name} (\S+)$", answer.text, re.M)
    return float(matched[1]) if matched else 0.0


def precomputed(port: int) -> float:
    """Rankings of active people worked out in the background so far."""
    return counter_total(port, "relevo_precomputed_rankings_total")


def traces_dropped(port: int) -> float:
    """Traces the server lost (its writer's queue full): the answers counted must have had
    theirs written, or Relevo would be measured without part of its work."""
    return counter_total(port, "relevo_traces_dropped_total")


def cache_entries(metrics: str) -> dict[str, float]:
    """``relevo_cache_entries{cache="..."}`` of a ``/metrics`` text, by cache."""
    return {
        name: float(value)
        for name, value in re.findall(
            r'^relevo_cache_entries\{cache="([^"]*)"\} (\S+)$', metrics, re.M
        )
    }


def caches_now(port: int) -> dict[str, float]:
    """The server's cache sizes now (empty if ``/metrics`` does not answer)."""
    answer = _metrics(port)
    return {} if answer is None or answer.status_code != 200 else cache_entries(answer.text)

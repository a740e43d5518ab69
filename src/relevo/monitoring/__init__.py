"""Prometheus metrics: what an operator watches, served at ``/metrics`` (by ``relevo.api``).

Latency per endpoint, decisions by fallback, candidates removed per filter, the age of a
person's features when a decision reads them, cache hits and misses, and the lag from an
event's arrival to its derived state being committed. The figures are those of the process that
answers ``/metrics``: with several worker processes, each has its own (see
docs/configuration.md). Nothing here imports a web framework: services add to these series.
"""

from relevo.monitoring.answer_ledger import PENDING_MARKS, AnswerLedger, AnswerMarks
from relevo.monitoring.cache_sizes import CacheSizes
from relevo.monitoring.definitions import (
    ANSWERS,
    CACHE_LOOKUPS,
    CACHE_SIZES,
    DECISIONS,
    EVENT_LAG_SECONDS,
    FEATURE_AGE_SECONDS,
    FILTER_REMOVED,
    LATENCY_BUCKETS,
    PRECOMPUTED,
    REQUEST_SECONDS,
    SQLITE_HEAP,
    TRACES_DROPPED,
)
from relevo.monitoring.free_memory import release_free_memory
from relevo.monitoring.series import DecisionMetric
from relevo.monitoring.sqlite_heap import SqliteHeap, limit_sqlite_heap

__all__ = [
    "ANSWERS",
    "CACHE_LOOKUPS",
    "CACHE_SIZES",
    "DECISIONS",
    "EVENT_LAG_SECONDS",
    "FEATURE_AGE_SECONDS",
    "FILTER_REMOVED",
    "LATENCY_BUCKETS",
    "PENDING_MARKS",
    "PRECOMPUTED",
    "REQUEST_SECONDS",
    "SQLITE_HEAP",
    "TRACES_DROPPED",
    "AnswerLedger",
    "AnswerMarks",
    "CacheSizes",
    "DecisionMetric",
    "SqliteHeap",
    "limit_sqlite_heap",
    "release_free_memory",
]

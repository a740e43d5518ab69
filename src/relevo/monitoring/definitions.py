"""Every metric the engine exposes, defined once: services import the series they add to."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from relevo.monitoring.answer_ledger import PENDING_MARKS, AnswerLedger
from relevo.monitoring.cache_sizes import CacheSizes
from relevo.monitoring.series import DecisionMetric
from relevo.monitoring.sqlite_heap import SqliteHeap

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

REQUEST_SECONDS = DecisionMetric(
    "relevo_request_seconds", "HTTP request latency", ["route", "method"], LATENCY_BUCKETS
)
DECISIONS = DecisionMetric("relevo_decisions", "Decisions by the fallback they took", ["fallback"])
FILTER_REMOVED = DecisionMetric(
    "relevo_filter_removed", "Candidates removed by each policy or business filter", ["filter"]
)
FEATURE_AGE_SECONDS = DecisionMetric(
    "relevo_feature_age_seconds",
    "Age of each online feature of a person (since the event that last changed it) when a"
    " decision reads it",
    ["feature"],
    (1, 10, 60, 600, 3600, 86_400, 7 * 86_400, 30 * 86_400),
)
CACHE_LOOKUPS = DecisionMetric(
    "relevo_cache_lookups", "Cache lookups by cache and result", ["cache", "result"]
)
TRACES_DROPPED = Counter(
    "relevo_traces_dropped",
    "Decision traces lost: the writer's queue was full, or their write failed",
)
PRECOMPUTED = Counter(
    "relevo_precomputed_rankings", "Rankings computed ahead of a request, in the background"
)
ANSWERS = AnswerLedger(FEATURE_AGE_SECONDS)
CACHE_SIZES = CacheSizes()
SQLITE_HEAP = SqliteHeap()
CACHE_SIZES.track("answer_marks", ANSWERS, AnswerLedger.pending, PENDING_MARKS)
EVENT_LAG_SECONDS = Histogram(
    "relevo_event_to_feature_lag_seconds",
    "From an event batch's arrival to its derived state being committed",
    buckets=LATENCY_BUCKETS,
)

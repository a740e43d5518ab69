"""The report of a serving run: the JSON figures (headline first, everything else under
``details``), the warnings that make a figure doubtful, and the Rich table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from serving.closed import ClosedResult, cpu_ratio, main_thread_us, stolen_share
from serving.common import percentile, rounded
from serving.freshness import FreshnessResult
from serving.rate import OpenResult

RATIO_GOAL = 0.5
P99_AT_RATE_GOAL_MS = 5.0
FRESHNESS_GOAL_MS = 50.0
CLIENT_SATURATED = 0.9  # a client process busier than this share of a core may be the limit


def latency_figures(values: Sequence[float], percents: Sequence[int] = (50, 99)) -> dict[str, Any]:
    """Percentiles and the maximum of latencies in ms, under the names the JSON gives them."""
    figures = {f"p{p}_ms": rounded(percentile(values, p)) for p in percents}
    figures["max_ms"] = rounded(max(values, default=None))
    return figures


def closed_details(result: ClosedResult) -> dict[str, Any]:
    def cores(spent: float | None) -> float | None:
        return rounded(None if spent is None else spent / result.seconds, 3)

    return {
        "rps": round(result.per_second, 1),
        **latency_figures(result.latencies_ms, (50, 90, 99)),
        "completed": result.completed,
        "non_200": result.non_200,
        "statuses": {str(code): n for code, n in sorted(result.statuses.items())},
        "fallbacks": dict(result.fallbacks.most_common()),
        "fallback_not_none": result.not_none,
        "server_took_p50_ms": rounded(percentile(result.took_ms, 50)),
        "server_took_p99_ms": rounded(percentile(result.took_ms, 99)),
        "client_cpu_share": round(result.client_cpu_s / result.seconds, 3),
        "server_cpu_cores": cores(result.server_cpu_s),
        "server_main_thread_cores": cores(result.server_main_cpu_s),
        "server_main_thread_us_per_request": main_thread_us(result),
        "stolen_share": stolen_share(result),
        "problems": result.problems,
    }


def open_details(result: OpenResult) -> dict[str, Any]:
    return {
        "rate": result.rate,
        "seconds": result.seconds,
        "scheduled": result.scheduled,
        "sent": result.sent,
        "answered": result.answered,
        **latency_figures(result.latencies_ms),
        "send_lag_p99_ms": rounded(percentile(result.send_lag_ms, 99)),
        "non_200": result.non_200,
        "fallbacks": dict(result.fallbacks.most_common()),
        "client_cpu_share": round(result.client_cpu_s / max(result.elapsed_s, 1e-9), 3),
        "problems": result.problems,
    }


def freshness_details(fresh: FreshnessResult) -> dict[str, Any]:
    return {
        "rounds": fresh.rounds,
        "acked": fresh.acked,
        "reflected": fresh.reflected,
        "reflected_first_try": fresh.first_try,
        **latency_figures(fresh.freshness_ms),
        "fallbacks": dict(fresh.fallbacks.most_common()),
        "stages_p50_ms": {
            stage: rounded(percentile(spent, 50), 3) for stage, spent in fresh.stages_ms.items()
        },
        "problems": fresh.problems,
    }


def ratio(floor: ClosedResult, served: ClosedResult) -> float | None:
    return round(served.per_second / floor.per_second, 3) if floor.completed else None


def summary(
    floor: ClosedResult,
    single: ClosedResult,
    served: ClosedResult,
    busy: tuple[ClosedResult, ClosedResult],
    floor_open: OpenResult,
    served_open: OpenResult,
    fresh: FreshnessResult,
    context: dict[str, Any],
) -> dict[str, Any]:
    """The headline figures, then everything else under ``details``."""
    busy_floor, busy_served = busy
    return {
        "floor_rps": round(floor.per_second, 1),
        "recommend_rps": round(served.per_second, 1),
        "ratio": ratio(floor, served),
        "p50_ms": rounded(percentile(served.latencies_ms, 50)),
        "p99_ms": rounded(percentile(served.latencies_ms, 99)),
        "p99_at_1000_ms": rounded(percentile(served_open.latencies_ms, 99)),
        "freshness_p99_ms": rounded(percentile(fresh.freshness_ms, 99)),
        "details": {
            **context,
            "main_thread_cpu_ratio": cpu_ratio(floor, served),
            "floor": closed_details(floor),
            "recommend_one_in_flight": closed_details(single),
            "recommend": closed_details(served),
            "busy_client": {
                "ratio": ratio(busy_floor, busy_served),
                "main_thread_cpu_ratio": cpu_ratio(busy_floor, busy_served),
                "floor": closed_details(busy_floor),
                "recommend": closed_details(busy_served),
            },
            "floor_open_loop": open_details(floor_open),
            "recommend_open_loop": open_details(served_open),
            "freshness": freshness_details(fresh),
        },
    }


def warnings(figures: dict[str, Any]) -> list[str]:
    """What makes a figure doubtful, in words."""
    d = figures["details"]
    found = []
    for name in ("floor", "recommend_one_in_flight", "recommend"):
        run = d[name]
        if run["non_200"]:
            found.append(f"{name}: {run['non_200']:,} answers were not 200: {run['problems']}")
        if run["client_cpu_share"] >= CLIENT_SATURATED:
            found.append(
                f"{name}: the client process used {run['client_cpu_share']:.0%} of a core; it may"
                " be the bottleneck, so the figure is a lower bound"
            )
    for name in ("recommend_one_in_flight", "recommend"):
        run = d[name]
        if run["completed"] and run["fallback_not_none"] * 2 > run["completed"]:
            found.append(
                f"{name}: {run['fallback_not_none']:,} of {run['completed']:,} answers fell"
                f" back {run['fallbacks']}: NOT a valid measurement of the model path"
            )
        elif run["fallback_not_none"]:
            found.append(f"{name}: {run['fallback_not_none']:,} answers fell back")
    for name in ("floor_open_loop", "recommend_open_loop"):
        run = d[name]
        if run["sent"] < run["scheduled"] or run["answered"] < run["sent"]:
            found.append(
                f"{name}: {run['sent']:,} of {run['scheduled']:,} sent, {run['answered']:,}"
                " answered: the rate was not kept, and p99 leaves out what was never answered"
            )
        if run["non_200"]:
            found.append(f"{name}: {run['non_200']:,} answers were not 200: {run['problems']}")
    ro = d["recommend_open_loop"]
    if ro["answered"] and ro["fallbacks"].get("none", 0) * 2 < ro["answered"]:
        found.append(
            f"recommend_open_loop: most answers fell back {ro['fallbacks']}: NOT a valid"
            " measurement of the model path"
        )
    fresh = d["freshness"]
    if fresh["reflected"] < fresh["rounds"]:
        found.append(
            f"freshness: {fresh['reflected']} of {fresh['rounds']} events reflected:"
            f" {fresh['problems']}"
        )
    for phase, text in d["server_logs"].items():
        found.append(f"relevo serve wrote to its log during {phase}:\n{text}")
    return found


# --- the table ----------------------------------------------------------------------------


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def p50_p99(run: dict[str, Any]) -> str:
    return f"{ms(run['p50_ms'])} / {ms(run['p99_ms'])}"


def fallback_text(fallbacks: dict[str, int]) -> str:
    others = {name: n for name, n in fallbacks.items() if name != "none"}
    if not others:
        return "0"
    return ", ".join(f"{name} {n:,}" for name, n in others.items())


def cache_text(lookups: dict[str, float] | None) -> str:
    """Hits of each cache over its lookups (warm-up included), e.g. "rankings 90% of 1,000"."""
    if not lookups:
        return "n/a"
    parts = []
    for cache in sorted({key.split(" ")[0] for key in lookups}):
        hits, misses = lookups.get(f"{cache} hit", 0), lookups.get(f"{cache} miss", 0)
        if hits + misses:
            parts.append(f"{cache} {hits / (hits + misses):.0%} of {hits + misses:,.0f}")
    return ", ".join(parts) or "n/a"


def loop_cpu(floor: dict[str, Any], rec: dict[str, Any], ratio: float | None) -> str:
    """Event-loop CPU per answer of the floor and of recommend, and their ratio."""
    floor_us = floor["server_main_thread_us_per_request"]
    rec_us = rec["server_main_thread_us_per_request"]
    return f"{ms(floor_us)} / {ms(rec_us)}; ratio {ratio or 'n/a'}"


def render_table(figures: dict[str, Any]) -> Table:
    d = figures["details"]
    floor, single, rec = d["floor"], d["recommend_one_in_flight"], d["recommend"]
    fo, ro, fresh, busy = (
        d["floor_open_loop"],
        d["recommend_open_loop"],
        d["freshness"],
        d["busy_client"],
    )
    rate, c, caches = f"{d['rate']:,.0f}/s", d["concurrency"], d["cache_lookups"]
    table = Table("measure", "value", "unit", "goal", title="Relevo serving benchmark")

    def row(measure: str, value: str, unit: str = "", goal: str = "") -> None:
        table.add_row(measure, value, unit, goal)

    row("code", d["code"] or "n/a")
    row("data set", d["data_set"])
    row("users rotated / items", f"{d['users']:,} / {d['items']:,}")
    row("CPU count", str(d["cpu_count"]))
    row("PRAGMA synchronous", d["sqlite_synchronous"])
    row("servers", "uvicorn, 1 worker each")
    row("client", f"raw HTTP/1.1 on {d['loop']}")
    row(
        "closed loop",
        f"{c} in flight, {d['seconds']:g} s in {d['rounds']} rounds"
        f" (+ {d['warmup_seconds']:g} s each), floor and recommend alternating",
    )
    row("floor", f"{figures['floor_rps']:,.0f}", "req/s")
    row("floor p50 / p99", p50_p99(floor), "ms")
    row("floor: client CPU", f"{floor['client_cpu_share']:.0%}", "of a core")
    warm = d.get("precompute", {}).get("closed loops", {})
    if warm:
        row(
            "warm-up: rankings precomputed",
            f"{warm['rankings']:,.0f} in {warm['seconds']:.0f} s (before measuring)",
        )
    row("recommend, 1 in flight", f"{single['rps']:,.0f}", "req/s")
    row("  p50 / p99", p50_p99(single), "ms")
    took = f"{ms(single['server_took_p50_ms'])} / {ms(single['server_took_p99_ms'])}"
    row("  took_ms p50 / p99", took, "ms")
    row("  fallback not none", fallback_text(single["fallbacks"]), "answers", "0")
    row("  cache hits", cache_text(caches.get("recommend_one_in_flight")))
    row(f"recommend, {c} in flight", f"{figures['recommend_rps']:,.0f}", "req/s")
    row("  p50 / p99", p50_p99(rec), "ms")
    cores, main = rec["server_cpu_cores"], rec["server_main_thread_cores"]
    row(
        "  server CPU (its event loop's thread)",
        "n/a" if cores is None or main is None else f"{cores:.2f} ({main:.2f})",
        "cores",
    )
    row("  non-200", f"{rec['non_200']:,} of {rec['completed']:,}", "answers", "0")
    row("  fallback not none", fallback_text(rec["fallbacks"]), "answers", "0")
    row("  cache hits", cache_text(caches.get("recommend")))
    dropped = d["traces_dropped"].get("recommend")
    row("  traces lost", "n/a" if dropped is None else f"{dropped:,.0f}", "traces", "0")
    ratio = figures["ratio"]
    goal = f">= {RATIO_GOAL} per worker"
    row("ratio recommend / floor", "n/a" if ratio is None else f"{ratio:.3f}", "", goal)
    row("  ratio of each round", ", ".join(f"{r['ratio']:.3f}" for r in d["closed_loop_rounds"]))
    cpu = loop_cpu(floor, rec, d["main_thread_cpu_ratio"])
    row("  event-loop CPU per answer: floor / recommend", cpu, "µs")
    stolen = f"{share(floor['stolen_share'])} / {share(rec['stolen_share'])}"
    row("  CPU stolen by the host: floor / recommend", stolen, "of the machine")
    both = f"{busy['floor']['rps']:,.0f} / {busy['recommend']['rps']:,.0f}"
    row("with a client that never sleeps: floor / recommend", both, "req/s")
    each = ", ".join(f"{r['ratio']:.3f}" for r in d["busy_client_rounds"])
    busy_ratio = "n/a" if busy["ratio"] is None else f"{busy['ratio']:.3f} ({each})"
    row("  ratio (of each round)", busy_ratio)
    cpu = loop_cpu(busy["floor"], busy["recommend"], busy["main_thread_cpu_ratio"])
    row("  event-loop CPU per answer: floor / recommend", cpu, "µs")
    row(f"floor at {rate}: p50 / p99", p50_p99(fo), "ms")
    row(f"recommend at {rate}: p50", ms(ro["p50_ms"]), "ms")
    p99_goal = f"<= {P99_AT_RATE_GOAL_MS:g}"
    row(f"recommend at {rate}: p99", ms(figures["p99_at_1000_ms"]), "ms", p99_goal)
    row("  sent / scheduled", f"{ro['sent']:,} / {ro['scheduled']:,}", "requests", "all")
    row("  answered", f"{ro['answered']:,}", "requests", "all")
    row("  non-200", f"{ro['non_200']:,}", "answers", "0")
    row("  fallback not none", fallback_text(ro["fallbacks"]), "answers", "0")
    row("  cache hits", cache_text(caches.get("recommend_open_loop")))
    row("freshness p50", ms(fresh["p50_ms"]), "ms")
    fresh_goal = f"<= {FRESHNESS_GOAL_MS:g}"
    row("freshness p99", ms(figures["freshness_p99_ms"]), "ms", fresh_goal)
    row("freshness: reflected", f"{fresh['reflected']:,} of {fresh['rounds']:,}", "events", "all")
    row("  on the first answer", f"{fresh['reflected_first_try']:,}", "events")
    row("  fallback not none", fallback_text(fresh["fallbacks"]), "answers", "0")
    row("  cache hits", cache_text(caches.get("freshness")))
    stages = ", ".join(f"{k} {v:g}" for k, v in fresh["stages_p50_ms"].items())
    row("  trace stages p50", stages or "n/a", "ms")
    return table

"""Serving benchmark: ``POST /v1/recommend`` against a bare Starlette floor, at a fixed rate,
and how fast an event shows in the next answer.

Why these figures: a bare Starlette app on the same uvicorn (one worker) that reads the body and
answers a fixed, pre-encoded 10-item recommend answer is the fastest any endpoint of this stack
can be (the floor). Relevo over that floor (the ratio) is what a decision costs on top: the key
check, decoding, the person's state, the hybrid model, policy, reasons and the trace, written
without blocking. Closed-loop throughput hides queueing, so latency is also measured open loop
at a fixed rate, from each request's scheduled send time (coordinated omission is not hidden).
Freshness is the time from an event's ack to the first answer whose trace shows that event.
A run with one request in flight gives the model path's own time, for reference.

The floor and recommend closed loops alternate, ``--rounds`` times each (floor, recommend,
floor, ...), each round ``--seconds / --rounds`` long, on two servers kept up side by side
(the one not measured is idle): these machines drift. The floor alone came out at 12.2k to
18.2k req/s from run to run, and at 10.4k to 13.9k within one run's half minute, while the
ratios of one run's rounds mostly stayed within 0.04 of each other (once 0.41 to 0.51). Each
figure sums its rounds; every round's own ratio is kept under ``details``. Each server's
event-loop thread is metered too (CPU per answer, from /proc): one worker is bound by that
thread, so the ratio of the two threads' CPU per answer tells a server that did more work per
answer from one whose loop sat waiting (for the GIL its other threads held, or for the client).
The CPU time the hypervisor gave to other guests meanwhile (``steal``) is reported per loop.

The same rounds are then run again with a client that never sleeps (its loop polls instead of
waiting in epoll). On these two-core virtual machines, a server's write to a sleeping client
also pays for waking it, in the server's own event-loop time, and a slower server finds its
client asleep more often: a first measurement gave recommend +32% and the floor +14% with the
client busy. That ratio (``details.busy_client``) is the servers' own work, wake-ups aside;
the headline ratio stays the one with an ordinary client.

Every measured answer is a decision of its own, with its trace written: the placement's answer
cache (an identical request within ``cache_ttl_s`` gets the same decision back, no new trace)
is turned off here, because the clients' 4,372 people come round again within its two seconds
once the server is fast. Decisions prepared for a person's unchanged state are reused (a new
decision and trace each time); their hit rate is printed with the other caches'.

An answer whose ``fallback`` is not "none" did not come from the model (a timeout, or the
circuit breaker, which then stays open 30 s): such answers are counted, and a run where most
fell back is flagged as not measuring the model path. So that one phase's breaker and backlog
never spill into the next, each Relevo phase runs on a freshly started, primed server.

The load generator is a raw asyncio HTTP/1.1 keep-alive client in its own process, so its CPU is
not billed to either server; its CPU share is reported, to show whether it was the bottleneck.
The parts (setup, client, floor, closed and open loops, freshness, report) are modules of
``benchmarks/serving/``; this file only runs them.
Goals (ratio >= 0.5 per worker, p99 <= 5 ms at 1,000 req/s, freshness p99 <= 50 ms) are
printed beside the figures, never asserted. Setup (a fresh temporary data dir, Online Retail or
synthetic data, every model trained) takes about a minute and a full run about four; talks
only to 127.0.0.1. ``--prepare-data-dir DIR`` keeps the set-up data dir, and
``--skip-setup-data-dir DIR`` serves it again (each run adds its 200 freshness events to it).

    .venv/bin/python benchmarks/serve.py [--json] [--data PATH] [--concurrency 32]
        [--seconds 15] [--rounds 3] [--rate 1000] [--rate-seconds 10]
        [--prepare-data-dir DIR | --skip-setup-data-dir DIR]
"""

from __future__ import annotations

from serving.cli import main

if __name__ == "__main__":
    main(__doc__)

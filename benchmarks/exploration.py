"""Exploration benchmark: what a placement's exploration draw costs each answer.

Why this figure: a reused answer costs about 25 µs in process, and every answer of an
exploring placement makes its own draw, so a draw of a few microseconds shows in the
placement's throughput. The floor is drawing the answer's decision id, which every answer does
anyway. The draw runs over a pool of ``POOL`` eligible items with ``k`` shown, as the decision
service does; at ``exploration`` 0 it returns at once.

    .venv/bin/python benchmarks/exploration.py [--json] [--answers 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from relevo.decide.ranking import POOL
from relevo.domain.decisions import new_decision_id
from relevo.domain.exploration import explore

K = 10
CHANCES = (0.0, 0.05, 0.3, 1.0)


def per_answer_us(answer: Callable[[str], object], ids: list[str]) -> float:
    """Microseconds per call of ``answer`` on each of ``ids``: the best of three passes."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for decision_id in ids:
            answer(decision_id)
        best = min(best, time.perf_counter() - started)
    return best / len(ids) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=50_000, help="answers per pass")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    pool = tuple(f"item-{n}" for n in range(POOL))
    ids = [new_decision_id("eu") for _ in range(args.answers)]
    floor = per_answer_us(lambda _: new_decision_id("eu"), ids)
    draws = {
        chance: per_answer_us(lambda d, e=chance: explore(d, list(pool[:K]), pool, e, K), ids)
        for chance in CHANCES
    }
    if args.json:
        print(
            json.dumps({"decision_id_us": floor, "draw_us": {str(e): d for e, d in draws.items()}})
        )
        return
    table = Table(title=f"Exploration draw per answer ({POOL} eligible, {K} shown)")
    for column in ("exploration", "µs per answer", "/ decision id"):
        table.add_column(column, justify="right")
    table.add_row("floor: decision id", f"{floor:.2f}", "1.00")
    for chance, draw in draws.items():
        table.add_row(f"{chance:g}", f"{draw:.2f}", f"{draw / floor:.2f}")
    Console(width=None if sys.stdout.isatty() else 100).print(table)


if __name__ == "__main__":
    main()

"""Exploration: which eligible item, if any, an answer shows in its last slot instead of the
model's choice."""

from __future__ import annotations

from hashlib import blake2b


def explore(
    decision_id: str, chosen: list[str], pool: tuple[str, ...], epsilon: float, k: int
) -> set[str]:
    """Epsilon-greedy over the last slot: with chance ``epsilon`` it shows an eligible item
    from beyond the top k instead, chosen at random. Both draws are read from one hash of the
    decision id, so a trace's draw can be made again from its id. A NumPy generator seeded per
    answer, with the pool scanned before the draw, was costly next to a reused answer; one
    hash, with the pool scanned only when the draw explores, is not
    (``benchmarks/exploration.py``).

    >>> pool, shown = ("a", "b", "c", "d"), ["a", "b"]
    >>> explore("d2", shown, pool, 1.0, 2), shown
    ({'d'}, ['a', 'd'])
    >>> explore("d2", ["a", "b"], pool, 0.0, 2)
    set()
    """
    if epsilon <= 0 or not chosen:
        return set()
    drawn = int.from_bytes(blake2b(decision_id.encode(), digest_size=16).digest())
    if (drawn >> 64) / 2**64 >= epsilon:
        return set()
    shown = set(chosen)
    rest = [i for i in pool if i not in shown]
    if not rest:
        return set()
    pick = rest[(drawn & (2**64 - 1)) % len(rest)]
    chosen[min(len(chosen), k) - 1] = pick
    return {pick}

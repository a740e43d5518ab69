"""Decision ids: unique within a process and across forked workers."""

from __future__ import annotations

import os

from relevo.domain.decisions import decision_region, new_decision_id


def test_ids_are_unique_and_name_their_region() -> None:
    ids = [new_decision_id("eu") for _ in range(5_000)]  # several batches of random parts
    assert len(set(ids)) == len(ids)
    assert {decision_region(i) for i in ids} == {"eu"}
    assert len({i[-14:] for i in ids}) == len(ids)


def test_a_forked_worker_draws_its_own_random_parts() -> None:
    new_decision_id("eu")  # the parent has random parts made ahead
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: its next id's random part, to the parent
        os.write(writing, new_decision_id("eu")[-14:].encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    theirs = os.read(reading, 64).decode()
    os.close(reading)
    assert len(theirs) == 14 and theirs != new_decision_id("eu")[-14:]

"""One answer shape for batch writes (events, items): a result per record.

200 when every record was taken, 207 when some were refused (the good ones beside them are
kept), and a 422 problem when all were refused, its ``errors`` pointing into the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from starlette.responses import Response

from relevo.api.http import Incoming, engine, json_response, malformed_body, read_body
from relevo.api.problems import Problem, problem_response, violation_entry
from relevo.decoding import malformed, split_array
from relevo.domain.violations import Violation


async def take_batch(
    request: Incoming, write: Callable[[list[msgspec.Raw]], Sequence[Any]]
) -> Response:
    """Read a batch body, split it and ``write`` its records, off the event loop (a hostile
    body can make the split slow), and answer with a result per record."""
    limit = engine(request).settings.max_batch_events
    body = await read_body(request)

    def split_and_write() -> Response:
        records, single = split_records(body, limit)
        return batch_response(write(records), single, request.scope["path"])

    return await asyncio.to_thread(split_and_write)


def batch_response(results: Sequence[Any], single: bool, path: str) -> Response:
    """``results`` are structs with ``index``, ``status`` and ``reasons``."""
    refused = [r for r in results if r.status == "rejected"]
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    body = {"counts": counts, "results": results}
    if not refused:
        return json_response(body)
    if len(refused) < len(results):
        return json_response(body, 207)
    errors = [
        violation_entry(v if single else v.under(f"/{r.index}")) for r in refused for v in r.reasons
    ]
    detail = "; ".join(f"{e['field'] or '(record)'}: {e['detail']}" for e in errors[:5])
    problem = Problem(
        422, detail, title="Every record was refused", results=msgspec.to_builtins(results)
    )
    problem.extensions["errors"] = errors
    return problem_response(problem, path)


def split_records(body: bytes, max_records: int) -> tuple[list[msgspec.Raw], bool]:
    """The records of a body holding one JSON object or an array of them, still undecoded:
    each is decoded, and refused, on its own, so one bad record never loses the others.

    An array the fast splitter refuses (a record too deep, or one that is not JSON) is split
    again by its brackets alone; only a body whose brackets do not balance is refused whole.
    """
    start = body.lstrip()[:1]
    if start == b"{":
        return [msgspec.Raw(body)], True
    if start != b"[":
        violation = Violation("", "type", "must be a JSON object or an array of objects")
        raise malformed_body([violation])
    try:
        records = msgspec.json.decode(body, type=list[msgspec.Raw])
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        split = split_array(body)
        if split is None:
            raise malformed_body([malformed(error)]) from None
        records = split
    if not records:
        raise Problem(
            422,
            "The batch is empty.",
            [Violation("", "min_items", "must hold at least one record")],
        )
    if len(records) > max_records:
        raise Problem(
            413,
            f"A batch may hold at most {max_records} records; got {len(records)}.",
            [Violation("", "max_items", f"must hold at most {max_records} records")],
        )
    return records, False

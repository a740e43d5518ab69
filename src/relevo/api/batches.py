"""One answer shape for batch writes (events, items): a result per record.

200 when every record was taken, 207 when some were refused (the good ones beside them are
kept), and a 422 problem when all were refused, its ``errors`` pointing into the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.responses import Response

from relevo.api.http import json_response
from relevo.api.problems import Problem, problem_response, violation_entry


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
    """The records of a body holding one JSON object or an array of them, still undecoded."""
    start = body.lstrip()[:1]
    if start == b"{":
        return [msgspec.Raw(body)], True
    if start != b"[":
        raise Problem(400, "The body must be a JSON object or an array of objects.")
    try:
        records = msgspec.json.decode(body, type=list[msgspec.Raw])
    except msgspec.DecodeError as error:
        raise Problem(400, f"The body is not valid JSON: {error}") from None
    if not records:
        raise Problem(422, "The batch is empty.")
    if len(records) > max_records:
        raise Problem(413, f"A batch may hold at most {max_records} records; got {len(records)}.")
    return records, False

"""The trace of a decision: what it read, what each stage did, what it showed and why.

A decision worked out once is shown many times (``prepared``); what all its answers share is
traced and encoded once (``SharedTrace``), and each answer adds only its own part (its id, its
time, its stage timings, its draw when it explores), written without blocking (``Record``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from relevo.decide.asking import Asking
from relevo.domain.decisions import AnswerPart, DecisionRequest, FilterReport, Trace
from relevo.domain.person_state import PersonState
from relevo.domain.policy import Audience
from relevo.ports import EncodedTrace, SharedTrace

TRACED_SESSIONS = 3

Record = Callable[[str, str, EncodedTrace], None]
"""Writes a trace for (tenant, region), without blocking (the decision log)."""


def request_record(request: DecisionRequest) -> dict:
    """The request as the trace keeps it: person ids left out (the trace holds the pseudonym)."""
    body = msgspec.to_builtins(request)
    for name in ("user_id", "anonymous_id", "session_id"):
        body.pop(name, None)
    return body


def person_record(state: PersonState, audience: Audience) -> dict[str, Any]:
    """The person's state as the trace keeps it: the online features the decision read (how
    old each was is each answer's own: the trace's ``feature_age_s``)."""
    attributes = state.attributes
    return {
        "recent_items": tuple(r.item_id for r in state.recent),
        "sessions": tuple(
            {"session_id": s.session_id, "items": tuple(s.item_ids)}
            for s in state.sessions[:TRACED_SESSIONS]
        ),
        "affinities": state.affinities,
        "counters": state.counters,
        "age_known": audience.age is not None,
        "segments": () if attributes is None else tuple(attributes.segments),
    }


def prepared_trace(
    asking: Asking,
    state: PersonState,
    audience: Audience,
    model_version: str,
    fallback: str,
    shown: Shown,
    filters: list[FilterReport],
) -> Trace:
    """The trace every answer of a decision worked out now shares (``decision_id``, time and
    stages are each answer's own: ``answer_trace``)."""
    return Trace(
        decision_id="",
        at=asking.now,
        placement=asking.request.placement,
        person=asking.person or "",
        region=asking.region,
        strategy=asking.request.placement,
        model=model_version,
        variant="control",
        fallback=fallback,
        request=request_record(asking.request),
        person_state=person_record(state, audience),
        sources={i: shown.sources.get(i, ()) for i in shown.items},
        filters=filters,
        scores={i: shown.scores.get(i, 0.0) for i in shown.items},
        stages_ms={},
        items=shown.items,
        reasons=dict(shown.reasons),
    )


class Shown(msgspec.Struct, frozen=True):
    """What a decision shows: items in order, with their scores, sources and reasons."""

    items: list[str]
    scores: Mapping[str, float]
    sources: Mapping[str, tuple[str, ...]]
    reasons: Mapping[str, tuple[str, ...]]


def answer_trace(
    asking: Asking,
    traced: Trace,
    shared: SharedTrace,
    changed_us: tuple[tuple[str, int], ...],
    decision_id: str,
    explored: Shown | None,
    contributions: dict[str, list[dict[str, Any]]],
) -> tuple[EncodedTrace, Trace | None]:
    """One answer's trace, encoded for the log: its own part beside the shared one, or whole
    when exploration changed what it shows. The whole trace is also returned when the caller
    asked to see it (``explain``) or it explored."""
    now_us = asking.now_us
    # The features' ages are left out: they follow from ``now`` and the change times kept
    # in the shared part (``decoded_trace``).
    part = AnswerPart(decision_id, asking.now, asking.stages, contributions, {})
    if explored is None and not asking.request.explain:
        return EncodedTrace.answer(part, shared, now_us), None
    whole = msgspec.structs.asdict(part)
    whole["feature_age_s"] = {name: round((now_us - at) / 1e6, 3) for name, at in changed_us}
    if explored is not None:  # what was shown differs from what the prepared trace says
        whole |= {
            "sources": {i: explored.sources.get(i, ()) for i in explored.items},
            "scores": {i: explored.scores.get(i, 0.0) for i in explored.items},
            "items": explored.items,
            "reasons": explored.reasons,
        }
    trace = msgspec.structs.replace(traced, **whole)
    if explored is not None:
        return EncodedTrace.of(trace), trace
    return EncodedTrace.answer(part, shared, now_us), trace

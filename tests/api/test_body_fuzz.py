"""Fuzzing the one decoding step: arbitrary bytes, deep structures, broken UTF-8 and numbers
beyond a float, to every endpoint that reads a body. The answer is always a 2xx, or a 4xx
problem; the decoder itself only ever returns violations."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevo.decoding import InvalidInput, decode, parse
from relevo.domain.decisions import DecisionRequest
from relevo.domain.events import Event
from relevo.domain.items import Item
from tests.api.test_hardening import BODY_ENDPOINTS, send

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)
FIELDS = st.sampled_from(
    ["user_id", "userId", "event_id", "type", "occurred_at", "item_id", "k", "context",
     "properties", "placement", "candidates", "value", "price", "title", "schema", "version"]
)  # fmt: skip
RECORDS = st.dictionaries(FIELDS, VALUES, max_size=6)


@st.composite
def deep(draw) -> bytes:
    """An object or array nested from 1 to 3,000 deep."""
    depth = draw(st.integers(1, 3000))
    opener, closer = draw(st.sampled_from([(b'{"a": ', b"}"), (b"[", b"]")]))
    return opener * depth + b"1" + closer * depth


@st.composite
def broken(draw) -> bytes:
    """A valid record with one byte replaced: invalid UTF-8, a quote, a bracket."""
    body = bytearray(msgspec.json.encode(draw(RECORDS)))
    at = draw(st.integers(0, len(body) - 1))
    body[at] = draw(st.sampled_from([0xFF, 0xC3, 0x80, ord('"'), ord("{"), ord("]")]))
    return bytes(body)


NUMBERS = st.sampled_from([b"1e400", b"-1e999", b"123456789012345678901234567890", b"19.0", b"NaN"])
BODIES = st.one_of(
    st.binary(max_size=200),
    RECORDS.map(msgspec.json.encode),
    st.lists(RECORDS, max_size=5).map(msgspec.json.encode),
    deep(),
    broken(),
    NUMBERS.map(lambda n: b'{"k": ' + n + b', "value": ' + n + b', "price": ' + n + b"}"),
    st.lists(st.one_of(RECORDS.map(msgspec.json.encode), deep(), broken()), max_size=4).map(
        lambda parts: b"[" + b", ".join(parts) + b"]"
    ),
)


@pytest.mark.parametrize("kind", [Event, Item, DecisionRequest])
@settings(max_examples=300, deadline=None)
@given(body=BODIES)
def test_the_decoder_only_ever_returns_violations(kind, body) -> None:
    found, violations = decode(body, kind)
    assert (found is None) == bool(violations)
    assert all(v.rule and v.detail for v in violations)
    try:
        parse(body)
    except InvalidInput as error:
        assert error.violations and error.violations[0].rule


@pytest.mark.parametrize(("scope", "method", "path"), BODY_ENDPOINTS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_every_body_gets_a_2xx_or_a_4xx_problem(account, scope, method, path, body) -> None:
    response = send(account, scope, method, path, body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code

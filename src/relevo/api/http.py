"""Request and response helpers shared by the endpoints: keys, bodies, JSON."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from relevo.api.problems import Problem
from relevo.bootstrap import Relevo
from relevo.decoding import InvalidInput, parse
from relevo.domain.decisions import encode_hook
from relevo.domain.tenants import ApiKey, Scope, Tenant
from relevo.domain.violations import Violation


class Incoming(Protocol):
    """What these helpers read of a request: a Starlette ``Request``, or the lighter one the
    hot routes make (``hot_routes.HotRequest``)."""

    @property
    def scope(self) -> AsgiScope: ...
    @property
    def app(self) -> Any: ...
    @property
    def receive(self) -> Receive: ...


def engine(request: Incoming) -> Relevo:
    return request.app.relevo


_encoder = msgspec.json.Encoder(enc_hook=encode_hook)
_JSON = (b"content-type", b"application/json")


class JSONAnswer(Response):
    """A JSON response with its two headers made directly, where Starlette's ``Response``
    works them out from the media type and body each time (docs/performance.md).

    >>> JSONAnswer(b'{"a":1}', 201).raw_headers
    [(b'content-length', b'7'), (b'content-type', b'application/json')]
    """

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _JSON]

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        """The two messages, with none of ``Response``'s checks for websockets, background
        tasks and the like, which a JSON answer never has."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


def json_response(content: Any, status: int = 200) -> Response:
    return JSONAnswer(_encoder.encode(content), status)


def header(request: Incoming, name: bytes) -> str | None:
    """A request header (``name`` in lower case), read from the ASGI scope: Starlette's
    ``Headers`` is built and searched with the name re-encoded on every lookup, which the
    decision routes would pay on every request."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def authorize(request: Incoming, scope: Scope) -> tuple[ApiKey, Tenant]:
    """The key and tenant of the request, if its Bearer key is valid and has ``scope``."""
    scheme, _, secret = (header(request, b"authorization") or "").partition(" ")
    secret = secret.strip()
    if not secret or scheme.lower() != "bearer":
        raise Problem(401, "Send an API key as 'Authorization: Bearer <key>'.")
    found = engine(request).tenancy.authenticate(secret)
    if found is None:
        raise Problem(401, "This API key is unknown or revoked.")
    if not found[0].allows(scope):
        raise Problem(403, f"This API key lacks the '{scope.value}' scope.")
    return found


async def read_body(request: Incoming) -> bytes:
    """The body, refused early (413) past the configured limit, and refused if not JSON.
    Read from the ASGI messages themselves (Starlette's ``stream`` is an async generator
    around the same); no endpoint reads a body twice. A body in one message (the usual case)
    is returned as it came."""
    limit = engine(request).settings.max_body_bytes
    content_type = declared = None
    for key, value in request.scope["headers"]:  # one pass for both headers
        if key == b"content-type" and content_type is None:  # the first, as ``header``
            content_type = value.decode("latin-1")
        elif key == b"content-length" and declared is None:
            declared = value
    if content_type is not None and "json" not in content_type:
        raise Problem(415, f"Send JSON (Content-Type: application/json), not {content_type}.")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"The body may be at most {limit} bytes.")
    chunks, size = [], 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"The body may be at most {limit} bytes.")
        if not message.get("more_body", False):
            if not chunks:
                return chunk
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def parse_json(body: bytes) -> Any:
    """The body as builtin objects, or a 400 problem naming the rule it breaks."""
    try:
        return parse(body)
    except InvalidInput as error:
        raise malformed_body(error.violations) from None


def malformed_body(violations: list[Violation]) -> Problem:
    """The 400 problem for a body that cannot be read as JSON (``decoding.MALFORMED_RULES``)."""
    return Problem(400, f"The body {violations[0].detail}.", violations, "Malformed body")


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in ``[low, high]``, written in ASCII digits only: ``int()``
    would also take "²" or "٣", which ``str.isdigit`` lets through."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise Problem(
            422,
            f"Query parameter '{name}' must be an integer from {low} to {high}.",
            [Violation(f"/query/{name}", "range", f"must be an integer from {low} to {high}")],
        )
    return int(text)

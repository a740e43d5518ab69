"""The load generator's HTTP client: raw HTTP/1.1 over keep-alive connections, pre-encoded
requests, and just enough decoding of an answer to check it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec

from serving.common import HOST

REQUEST_TIMEOUT_S = 30.0  # an answer that takes longer counts as none (status 0)
T = TypeVar("T")


class Connection:
    """One keep-alive HTTP/1.1 connection that sends pre-encoded requests, one at a time.

    Far less work per request than a general client, so that the client process is not what
    limits the floor. It reads ``Content-Length`` and chunked bodies, and reconnects after an
    error or ``Connection: close``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(HOST, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader, self.writer = reader, writer
        return reader, writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; its status and body (status 0 and the error if it failed)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await self._exchange(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()  # TimeoutError is an OSError
            return 0, f"{type(e).__name__}: {e}".encode()

    async def _exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            reader, writer = await self._open()
        else:
            reader, writer = self.reader, self.writer
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        code = int(head[9:12])
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            body = await self._chunks(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body, close = await reader.read(), True
        if close:
            self.close()
        return code, body

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)


def http_request(port: int, path: str, key: str, body: bytes = b"", method: str = "POST") -> bytes:
    """A complete pre-encoded request (a POST carries a JSON body)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


# --- what the client reads of an answer ---------------------------------------------------


class PersonState(msgspec.Struct):
    recent_items: list[str] = []


class TraceView(msgspec.Struct):
    person_state: PersonState = msgspec.field(default_factory=PersonState)
    stages_ms: dict[str, float] = {}


class AnswerView(msgspec.Struct):
    """The part of a recommend answer the client checks (unknown fields are skipped)."""

    fallback: str = ""
    took_ms: float | None = None  # the server's own time for the decision
    trace: TraceView | None = None


ANSWER = msgspec.json.Decoder(AnswerView)


def read_answer(body: bytes) -> tuple[str, float | None]:
    """An answer's fallback and ``took_ms``."""
    try:
        answer = ANSWER.decode(body)
    except msgspec.DecodeError:
        return "(not JSON)", None
    return answer.fallback or "(missing)", answer.took_ms


def fallback_of(body: bytes) -> str:
    return read_answer(body)[0]


# --- the client's event loop --------------------------------------------------------------


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when it is installed (less client overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(make())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(make())


def loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"

"""A real HTTP server (uvicorn, in a thread) over a real engine, for the API tests."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from relevo.api.app import create_app
from relevo.api.hot_routes import HotRoutes
from relevo.bootstrap import Relevo, build
from relevo.domain.tenants import Scope, Tenant
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    relevo: Relevo
    app: HotRoutes

    @property
    def openapi(self) -> dict[str, Any]:
        return httpx.get(self.url + "/openapi.json").json()


@contextmanager
def running(relevo: Relevo, ready: bool = True) -> Iterator[Server]:
    """A uvicorn server over ``relevo`` in a thread, once it listens (and, if ``ready``, once
    ``/readyz`` says so: the decision path is warm); stopped on exit."""
    port = free_port()
    app = create_app(relevo)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not instance.started or (ready and httpx.get(url + "/readyz").status_code != 200):
        if time.monotonic() > deadline:
            raise RuntimeError("the test server was not ready within 10 s")
        time.sleep(0.02)
    try:
        yield Server(url, relevo, app)
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


HYBRID_PLACEMENT = {"default": {"model": "hybrid"}}
"""The API's tests train the hybrid alone and ask for it by name; ``auto`` has tests of its own."""


def fresh_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """A server over a new engine in a new data directory, closed after."""
    data_dir = Path(tmp_path_factory.mktemp(name)) / "data"
    relevo = build(make_settings(data_dir, placements=HYBRID_PLACEMENT))
    with running(relevo) as started:
        yield started
    relevo.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from fresh_server(tmp_path_factory, "api")


_names = itertools.count()


@dataclass
class Account:
    """A fresh tenant with a client per scope."""

    tenant: Tenant
    admin: httpx.Client
    ingest: httpx.Client
    serve: httpx.Client
    keys: dict[str, str]


@pytest.fixture
def account(server: Server) -> Iterator[Account]:
    tenant, admin_key = server.relevo.tenancy.create_tenant(f"t{next(_names)}", ["eu", "us"])
    keys = {"admin": admin_key}
    for scope in (Scope.INGEST, Scope.SERVE):
        keys[scope.value] = server.relevo.tenancy.create_key(tenant.tenant_id, [scope])[1]
    clients = {
        name: httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        for name, key in keys.items()
    }
    yield Account(tenant, clients["admin"], clients["ingest"], clients["serve"], keys)
    for client in clients.values():
        client.close()

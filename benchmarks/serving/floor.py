"""The floor: a bare Starlette app on the same uvicorn (one worker, its own process) that reads
the body and answers fixed bytes shaped like a 10-item recommend answer. No endpoint of this
stack can be faster; Relevo's throughput is reported over it."""

from __future__ import annotations

import multiprocessing
from contextlib import ExitStack
from multiprocessing.process import BaseProcess

import msgspec

from processes import free_port
from serving.common import HOST, K
from serving.servers import wait_healthy


def floor_answer() -> bytes:
    """A fixed answer shaped like a recommend answer with 10 items."""
    items = [
        {"item_id": f"item-{n}", "score": round(1 - n / 20, 6), "reasons": ["Popular"]}
        for n in range(K)
    ]
    return msgspec.json.encode(
        {
            "decision_id": "uk.floor-benchmark-decision",
            "items": items,
            "strategy": "default",
            "model_version": "hybrid:1",
            "variant": "control",
            "fallback": "none",
            "took_ms": 0.1,
        }
    )


def run_floor_server(port: int) -> None:
    """A bare Starlette app, one POST endpoint that reads the body and answers fixed bytes."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    answer = floor_answer()

    async def recommend(request: Request) -> Response:
        await request.body()
        return Response(answer, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/recommend", recommend, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host=HOST, port=port, workers=1, log_level="warning", access_log=False)


def start_floor(stack: ExitStack) -> tuple[int, BaseProcess]:
    """The floor server in a spawned process, stopped when ``stack`` closes."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=run_floor_server, args=(port,), name="floor-server", daemon=True
    )
    process.start()
    stack.callback(stop_process, process)
    wait_healthy(port, process.is_alive, lambda: f"exit code {process.exitcode}")
    return port, process


def stop_process(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
        process.join()

"""``GET /openapi.json`` and ``GET /docs``: the API's own description, made once per app
(``RelevoApp.openapi_document``: it states the limits and placements configured)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relevo.api.http import json_response

DOCS_HTML = """<!doctype html>
<html><head><title>Relevo API</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


async def get_openapi(request: Request) -> Response:
    return json_response(request.app.openapi_document)


async def get_docs(request: Request) -> Response:
    return HTMLResponse(DOCS_HTML)

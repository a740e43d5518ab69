"""The HTTP API (v1): a thin Starlette layer over the services, JSON by msgspec."""

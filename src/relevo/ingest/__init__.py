"""Ingest: from a sent event to a durable log entry and the derived state it implies."""

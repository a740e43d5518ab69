"""The catalog of items a tenant offers."""

"""Relevo's domain: plain typed value objects and pure rules, with no I/O and no framework.

Value objects are ``msgspec.Struct``s: passive, typed records like dataclasses, chosen so the
wire contract and the domain contract are one definition (no drifting copy) and an event is
decoded straight into its object, with no intermediate dicts.
"""

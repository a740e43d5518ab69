"""Offline evaluation: hold out part of the interactions, then score the rankings models give."""

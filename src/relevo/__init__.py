"""Relevo: a self-hostable, real-time, privacy-first personalization engine."""

__version__ = "0.1.0"

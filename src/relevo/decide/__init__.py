"""Decisions: answering "what should this person see now?" within a time budget, safely."""

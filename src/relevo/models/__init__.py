"""Models: one small interface (fit, score, explain, save/load) and its implementations."""

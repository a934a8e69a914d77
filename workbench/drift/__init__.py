"""Drift: Evidently-compatible verdicts on data of any size, validation, history."""

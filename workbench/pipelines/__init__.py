"""Pipelines: notebooks and steps promoted from a pilot into a scheduled, gated DAG."""

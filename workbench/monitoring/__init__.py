"""Monitoring: drift (Evidently-compatible verdicts on data of any size), data validation,
concept drift, and the history of checks in MLflow."""

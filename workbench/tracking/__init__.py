"""The MLflow seam: every call into MLflow goes through this package."""

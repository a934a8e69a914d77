"""Governance a tracking server enforces: the `workbench` MLflow server app (basic auth plus
governance endpoints and a guard on governed registry state), the client that finds and calls
those endpoints, the policy rules, logins and alerts."""

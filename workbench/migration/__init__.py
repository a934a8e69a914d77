"""`workbench migrate`: the embedded store copied to a tracking server, verifiably and safely
re-runnable. `migrate` orchestrates; `runs` copies experiments, runs and logged models,
`models` the registry and its promotion history, `verify` compares the two stores, `ids` maps
the ids the target gave to the ones the source had."""

from workbench.migration.migrate import migrate

__all__ = ["migrate"]

"""Training on Dask: specs, the worker-side runner, jobs, sweeps and DDP."""

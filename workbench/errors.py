"""Errors a user sees. Each message is one line that names the problem and the fix."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class ConfigError(WorkbenchError):
    """Bad input from the user: parameters, data, function references."""


class UnreachableError(WorkbenchError):
    """A service (tracking server, dask scheduler) could not be reached."""


class JobCancelled(WorkbenchError):
    """Raised inside a train function when its job was cancelled."""


class JobFailed(WorkbenchError):
    """A job ended without a result (its worker died too often, or it was cancelled)."""


class PipelineFailed(WorkbenchError):
    """A pipeline step failed; the message names the step, the cell and the error."""


class PromotionRefused(WorkbenchError):
    """A gate failed: nothing was moved. The message lists the failing gates."""


class PromotionConflict(WorkbenchError):
    """The champion moved since the promotion started: nothing was moved."""

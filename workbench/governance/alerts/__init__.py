"""Governance alerts: each governance event (a request waiting, an approval, a champion moved, a
rollback, a lock broken, a policy change) goes to the team's channels (signed webhook, Slack,
Teams, email) from background threads, with retries, never slowing or failing the action."""

from workbench.governance.alerts.delivery import Dispatcher, dispatcher, notify
from workbench.governance.alerts.messages import describe, render
from workbench.governance.alerts.targets import ACTIONS, ENV, KINDS, Target, load_targets, redact

__all__ = ["ACTIONS", "ENV", "KINDS", "Dispatcher", "Target", "describe", "dispatcher",
           "load_targets", "notify", "redact", "render"]

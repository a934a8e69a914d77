"""The promotion dashboard: pick a model, see its champion, pending requests and history, and
decide: approve or decline a request, roll the champion back, as the signed-in person (with
their own tracking-server login where the dashboard checked it there).

Served by `workbench dashboard` at /promotion (`panel serve apps/promotion`: a directory app).
Store calls run in a thread (`asyncio.to_thread`): the server's event loop never waits on them.
"""

from __future__ import annotations

import asyncio

import panel as pn

from workbench_apps.promotion import data_store, views
from workbench_apps.session import (
    ModelPage,
    app_template,
    pick_from_url,
    signed_in,
    unreadable,
)


class PromotionPage(ModelPage):
    """One browser session's page; `actions` False for a read-only view (inline, no login)."""

    def __init__(self, *, actions: bool = True, model: str | None = None) -> None:
        self.actions = actions
        super().__init__(data_store.models(), model)

    async def refresh(self, _: object = None) -> None:
        model = self.choice.value
        if not model:
            self.body.objects = [pn.pane.HTML(
                "<p>No registered models yet: promote one with <code>workbench promote MODEL "
                "--run RUN_ID --approver WHO --reason WHY</code>.</p>")]
            return
        try:
            data = await asyncio.to_thread(data_store.summary, model)
        except Exception as exc:  # the store is gone: say so; Refresh reads again
            self.banner.object = views.banner(False, unreadable(exc))
            return
        self.banner.object = ""
        decide = self.decide if self.actions else None
        roll_back = self.roll_back if self.actions else None
        self.body.objects = [views.champion_card(model, data, roll_back),
                             views.pending_view(model, data, decide), views.timeline(data),
                             views.history_table(data),
                             views.dossier_picker(data["versions"], self.dossier)]

    async def dossier(self, version: str) -> str:
        return await asyncio.to_thread(data_store.dossier_page, str(self.choice.value), version)

    async def decide(self, request_id: str, decision: str, reason: str) -> bool:
        outcome = await asyncio.to_thread(data_store.decide, request_id, decision,
                                          who=signed_in(), reason=reason)
        return await self._show(outcome)

    async def roll_back(self, to_version: str, reason: str) -> bool:
        model = str(self.choice.value)
        outcome = await asyncio.to_thread(data_store.roll_back, model, to_version,
                                          who=signed_in(), reason=reason)
        return await self._show(outcome)

    async def _show(self, outcome: data_store.Outcome) -> bool:
        if outcome.ok:
            await self.refresh()  # first: the banner speaks of the page as it now is
        self.banner.object = views.banner(outcome.ok, outcome.message)
        return outcome.ok

    def layout(self) -> pn.Column:
        return pn.Column(self.banner, self.body, sizing_mode="stretch_width")


def create_app() -> pn.template.BaseTemplate:
    page = PromotionPage()
    pick_from_url(page.choice)  # /promotion?model=NAME, as the cockpit links
    return app_template("promotion", page.layout(), sidebar=[page.choice, page.refresh_button],
                        onload=page.refresh)


if __name__.startswith("bokeh"):
    create_app().servable()

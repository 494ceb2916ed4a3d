"""The Health page's list of recent failed sign-ins (admins only): when, from where, why, and
which token id or user name it named. Never a secret: the guard keeps none."""

from __future__ import annotations

import time

from nicegui import ui

from appliance.services.auth_guard import AuthGuard, FailedSignIn

SHOWN = 20
REASONS = {
    "bad_token": "wrong token",
    "bad_signature": "bad signed URL",
    "bad_code": "bad sign-in link",
    "bad_password": "wrong password",
}


def describe(failure: FailedSignIn) -> list[str]:
    """Time, address, reason, who: one row of the list."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(failure.at))
    who = failure.user or (f"token {failure.token_id}" if failure.token_id else "–")
    return [when, failure.client, REASONS.get(failure.reason, failure.reason), who]


class FailedSignIns:
    def __init__(self, guard: AuthGuard) -> None:
        self._guard = guard
        self._shown: list[FailedSignIn] | None = None
        with ui.card().classes("w-full").mark("failed-sign-ins"):
            ui.label("Failed sign-ins").classes("font-medium")
            self.body = ui.column().classes("w-full gap-1")
        self.update()

    def update(self) -> None:
        failures = self._guard.recent()[:SHOWN]
        if failures == self._shown:
            return
        self._shown = failures
        self.body.clear()
        with self.body:
            if not failures:
                ui.label("None since the service started.").classes("text-sm text-gray-500")
                return
            with ui.grid(columns=4).classes("w-full gap-x-4 gap-y-1 text-sm"):
                for header in ("Time", "Address", "Reason", "Token or user"):
                    ui.label(header).classes("text-xs text-gray-500")
                for failure in failures:
                    for text in describe(failure):
                        ui.label(text).mark("failed-sign-in")

"""Change my password: asked of a user who must (the first admin, or after an admin reset
it), and open to any signed-in user from the account menu. While the change is owed, every
other page comes back here (ui/dashboard.py). This session goes on afterwards; the user's
other sessions end."""

from __future__ import annotations

from nicegui import run, ui

from appliance.auth.audit import audited_call
from appliance.errors import ApplianceError
from ui import session
from ui.context import Dashboard
from ui.pages.login import safe_next


def password_page(dash: Dashboard, next_path: str | None) -> None:
    signed = session.current(dash)
    ui.page_title(f"Change password · {dash.device_name}")
    ui.colors(primary="#0f766e")
    with ui.column().classes("absolute-center items-center gap-4 w-[420px] max-w-full p-4"):
        ui.label(dash.device_name).classes("text-2xl font-semibold")
        with ui.card().classes("w-full gap-3"):
            if signed is None or signed.user is None:
                ui.label("Only a user signed in with a password has one to change.")
                ui.button("Back", on_click=lambda: ui.navigate.to("/")).mark("back")
                return
            _form(dash, signed, safe_next(next_path))


def _form(dash: Dashboard, signed: session.Session, target: str) -> None:
    ui.label(f"Change the password of {signed.user}").classes("text-lg font-medium")
    if signed.must_change:
        ui.label("Choose your own password before going on.").classes("text-sm").mark("must-change")
        old = None
    else:
        old = _secret("Current password", "current-password")
    new = _secret("New password", "new-password")
    again = _secret("New password again", "repeat-password")
    problem = ui.label("").classes("text-sm text-negative").mark("password-problem")

    async def change() -> None:
        problem.set_text(await _change(dash, signed, old, new.value, again.value))
        if not problem.text:
            ui.notify("Password changed", type="positive")
            ui.navigate.to(target)

    def sign_out() -> None:
        session.sign_out(dash)
        ui.navigate.to("/login")

    again.on("keydown.enter", change)
    ui.button("Change password", on_click=change).classes("w-full").mark("change-password")
    with ui.row().classes("w-full justify-end gap-2"):
        if not signed.must_change:
            ui.button("Cancel", on_click=lambda: ui.navigate.to(target)).props("flat no-caps")
        ui.button("Sign out", on_click=sign_out).props("flat no-caps").mark("password-sign-out")


async def _change(
    dash: Dashboard, signed: session.Session, old: ui.input | None, new: str, again: str
) -> str:
    """Why the change was refused, or "" once it is made."""
    auth, name = dash.services.auth, signed.user or ""
    if session.current(dash) is None:
        return "You were signed out: sign in again"
    if new != again:
        return "The two new passwords differ"
    who, pair = session.actor(dash), (session.client_address(dash), name)
    if old is not None:
        try:
            auth.guard.check(pair)  # the current password is guessed like any other
        except ApplianceError as exc:
            return exc.message
        if await run.io_bound(auth.check_password, name, old.value) is None:
            auth.guard.failed(pair, "bad_password", user=name, path="/account/password")
            return "The current password is wrong"
    changing = run.io_bound(auth.change_password, name, new, keep_session=session.session_id())
    try:
        await audited_call("user.passwd", who, changing, target=name)
    except ApplianceError as exc:  # too short, or the user is gone
        return exc.message
    return ""


def _secret(label: str, marker: str) -> ui.input:
    field = ui.input(label, password=True, password_toggle_button=True)
    autocomplete = "current-password" if marker == "current-password" else "new-password"
    field.props(f'autocomplete="{autocomplete}"').classes("w-full").mark(marker)
    return field

"""The dialog that adds a dashboard user, or sets a new password for one (Users page)."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import run, ui

from appliance.auth.audit import audited_call
from appliance.auth.scopes import Scope
from ui import session
from ui.context import Dashboard
from ui.feedback import run_action

ROLES = {s.label: s.label for s in Scope}


def user_dialog(
    dash: Dashboard, container: ui.element, on_done: Callable[[], None], name: str | None = None
) -> None:
    """`name` None: add a user (name, role, password); else a new password for `name`."""
    with container.clear(), ui.dialog(value=True) as dialog, ui.card().classes("w-[400px]"):
        ui.label("Add a user" if name is None else f"New password for {name}").classes(
            "text-lg font-medium"
        )
        new_name = role = None
        if name is None:
            new_name = ui.input("Name").classes("w-full").mark("user-name")
            role = ui.select(ROLES, value=Scope.VIEWER.label, label="Role")
            role.classes("w-full").mark("user-role")
        password = _secret("Password", "user-password")
        again = _secret("Password again", "user-password-again")
        must_change = ui.checkbox("Ask for a new password at the next sign-in", value=True)
        must_change.mark("user-must-change")
        problem = ui.label("").classes("text-sm text-negative").mark("user-problem")

        async def save() -> None:
            if not session.ensure(dash, Scope.ADMIN):
                return
            if password.value != again.value:
                problem.set_text("The two passwords differ")
                return
            auth, secret, change = dash.services.auth, password.value, bool(must_change.value)
            who = session.actor(dash)
            if name is None:
                assert new_name is not None and role is not None
                target = new_name.value.strip().lower()
                adding = run.io_bound(auth.add_user, new_name.value, role.value, secret, change)
                work = audited_call("user.add", who, adding, target=target, role=role.value)
                done = f"Added {target}"
            else:
                keep = session.session_id()  # an admin setting their own: still signed in
                setting = run.io_bound(
                    auth.change_password, name, secret, must_change=change, keep_session=keep
                )
                work = audited_call("user.passwd", who, setting, target=name)
                done = f"New password set for {name}"
            ok, _ = await run_action(work, busy="Saving", done=done)
            if ok:
                dialog.close()
                on_done()

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Save", on_click=save).mark("user-save")


def _secret(label: str, marker: str) -> ui.input:
    field = ui.input(label, password=True, password_toggle_button=True)
    field.props('autocomplete="new-password"').classes("w-full").mark(marker)
    return field

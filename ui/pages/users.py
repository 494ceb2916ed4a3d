"""Users (admins only): who may sign in to the dashboard with a password, and with which
role; add one, change a role, set a new password, remove one. A change ends that user's
sessions at once. The same file `appliance user …` changes: its changes show up here too."""

from __future__ import annotations

import time

from nicegui import run, ui

from appliance.auth.audit import audited_call
from appliance.auth.scopes import Scope
from appliance.auth.users import UserInfo
from ui import session
from ui.components.confirm import confirm
from ui.components.user_dialog import ROLES, user_dialog
from ui.context import Dashboard
from ui.feedback import run_action
from ui.layout import page_frame


def users_page(dash: Dashboard) -> None:
    auth = dash.services.auth
    with page_frame(dash, "Users", "/users"):
        if not session.can(dash, Scope.ADMIN):
            ui.label("Only admins manage users.").mark("admins-only")
            return
        ui.label(
            "People sign in to the dashboard with a name and a password; programs use API "
            "tokens (`appliance token …`). Viewers watch, operators also change cameras, "
            "admins also manage models and users."
        ).classes("text-sm text-gray-500")
        dialogs = ui.element()  # outside the list that is rebuilt
        shown: list[UserInfo] = []

        @ui.refreshable
        def user_list() -> None:
            shown[:] = auth.list_users()
            with ui.column().classes("w-full gap-2"):
                for info in shown:
                    _user_row(dash, info, user_list.refresh, dialogs)

        def follow_changes() -> None:
            if auth.list_users() != shown:  # the CLI, or another admin
                user_list.refresh()

        ui.button(
            "Add user",
            icon="person_add",
            on_click=lambda: user_dialog(dash, dialogs, user_list.refresh),
        ).mark("add-user")
        user_list()
        ui.timer(2.0, follow_changes)


def _user_row(dash: Dashboard, info: UserInfo, refresh, dialogs: ui.element) -> None:
    auth, name = dash.services.auth, info.name
    with (
        ui.card().classes("w-full").mark(f"user-row-{name}"),
        ui.row().classes("w-full items-center gap-4"),
    ):
        ui.icon("person").classes("text-xl")
        ui.label(name).classes("font-medium min-w-[140px]")

        async def change_role(event) -> None:
            if event.value == info.role.label or not session.ensure(dash, Scope.ADMIN):
                return
            who = session.actor(dash)
            work = audited_call(
                "user.role", who, run.io_bound(auth.set_role, name, event.value), target=name
            )
            await run_action(work, busy="Saving", done=f"{name} is now {event.value}")
            refresh()  # back to the stored role when it was refused

        role = ui.select(ROLES, value=info.role.label, on_change=change_role)
        role.props("dense outlined").classes("w-32").mark(f"user-role-{name}")
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        ui.label(f"since {created}").classes("text-sm text-gray-500 flex-1")
        if info.must_change:
            ui.badge("must change password", color="warning").mark(f"must-change-{name}")

        async def remove() -> None:
            if not session.ensure(dash, Scope.ADMIN):
                return
            question = f"Remove {name}? Their sessions end at once."
            if not await confirm(question, "Remove", marker="confirm-remove"):
                return
            work = audited_call(
                "user.remove",
                session.actor(dash),
                run.io_bound(auth.remove_user, name),
                target=name,
            )
            ok, _ = await run_action(work, busy="Removing", done=f"Removed {name}")
            if ok:
                refresh()

        ui.button(
            "New password", icon="key", on_click=lambda: user_dialog(dash, dialogs, refresh, name)
        ).props("flat no-caps").mark(f"user-password-{name}")
        ui.button(icon="delete", on_click=remove).props("flat round color=negative").mark(
            f"user-remove-{name}"
        ).tooltip("Remove")

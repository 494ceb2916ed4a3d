"""The frame every page shares: header with device name, status light and navigation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, ui

from appliance.auth.scopes import Scope
from ui import session
from ui.context import Dashboard
from ui.status import device_status

NAVIGATION = (  # (path, label, icon)
    ("/", "Live", "videocam"),
    ("/cameras", "Cameras", "settings_input_antenna"),
    ("/events", "Events", "video_library"),
    ("/models", "Models", "psychology"),
    ("/health", "Health", "monitor_heart"),
    ("/activity", "Activity", "list_alt"),
    ("/users", "Users", "group"),  # admins only, with authentication on
)
SESSION_CHECK_S = 5.0  # a session ended elsewhere (sign-out, user removed) leaves this soon


@contextmanager
def page_frame(dash: Dashboard, title: str, active: str) -> Iterator[None]:
    """Header and content column for one page; the page builds its body inside."""
    ui.page_title(f"{title} · {dash.device_name}")
    ui.colors(primary="#0f766e")
    _dark_mode()
    with ui.header(elevated=True).classes("items-center gap-3 px-4 py-2 bg-slate-900"):
        _status_light(dash)
        ui.label(dash.device_name).classes("text-lg font-semibold text-white")
        ui.label("edge appliance").classes("text-xs text-slate-400 max-sm:hidden")
        ui.space()
        with ui.row().classes("gap-1 no-wrap"):
            for path, label, icon in _navigation(dash):
                button = ui.button(label, icon=icon, on_click=lambda p=path: ui.navigate.to(p))
                button.props("flat no-caps").classes("text-white max-md:[&_.block]:hidden")
                if path == active:
                    button.classes("bg-white/10")
                button.mark(f"nav-{label.lower()}")
        _dark_toggle()
        _account(dash)
    with ui.column().classes("w-full max-w-screen-2xl mx-auto p-4 gap-4"):
        if not dash.services.auth.enabled:
            _auth_off_banner()
        ui.label(title).classes("text-2xl font-semibold")
        yield


def _navigation(dash: Dashboard) -> list[tuple[str, str, str]]:
    users = dash.services.auth.enabled and session.can(dash, Scope.ADMIN)
    return [entry for entry in NAVIGATION if entry[0] != "/users" or users]


def _status_light(dash: Dashboard) -> None:
    light = ui.icon("circle", size="sm").classes("cursor-pointer").mark("status-light")
    with light:
        tip = ui.tooltip("")
    light.on("click", lambda: ui.navigate.to("/health"))

    def refresh() -> None:
        status = device_status(dash.services)
        light.props(f"color={status.color}")
        tip.set_text(status.summary)

    refresh()
    ui.timer(2.0, refresh)


def _dark_mode() -> None:
    ui.dark_mode().bind_value(app.storage.user, "dark")


def _dark_toggle() -> None:
    def toggle() -> None:
        # None (follow the system) counts as light: the first click goes dark
        app.storage.user["dark"] = not app.storage.user.get("dark")

    ui.button(icon="dark_mode", on_click=toggle).props("flat round color=white").tooltip(
        "Dark mode"
    ).mark("dark-toggle")


def _account(dash: Dashboard) -> None:
    signed = session.current(dash)
    if signed is None:
        return

    def sign_out() -> None:
        session.sign_out(dash)
        ui.navigate.to("/login")

    def still_signed_in() -> None:
        if session.current(dash) is None:  # signed out elsewhere, removed, new password...
            ui.navigate.to("/login")

    account = ui.button(icon="account_circle").props("flat round color=white").mark("account")
    with account, ui.menu():
        kind = "user" if signed.user else "token"
        ui.menu_item(f"{signed.name} ({signed.scope.label} {kind})").props("disable")
        if signed.user:
            change = ui.menu_item(
                "Change password", on_click=lambda: ui.navigate.to("/account/password")
            )
            change.mark("change-password-menu")
        ui.menu_item("Sign out", on_click=sign_out).mark("sign-out")
    ui.timer(SESSION_CHECK_S, still_signed_in)


def _auth_off_banner() -> None:
    banner = ui.card().classes("w-full bg-amber-100 text-amber-900 py-2").mark("auth-off")
    with banner, ui.row().classes("items-center gap-2"):
        ui.icon("lock_open", color="warning")
        ui.label(
            "Authentication is off (APPLIANCE_AUTH=0): anyone who can reach this address "
            "can watch and change the appliance."
        )

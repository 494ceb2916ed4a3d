"""Sign in with a token: the dashboard's only public page while authentication is on."""

from __future__ import annotations

from urllib.parse import urlsplit

from nicegui import ui

from appliance.errors import TooManyFailuresError
from ui import session
from ui.context import Dashboard


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def login_page(dash: Dashboard, next_path: str | None, problem: str | None = None) -> None:
    """`problem`: why a sign-in link was refused, shown above the token field."""
    ui.page_title(f"Sign in · {dash.device_name}")
    ui.colors(primary="#0f766e")
    with ui.column().classes("absolute-center items-center gap-4 w-[420px] max-w-full p-4"):
        ui.label(dash.device_name).classes("text-2xl font-semibold")
        with ui.card().classes("w-full gap-3"):
            ui.label("Sign in").classes("text-lg font-medium")
            if problem:
                again = "Run `appliance open` again, or paste a token."
                ui.label(f"{problem[:1].upper()}{problem[1:]}. {again}").classes(
                    "text-sm text-negative"
                ).mark("link-refused")
            token = ui.input("Access token", password=True, password_toggle_button=True)
            token.classes("w-full").props("autofocus").mark("token")
            ui.label(
                "On the device, `appliance token show` prints the first admin token; "
                "`appliance token create --scope viewer` makes one for watching only."
            ).classes("text-xs text-gray-500")

            def submit() -> None:
                try:
                    signed = session.sign_in(dash, token.value or "")
                except TooManyFailuresError as exc:
                    ui.notify(exc.message, type="negative")
                    return
                if signed is None:
                    ui.notify("That token is not valid (or was revoked)", type="negative")
                    return
                ui.navigate.to(safe_next(next_path))

            token.on("keydown.enter", submit)
            ui.button("Sign in", on_click=submit).classes("w-full").mark("sign-in")

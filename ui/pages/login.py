"""Sign in: the dashboard's only public page while authentication is on.

A name and a password (a dashboard user), or an API token (scripts, wall screens). Both are
plain HTML forms posting to /auth/session: only a real HTTP response can set the session
cookie, and browsers' password managers know what to do with a real form.
"""

from __future__ import annotations

from nicegui import ui

from appliance.auth.sessions import local_path
from ui.context import Dashboard

ERRORS = {  # ?error= set by POST /auth/session when it refuses
    "password": "Wrong name or password",  # the same words for an unknown name
    "token": "That token is not valid (or was revoked)",
    "throttled": "Too many failed sign-ins from here: wait a while and try again",
}


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    return local_path(target)


def login_page(
    dash: Dashboard, next_path: str | None, problem: str | None = None, error: str | None = None
) -> None:
    """`problem`: why a sign-in link was refused; `error`: why the form was (ERRORS)."""
    target = safe_next(next_path)
    ui.page_title(f"Sign in · {dash.device_name}")
    ui.colors(primary="#0f766e")
    with ui.column().classes("absolute-center items-center gap-4 w-[420px] max-w-full p-4"):
        ui.label(dash.device_name).classes("text-2xl font-semibold")
        with ui.card().classes("w-full gap-3"):
            ui.label("Sign in").classes("text-lg font-medium")
            if problem:
                again = "Run `appliance open` again, or sign in below."
                ui.label(f"{problem[:1].upper()}{problem[1:]}. {again}").classes(
                    "text-sm text-negative"
                ).mark("link-refused")
            if error in ERRORS:
                ui.label(ERRORS[error]).classes("text-sm text-negative").mark("sign-in-error")
            password_form = _password_form(target)
            token_form = _token_form(target)
            showing_token = error == "token"
            password_form.set_visibility(not showing_token)
            token_form.set_visibility(showing_token)

            def switch() -> None:
                token = not token_form.visible
                token_form.set_visibility(token)
                password_form.set_visibility(not token)
                toggle.set_text("Use a name and password instead" if token else TOKEN_TOGGLE)

            text = "Use a name and password instead" if showing_token else TOKEN_TOGGLE
            toggle = ui.button(text, on_click=switch).props("flat no-caps dense")
            toggle.classes("self-start text-sm").mark("use-token")


TOKEN_TOGGLE = "Use an API token instead"


def _form(target: str) -> ui.element:
    form = ui.element("form").props('method="post" action="/auth/session"')
    form.classes("w-full flex flex-col gap-3")
    with form:
        hidden = ui.element("input").props('type="hidden" name="next"')
        hidden.props["value"] = target
    return form


def _password_form(target: str) -> ui.element:
    with _form(target) as form:
        name = ui.input("Name").props('name="name" autocomplete="username" autofocus')
        name.classes("w-full").mark("name")
        password = ui.input("Password", password=True, password_toggle_button=True)
        password.props('name="password" autocomplete="current-password"')
        password.classes("w-full").mark("password")
        ui.button("Sign in").props('type="submit"').classes("w-full").mark("sign-in")
        ui.label(
            "On the device, `appliance user show-initial` prints the first password of "
            "the admin user."
        ).classes("text-xs text-gray-500")
    return form


def _token_form(target: str) -> ui.element:
    with _form(target) as form:
        token = ui.input("Access token", password=True, password_toggle_button=True)
        token.props('name="token" autocomplete="off"').classes("w-full").mark("token")
        ui.button("Sign in with the token").props('type="submit"').classes("w-full").mark(
            "token-sign-in"
        )
        ui.label(
            "`appliance token show` prints the first admin token; `appliance token create "
            "--scope viewer` makes one for watching only."
        ).classes("text-xs text-gray-500")
    return form

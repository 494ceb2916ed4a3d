"""Who is using the dashboard: the session cookie that the sign-in form's answer set
(POST /auth/session, or a one-time link at /login?code=), read from the page's own HTTP
request. The server keeps what it stands for (auth/sessions.py) and it is looked up again
on every page and action, so signing out, a removed user, a new password or role, or a
revoked token end the session at once. NiceGUI's own user storage keeps preferences only
(dark mode), never who is signed in."""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from appliance.auth.audit import Actor
from appliance.auth.scopes import Scope
from appliance.auth.sessions import COOKIE
from ui.context import Dashboard


@dataclass(frozen=True)
class Session:
    token_id: str  # the credential's id: a token's, or "user:<name>"
    name: str
    scope: Scope
    user: str | None = None  # signed in with a password as this user
    must_change: bool = False  # must choose a new password before anything else


def session_id() -> str | None:
    """The cookie's value, from the request that loaded this page."""
    try:
        return ui.context.client.request.cookies.get(COOKIE)
    except RuntimeError:  # no page request (a client built by hand)
        return None


def current(dash: Dashboard) -> Session | None:
    """The signed-in user or token, or None (always None while authentication is off)."""
    if not dash.services.auth.enabled:
        return None
    sid = session_id()
    signed = dash.services.auth.session(sid) if sid else None
    if signed is None:
        return None
    p = signed.principal
    return Session(p.token_id, p.name, p.scope, p.user, signed.must_change)


def signed_in(dash: Dashboard) -> bool:
    return not dash.services.auth.enabled or current(dash) is not None


def can(dash: Dashboard, scope: Scope) -> bool:
    if not dash.services.auth.enabled:
        return True
    session = current(dash)
    return session is not None and not session.must_change and session.scope >= scope


def ensure(dash: Dashboard, scope: Scope) -> bool:
    """For action handlers: True, or False after saying what is missing. The buttons are
    disabled already; this also stops a click forged over the page's socket."""
    if can(dash, scope):
        return True
    session = current(dash)
    who = f"{session.name} ({session.scope.label})" if session else "nobody (signed out)"
    ui.notify(f"This needs the {scope.label} scope; you are signed in as {who}", type="warning")
    return False


def sign_out(dash: Dashboard) -> None:
    """End the session on the server: its cookie is refused from now on, wherever it is."""
    sid = session_id()
    if sid:
        dash.services.auth.end_session(sid)


def client_address(dash: Dashboard) -> str:
    """The browser's address as throttling and audit see it (behind a trusted proxy, the
    one it forwarded), from the request that loaded this page."""
    try:
        request = ui.context.client.request
    except RuntimeError:  # no page request (a client built outside a page)
        return "-"
    return dash.services.auth.guard.client_address(request)


def actor(dash: Dashboard) -> Actor:
    """Who acts, for audit lines. Take it before the action's first await."""
    signed = current(dash)
    if signed is None:
        return Actor(client_address(dash))
    token_id = None if signed.user else signed.token_id
    return Actor(client_address(dash), token_id=token_id, user=signed.user)

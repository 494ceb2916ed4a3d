"""Who is using the dashboard: a token checked once at login, remembered in the browser's
server-side session (NiceGUI user storage, keyed by a cookie signed with the install's
secret). Only the token's id is kept, never the token, and it is looked up again on every
page and action, so a revoked token signs its sessions out at once."""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import app, ui

from appliance.auth.audit import Actor
from appliance.auth.scopes import Scope
from ui.context import Dashboard

SESSION_KEY = "auth"


@dataclass(frozen=True)
class Session:
    token_id: str
    name: str
    scope: Scope


def current(dash: Dashboard) -> Session | None:
    """The signed-in token, or None (always None while authentication is off)."""
    if not dash.services.auth.enabled:
        return None
    token_id = (app.storage.user.get(SESSION_KEY) or {}).get("token_id")
    if token_id is None:
        return None
    info = next((t for t in dash.services.auth.list() if t.id == token_id), None)
    if info is None:  # revoked since
        app.storage.user.pop(SESSION_KEY, None)
        return None
    return Session(info.id, info.name, info.scope)


def signed_in(dash: Dashboard) -> bool:
    return not dash.services.auth.enabled or current(dash) is not None


def can(dash: Dashboard, scope: Scope) -> bool:
    if not dash.services.auth.enabled:
        return True
    session = current(dash)
    return session is not None and session.scope >= scope


def ensure(dash: Dashboard, scope: Scope) -> bool:
    """For action handlers: True, or False after saying what is missing. The buttons are
    disabled already; this also stops a click forged over the page's socket."""
    if can(dash, scope):
        return True
    session = current(dash)
    who = f"{session.name} ({session.scope.label})" if session else "nobody (signed out)"
    ui.notify(f"This needs the {scope.label} scope; you are signed in as {who}", type="warning")
    return False


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
    return Actor(client_address(dash), token_id=signed.token_id if signed else None)


def sign_in(dash: Dashboard, token: str) -> Session | None:
    """TooManyFailuresError while this browser's address is locked out."""
    principal = dash.services.auth.sign_in(token, client_address(dash))
    if principal is None:
        return None
    app.storage.user[SESSION_KEY] = {"token_id": principal.token_id}
    return Session(principal.token_id, principal.name, principal.scope)


def sign_in_with_link(dash: Dashboard, code: str) -> Session:
    """Redeem a one-time sign-in code (`appliance open`'s link) exactly as a pasted token
    signs in; LoginLinkError says why a code is refused (used, expired, unknown),
    TooManyFailuresError that this address is locked out."""
    principal = dash.services.auth.redeem_login_link(code, client_address(dash))
    app.storage.user[SESSION_KEY] = {"token_id": principal.token_id}
    return Session(principal.token_id, principal.name, principal.scope)


def sign_out() -> None:
    app.storage.user.pop(SESSION_KEY, None)

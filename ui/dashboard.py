"""Mounts the NiceGUI dashboard on the service's FastAPI app and registers its pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.storage import Storage

from appliance.auth.login_links import LoginLinkError
from appliance.auth.sessions import COOKIE
from appliance.errors import TooManyFailuresError
from appliance.services.container import Services
from ui import session
from ui.context import Dashboard
from ui.pages.activity import activity_page
from ui.pages.camera import camera_page
from ui.pages.cameras import cameras_page
from ui.pages.events import events_page
from ui.pages.health import health_page
from ui.pages.live import live_page
from ui.pages.login import login_page, safe_next
from ui.pages.models import models_page
from ui.pages.password import password_page
from ui.pages.users import users_page

FAVICON = "🎯"


def setup_dashboard(
    app: FastAPI,
    services: Services,
    *,
    device_name: str,
    storage_secret: str,
    upload_dir: str,
    storage_dir: Path,
) -> None:
    """Register the pages and mount them at `/`. Call once per process (NiceGUI keeps its
    pages and its app in module state) and after every API route, which keeps precedence."""
    Storage.path = storage_dir  # per-user settings (dark mode) in the data dir, not the cwd
    dash = Dashboard(services=services, device_name=device_name, upload_dir=upload_dir)
    register_pages(dash)
    ui.run_with(
        app,
        title=device_name,
        favicon=FAVICON,
        dark=None,  # follow the system until the user picks
        storage_secret=storage_secret,
        show_welcome_message=False,
        reconnect_timeout=5.0,
    )


def register_pages(dash: Dashboard) -> None:
    def gate(path: str) -> RedirectResponse | None:
        """Signed-out visitors go to the login page (and come back afterwards); a user who
        owes a new password goes to that page first."""
        if not dash.services.auth.enabled:
            return None
        signed = session.current(dash)
        if signed is None:
            return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        if signed.must_change:
            return RedirectResponse(f"/account/password?next={quote(path)}", status_code=303)
        return None

    @ui.page("/login")
    def login(
        request: Request, next: str | None = None, code: str | None = None, error: str | None = None
    ) -> RedirectResponse | None:
        """?code=: a one-time sign-in link; redeemed, it goes on to `next` signed in (and
        the code leaves the address bar). Refused, the page says why. ?error=: why the
        sign-in form was refused (set by POST /auth/session)."""
        problem = None
        if code is not None and dash.services.auth.enabled:  # off: nobody needs to sign in
            try:
                return _redeem(dash, request, code, safe_next(next))
            except (LoginLinkError, TooManyFailuresError) as exc:
                problem = exc.message
        elif code is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        login_page(dash, next, problem, error)
        return None

    @ui.page("/account/password")
    def change_password(next: str | None = None) -> RedirectResponse | None:
        if not session.signed_in(dash):
            return RedirectResponse("/login?next=/account/password", status_code=303)
        password_page(dash, next)
        return None

    @ui.page("/users")
    def users() -> RedirectResponse | None:
        if redirect := gate("/users"):
            return redirect
        users_page(dash)
        return None

    @ui.page("/")
    def live() -> RedirectResponse | None:
        if redirect := gate("/"):
            return redirect
        live_page(dash)
        return None

    @ui.page("/cameras")
    def cameras() -> RedirectResponse | None:
        if redirect := gate("/cameras"):
            return redirect
        cameras_page(dash)
        return None

    @ui.page("/cameras/{camera_id}")
    async def camera(camera_id: str) -> RedirectResponse | None:
        if redirect := gate(f"/cameras/{camera_id}"):
            return redirect
        await camera_page(dash, camera_id)
        return None

    @ui.page("/models")
    async def models() -> RedirectResponse | None:
        if redirect := gate("/models"):
            return redirect
        await models_page(dash)
        return None

    @ui.page("/health")
    def health() -> RedirectResponse | None:
        if redirect := gate("/health"):
            return redirect
        health_page(dash)
        return None

    @ui.page("/events")
    async def events() -> RedirectResponse | None:
        if redirect := gate("/events"):
            return redirect
        await events_page(dash)
        return None

    @ui.page("/activity")
    def activity() -> RedirectResponse | None:
        if redirect := gate("/activity"):
            return redirect
        activity_page(dash)
        return None


def _redeem(dash: Dashboard, request: Request, code: str, target: str) -> RedirectResponse:
    """Sign this browser in as the link's token: a session and its cookie, exactly as the
    sign-in form gives (LoginLinkError when the code is used, expired or unknown)."""
    auth = dash.services.auth
    principal = auth.redeem_login_link(code, auth.guard.client_address(request))
    if old := request.cookies.get(COOKIE):
        auth.end_session(old)
    issued = auth.open_session(principal)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(**issued.cookie(secure=request.url.scheme == "https"))  # type: ignore[arg-type]
    return response
